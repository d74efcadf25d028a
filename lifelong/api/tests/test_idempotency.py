"""Idempotency-Key on writes: replays return the first response and do nothing twice."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, connections
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory

from lifelong.api.idempotency import idempotent
from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.commerce.models import Refund
from lifelong.customers.models import Customer
from lifelong.events.idempotency import idempotency_prune
from lifelong.events.models import Event, IdempotentRequest
from lifelong.factories import OrderFactory

pytestmark = pytest.mark.django_db

KEY = {"Idempotency-Key": "5b0c4c1e-1"}


def test_replay_returns_the_first_response_exactly(api, frozen_time):
    first = api.put("/customers/C1", {"first_name": "Анна"}, headers=KEY)
    assert first.status_code == 201
    events = Event.objects.count()
    frozen_time.shift(5)
    again = api.put("/customers/C1", {"first_name": "Анна"}, headers=KEY)
    assert again.status_code == 201  # the stored status, not the 200 a fresh upsert would give
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Event.objects.count() == events
    assert Customer.objects.count() == 1


def test_replayed_post_does_not_double_effects(api, frozen_time):
    order = OrderFactory(external_id="O1")
    body = {"external_id": "R1", "amount": "10.00"}
    first = api.post("/orders/O1/refunds", body, headers=KEY)
    assert first.status_code == 201
    assert api.post("/orders/O1/refunds", body, headers=KEY).content == first.content
    assert Refund.objects.filter(order=order).count() == 1
    event = {"type": "visit", "customer_external_id": "C9"}
    created = api.post("/events", event, headers={"Idempotency-Key": "e"})
    assert api.post("/events", event, headers={"Idempotency-Key": "e"}).json() == created.json()
    assert Event.objects.filter(type="visit").count() == 1


def test_same_key_with_another_body_is_422(api):
    api.put("/customers/C1", {"first_name": "Анна"}, headers=KEY)
    response = api.put("/customers/C1", {"first_name": "Ольга"}, headers=KEY)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "Idempotency-Key"
    assert Customer.objects.get().first_name == "Анна"
    # Another path with the same body is another request too.
    assert api.put("/customers/C2", {"first_name": "Анна"}, headers=KEY).status_code == 422


def test_keys_belong_to_one_api_key(api):
    api.put("/customers/C1", {"first_name": "Анна"}, headers=KEY)
    other = ApiClient(make_key(["customers:write"])[1])
    response = other.put("/customers/C1", {"first_name": "Ольга"}, headers=KEY)
    assert response.status_code == 200
    assert response.json()["first_name"] == "Ольга"


def test_validation_errors_are_replayed_too(api):
    first = api.put("/customers/C1", {"email": "x" * 300}, headers=KEY)
    assert first.status_code == 422
    assert api.put("/customers/C1", {"email": "x" * 300}, headers=KEY).content == first.content


def test_failures_keep_neither_the_work_nor_the_key(api_key):
    """The wrapper around any view: an exception or a 5xx rolls back the work and the claim."""
    _, secret = api_key
    outcomes = iter([RuntimeError("database went away"), HttpResponse(status=503)])

    def view(request):
        Customer.objects.create(external_id=f"C{Customer.objects.count()}")
        outcome = next(outcomes, None)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome or JsonResponse({"ok": True}, status=201)

    wrapped = idempotent("customers:write")(view)
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "retry-me"}

    def request():
        return RequestFactory().post("/x", "{}", content_type="application/json", headers=headers)

    with pytest.raises(RuntimeError):
        wrapped(request())
    assert not IdempotentRequest.objects.exists()
    assert wrapped(request()).status_code == 503
    assert not IdempotentRequest.objects.exists()
    assert not Customer.objects.exists()
    assert wrapped(request()).status_code == 201
    replay = wrapped(request())
    assert (replay.status_code, replay.content) == (201, b'{"ok": true}')
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["C0"]


def _database_url() -> str:
    """The test database as a LIFELONG_DATABASE_URL, for a process of its own."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgresql://{quote(db['USER'])}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


# A server process that claims the key, does its work and dies before answering.
_CRASHING_SERVER = """
import os
import django

django.setup()
from django.test import RequestFactory
from lifelong.api.idempotency import idempotent
from lifelong.customers.models import Customer


def view(request):
    Customer.objects.create(external_id="C1")
    os._exit(70)


headers = {"Authorization": "Bearer " + os.environ["SECRET"], "Idempotency-Key": "crash"}
request = RequestFactory().post("/x", "{}", content_type="application/json", headers=headers)
idempotent("customers:write")(view)(request)
"""


@pytest.mark.django_db(transaction=True)
def test_a_crash_mid_request_leaves_the_key_free_for_the_retry(api_key):
    _, secret = api_key
    env = {**os.environ, "LIFELONG_DATABASE_URL": _database_url(), "SECRET": secret}
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHING_SERVER], env=env, capture_output=True, timeout=60
    )
    assert crashed.returncode == 70, crashed.stderr.decode()
    assert not Customer.objects.exists()  # nothing of the request was committed

    def view(request):
        Customer.objects.create(external_id="C1")
        return JsonResponse({"ok": True}, status=201)

    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "crash"}
    retry = idempotent("customers:write")(view)(
        RequestFactory().post("/x", "{}", content_type="application/json", headers=headers)
    )
    assert retry.status_code == 201
    assert Customer.objects.count() == 1


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="SQLite queues the twin at BEGIN, where no lock view can show it waiting",
)
@pytest.mark.django_db(transaction=True)
def test_a_twin_waits_for_the_first_request_and_gets_its_response(api_key):
    """On PostgreSQL the twin blocks on the key's unique index, then replays the answer."""
    _, secret = api_key
    entered, release = threading.Event(), threading.Event()
    runs = []

    def view(request):
        runs.append(1)
        entered.set()
        assert release.wait(30)
        Customer.objects.create(external_id="C1")
        return JsonResponse({"ok": True}, status=201)

    wrapped = idempotent("customers:write")(view)
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "twin"}
    responses = {}

    def send(name):
        try:
            request = RequestFactory().post(
                "/x", "{}", content_type="application/json", headers=headers
            )
            responses[name] = wrapped(request)
        finally:
            connections.close_all()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert entered.wait(30)
    twin = threading.Thread(target=send, args=("twin",))
    twin.start()
    with connection.cursor() as cursor:
        # The twin's INSERT waits for the first request's transaction.
        for _ in range(300):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
            twin.join(0.1)
        else:
            pytest.fail("the twin never waited for the first request")
    release.set()
    first.join(30)
    twin.join(30)
    assert responses["first"].status_code == 201
    assert responses["twin"].status_code == 201
    assert responses["twin"].content == responses["first"].content
    assert responses["twin"]["Idempotent-Replayed"] == "true"
    assert len(runs) == 1
    assert Customer.objects.count() == 1


def test_overlong_key_is_422(api):
    response = api.put("/customers/C1", {}, headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 422
    assert not Customer.objects.exists()


def test_prune_forgets_keys_after_a_day(api, frozen_time):
    api.put("/customers/C1", {"first_name": "Анна"}, headers=KEY)
    frozen_time.shift(dt.timedelta(hours=23))
    assert idempotency_prune() == 0
    frozen_time.shift(dt.timedelta(hours=2))
    assert idempotency_prune() == 1
    # Forgotten: the key may now carry another request.
    assert api.put("/customers/C1", {"first_name": "Ольга"}, headers=KEY).status_code == 200
