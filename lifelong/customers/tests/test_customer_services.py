"""Customer upsert, consent history, notes, facts and merge through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong.accounts.models import AuditLog
from lifelong.commerce.services import order_upsert
from lifelong.customers.models import Consent, Customer
from lifelong.customers.selectors import consent_current
from lifelong.customers.services import (
    CustomerDataError,
    consent_record,
    customer_merge,
    customer_upsert,
    fact_add,
    note_add,
)
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_upsert_normalises_and_replay_changes_nothing(frozen_time):
    data = {"first_name": " Ольга ", "email": "Olga@Example.RU", "phone": "8 (916) 123-45-67"}
    customer, created = customer_upsert(external_id="X1", data=data, tags=["йога"])
    assert created
    assert (customer.first_name, customer.email, customer.phone) == (
        "Ольга",
        "olga@example.ru",
        "+79161234567",
    )
    events = Event.objects.count()
    again, created = customer_upsert(external_id="X1", data=data, tags=["йога"])
    assert not created and again.pk == customer.pk
    assert Event.objects.count() == events

    customer_upsert(external_id="X1", data={"last_name": "Петрова"}, attributes={"city": "Казань"})
    customer.refresh_from_db()
    assert customer.last_name == "Петрова"
    assert customer.first_name == "Ольга"
    assert customer.attributes == {"city": "Казань"}
    assert Event.objects.filter(customer=customer, type="customer_updated").count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", "12345"), ("email", "not an email"), ("gender", "x"), ("time_zone", "Mars/Olympus")],
)
def test_upsert_rejects_bad_fields_and_writes_nothing(field, value):
    with pytest.raises(CustomerDataError) as err:
        customer_upsert(external_id="BAD", data={field: value})
    assert err.value.field == field
    assert not Customer.objects.filter(external_id="BAD").exists()


def test_consent_history_is_kept_and_latest_wins(frozen_time):
    customer = CustomerFactory()
    consent_record(
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=True,
        source="checkout",
        ip="10.0.0.1",
        form="checkout-v2",
        text_version="2025-01",
    )
    frozen_time.shift(dt.timedelta(days=3))
    consent_record(
        customer=customer, channel="email", purpose="marketing", granted=False, source="unsubscribe"
    )
    assert Consent.objects.filter(customer=customer).count() == 2
    current = consent_current(customer)
    assert not current[("email", "marketing")].granted
    assert current[("email", "marketing")].source == "unsubscribe"
    types = set(Event.objects.filter(customer=customer).values_list("type", flat=True))
    assert {"consent_granted", "consent_withdrawn"} <= types
    with pytest.raises(CustomerDataError):
        consent_record(
            customer=customer, channel="pigeon", purpose="marketing", granted=True, source="x"
        )


def test_notes_and_facts_land_on_the_timeline(owner):
    customer = CustomerFactory()
    note_add(customer=customer, author=owner, text="Просила перезвонить после 18:00")
    fact_add(customer=customer, author=owner, text="попугай Кеша", category="питомцы")
    assert list(customer.events.values_list("type", flat=True).order_by("id")) == [
        "note_added",
        "fact_added",
    ]
    with pytest.raises(CustomerDataError):
        note_add(customer=customer, author=owner, text="   ")


def test_merge_keeps_all_history_and_redirects_external_id(owner, frozen_time):
    primary = CustomerFactory(phone="", birthday=None)
    duplicate = CustomerFactory(phone="+79991112233", birthday=dt.date(1990, 5, 17))
    t0 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    order_upsert(external_id="P-1", customer=primary, total=Decimal("100"), placed_at=t0)
    order_upsert(external_id="D-1", customer=duplicate, total=Decimal("250"), placed_at=t0)
    consent_record(customer=duplicate, channel="sms", purpose="marketing", granted=True, source="x")
    note_add(customer=duplicate, author=owner, text="дубль из офлайна")
    TaskFactory(customer=duplicate)
    duplicate_events = duplicate.events.count()
    primary_events = primary.events.count()

    merged = customer_merge(primary=primary, duplicate=duplicate, actor=owner)

    assert merged.phone == "+79991112233"
    assert merged.birthday == dt.date(1990, 5, 17)
    assert (merged.orders_count, merged.total_spent) == (2, Decimal("350.00"))
    assert merged.events.count() == primary_events + duplicate_events + 1
    assert merged.consents.count() == 1 and merged.notes.count() == 1 and merged.tasks.count() == 1
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == merged.pk
    assert list(Customer.objects.live()) == [merged]
    assert duplicate.orders_count == 0
    assert AuditLog.objects.filter(action="customer.merge", actor=owner).exists()

    # The duplicate's external id now resolves to the survivor.
    survivor, created = customer_upsert(
        external_id=duplicate.external_id, data={"first_name": "Ира"}
    )
    assert not created and survivor.pk == merged.pk
    with pytest.raises(CustomerDataError):
        customer_merge(primary=merged, duplicate=duplicate, actor=owner)
