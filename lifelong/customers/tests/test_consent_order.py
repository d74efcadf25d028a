"""Consent's current state is the last recorded decision, whatever clock dated it.

A shop's server may run a few minutes ahead, an integration may send a date far in the
future, an import may send a grant dated years ago: none of it may keep marketing going
after the customer said no.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.accounts.models import ApiScope
from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.customers.models import Consent, Customer, Purpose
from lifelong.customers.selectors import consent_current
from lifelong.customers.services import (
    CONSENT_CLOCK_TOLERANCE,
    CustomerDataError,
    consent_record,
    customer_merge,
)
from lifelong.factories import CustomerFactory
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.gates import gates_apply
from lifelong.messaging.links import unsubscribe_url
from lifelong.messaging.models import ChannelConfig, Message, SendingPolicy, Status
from lifelong.messaging.services import channel_choose, message_enqueue
from lifelong.segments.rules import rules_compile, rules_parse
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db

EMAIL_MARKETING = ("email", Purpose.MARKETING)
CONSENT_RULE = rules_parse(
    {"op": "and", "rules": [{"kind": "consent", "channel": "email", "purpose": "marketing"}]}
)


@pytest.fixture
def api() -> ApiClient:
    return ApiClient(make_key(list(ApiScope.values))[1])


@pytest.fixture
def shop(api, frozen_time) -> Customer:
    assert api.put("/customers/S1", {"email": "olga@example.ru"}).status_code == 201
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    return Customer.objects.get(external_id="S1")


def _post_consent(api: ApiClient, granted: bool, at: dt.datetime | str | None = None):
    body: dict[str, object] = {"channel": "email", "purpose": "marketing", "granted": granted}
    if at is not None:
        body["at"] = at if isinstance(at, str) else at.isoformat()
    return api.post("/customers/S1/consents", body)


def _marketing(customer: Customer, key: str) -> Message:
    message, _created = message_enqueue(
        customer=customer, dedupe_key=key, channel="email", subject="Новинки", text="Смотрите!"
    )
    return message


def _readers(customer: Customer) -> dict[str, bool]:
    """What each reader of consent thinks of the customer's email marketing."""
    current = consent_current(customer).get(EMAIL_MARKETING)
    probe = Message(
        pk=0, customer_id=customer.pk, channel="email", purpose=Purpose.MARKETING, to="a@b.ru"
    )
    verdict = gates_apply(
        [probe],
        now=clock.now(),
        policy=SendingPolicy.current(),
        customers={customer.pk: customer},
        configs={c.channel: c for c in ChannelConfig.objects.filter(active=True)},
    )[0]
    segment = Customer.objects.filter(rules_compile(CONSENT_RULE, now=clock.now()))
    return {
        "selector": bool(current and current.granted),
        "gate": verdict.reason != "no marketing consent for this channel",
        "segment": segment.filter(pk=customer.pk).exists(),
        "channel_choose": channel_choose(customer=customer, purpose=Purpose.MARKETING) is not None,
    }


def test_api_refuses_a_consent_dated_in_the_future(api, shop):
    response = _post_consent(api, True, "2199-01-01T00:00:00Z")

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "at"
    assert "future" in error["msg"]
    beyond = clock.now() + CONSENT_CLOCK_TOLERANCE + dt.timedelta(seconds=1)
    assert _post_consent(api, False, beyond).status_code == 422
    assert not Consent.objects.exists()
    assert _post_consent(api, True, clock.now() + dt.timedelta(minutes=3)).status_code == 201


def test_withdrawal_after_a_grant_from_a_clock_running_ahead_stops_marketing(api, shop):
    assert _post_consent(api, True, clock.now() + dt.timedelta(minutes=3)).status_code == 201
    queued = _marketing(shop, "before")

    assert _post_consent(api, False, clock.now()).status_code == 201

    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED
    later = _marketing(shop, "after")
    dispatch_due()
    later.refresh_from_db()
    assert later.status == Status.CANCELLED
    assert later.last_error == "no marketing consent for this channel"
    assert set(_readers(shop).values()) == {False}


