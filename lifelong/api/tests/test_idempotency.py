"""Idempotency-Key on writes: replays return the first response and do nothing twice."""

from __future__ import annotations

import datetime as dt

import pytest
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


def test_key_still_in_flight_is_409(api, api_key):
    key, _ = api_key
    response = api.put("/customers/C1", {"first_name": "Анна"}, headers=KEY)
    row = IdempotentRequest.objects.get()
    # Pretend the first request is still running.
    IdempotentRequest.objects.filter(pk=row.pk).update(completed=False, status_code=None)
    response = api.put("/customers/C1", {"first_name": "Анна"}, headers=KEY)
    assert response.status_code == 409
    assert "in progress" in response.json()["detail"]
    assert row.api_key_id == key.pk


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


def test_failures_release_the_key_so_the_client_can_retry(api_key):
    """The wrapper around any view: an exception or a 5xx forgets the claim."""
    _, secret = api_key
    outcomes = iter([RuntimeError("database went away"), HttpResponse(status=503)])

    def view(request):
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
    assert wrapped(request()).status_code == 201
    replay = wrapped(request())
    assert (replay.status_code, replay.content) == (201, b'{"ok": true}')


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
