"""The card shows a short, bounded view of an event, however large its properties."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lifelong.accounts.models import Role
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.web.tests.conftest import logged_in, staff
from lifelong.web.timeline import MAX_DETAILS, MAX_TEXT, timeline_items


@pytest.mark.django_db
def test_an_unstyled_event_shows_its_first_properties_each_cut_short():
    customer = CustomerFactory.create()
    properties = {f"k{n:02}": "я" * 20_000 for n in range(40)}
    properties["k00"] = [[{"deep": "x" * 5000}] * 20] * 20
    event, _ = event_record(customer=customer, type="shop_sync", properties=properties)
    [item] = timeline_items([event], gender=customer.gender)
    assert len(item.details) == MAX_DETAILS
    assert [key for key, _value in item.details][:2] == ["k00", "k01"]
    assert all(len(value) <= MAX_TEXT + 1 for _key, value in item.details)
    assert item.details[0][1].startswith("deep: xxx")
    assert item.details[1][1].endswith("…")


@pytest.mark.django_db
def test_the_card_of_a_customer_with_huge_stored_events_stays_small():
    customer = CustomerFactory.create()
    for n in range(3):
        event_record(
            customer=customer, type="shop_sync", properties={"blob": "z" * 300_000, "n": n}
        )
    client = logged_in(staff(Role.OWNER))
    response = client.get(reverse("web:customer", kwargs={"pk": customer.pk}))
    assert response.status_code == 200
    assert len(response.content) < 100_000