def test_staff_and_portal_withdrawals_beat_a_grant_dated_ahead(api, shop):
    assert _post_consent(api, True, clock.now() + dt.timedelta(minutes=3)).status_code == 201
    response = logged_in(staff("support")).post(
        reverse("web:consent_record", kwargs={"pk": shop.pk}),
        {"channel": "email", "purpose": "marketing", "granted": "0", "reason": "по телефону"},
    )
    assert response.status_code == 302
    assert set(_readers(shop).values()) == {False}

    assert _post_consent(api, True, clock.now() + dt.timedelta(minutes=4)).status_code == 201
    assert set(_readers(shop).values()) == {True}
    response = Client().post(
        unsubscribe_url(customer_id=shop.pk, channel="email"),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert set(_readers(shop).values()) == {False}


def test_a_backdated_grant_cannot_undo_a_later_withdrawal(api, shop):
    assert _post_consent(api, False, clock.now() - dt.timedelta(days=2)).status_code == 201

    response = _post_consent(api, True, clock.now() - dt.timedelta(days=30))

    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "at"
    assert Consent.objects.filter(granted=True).count() == 0
    # Dated after the withdrawal, a grant is a new decision.
    assert _post_consent(api, True, clock.now() - dt.timedelta(days=1)).status_code == 201
    assert set(_readers(shop).values()) == {True}


def test_merge_keeps_a_withdrawal_that_a_duplicates_backdated_grant_would_undo(frozen_time, owner):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    primary, duplicate = CustomerFactory(), CustomerFactory()
    said_no = clock.now() - dt.timedelta(days=10)
    consent_record(
        customer=primary,
        channel="email",
        purpose="marketing",
        granted=False,
        source="x",
        at=said_no,
    )
    # Imported later, dated a year earlier: on the duplicate nothing refused it.
    consent_record(
        customer=duplicate,
        channel="email",
        purpose="marketing",
        granted=True,
        source="csv",
        at=clock.now() - dt.timedelta(days=365),
    )

    merged = customer_merge(primary=primary, duplicate=duplicate, actor=owner)

    assert set(_readers(merged).values()) == {False}
    current = consent_current(merged)[EMAIL_MARKETING]
    assert (current.granted, current.at, current.source) == (False, said_no, "merge")


# One step: (granted, offset of `at` from now in seconds or None for "now", minutes the clock
# moves before the step). Offsets reach past the tolerance on both sides.
STEPS = st.lists(
    st.tuples(
        st.booleans(),
        st.none() | st.integers(min_value=-3 * 86400, max_value=10 * 60),
        st.integers(min_value=0, max_value=10),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_every_reader_sees_the_last_recorded_decision(frozen_time, steps):
    ChannelConfig.objects.update_or_create(
        channel="email", defaults={"transport": "sandbox", "active": True}
    )
    customer = CustomerFactory()
    last: bool | None = None
    latest_no: dt.datetime | None = None
    for granted, offset, minutes in steps:
        frozen_time.shift(dt.timedelta(minutes=minutes))
        now = clock.now()
        at = None if offset is None else now + dt.timedelta(seconds=offset)
        dated = at or now
        refused = dated > now + CONSENT_CLOCK_TOLERANCE or (
            granted
            and latest_no is not None
            and dated < min(latest_no, now) - CONSENT_CLOCK_TOLERANCE
        )
        decision = {
            "customer": customer,
            "channel": "email",
            "purpose": "marketing",
            "granted": granted,
            "source": "test",
            "at": at,
        }
        if refused:
            with pytest.raises(CustomerDataError) as refusal:
                consent_record(**decision)
            assert refusal.value.field == "at"
            continue
        consent_record(**decision)
        last = granted
        if not granted:
            latest_no = dated if latest_no is None else max(latest_no, dated)
        assert set(_readers(customer).values()) == {bool(last)}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backdated_grant_waits_for_a_withdrawal_being_recorded():
    """The grant is checked against the withdrawal committed while it waited, not before."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time; the race needs PostgreSQL")
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    customer = CustomerFactory()
    recorded, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def withdraw() -> None:
        with transaction.atomic():
            consent_record(
                customer=customer, channel="email", purpose="marketing", granted=False, source="a"
            )
            recorded.set()
            release.wait(30)
        connection.close()

    def grant() -> None:
        try:
            consent_record(
                customer=customer,
                channel="email",
                purpose="marketing",
                granted=True,
                source="csv",
                at=clock.now() - dt.timedelta(days=30),
            )
            outcome["grant"] = "recorded"
        except CustomerDataError as exc:
            outcome["grant"] = exc.field
        finally:
            connection.close()

    first = threading.Thread(target=withdraw)
    first.start()
    assert recorded.wait(30)
    second = threading.Thread(target=grant)
    second.start()
    # Let the grant run until it waits on a lock (or, without one, finishes unchecked).
    for _ in range(300):
        if not second.is_alive() or _someone_waits_on_a_lock():
            break
        time.sleep(0.01)
    release.set()
    first.join(30)
    second.join(30)

    assert outcome == {"grant": "at"}
    assert set(_readers(customer).values()) == {False}


def _someone_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (waiting,) = cursor.fetchone()
    return bool(waiting)
