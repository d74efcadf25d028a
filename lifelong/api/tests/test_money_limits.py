"""A customer's spend is the sum of their orders and must fit its column: orders, status
changes, moves and merges that would overflow it are refused with 422, never stored."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.commerce.models import Order
from lifelong.conftest import client_for
from lifelong.customers.models import Customer

pytestmark = pytest.mark.django_db

LARGEST = "999999999999.99"
ORDER = {"customer_external_id": "C1", "total": LARGEST, "placed_at": "2026-03-01T12:00:00+03:00"}


def _spent(external_id: str = "C1") -> Decimal:
    return Customer.objects.get(external_id=external_id).total_spent


def test_an_order_that_would_overflow_the_customers_spend_is_refused(api, owner, frozen_time):
    assert api.put("/orders/O1", ORDER).status_code == 201
    response = api.put("/orders/O2", {**ORDER, "total": "1.00"})
    assert response.status_code == 422, response.content
    [error] = response.json()["detail"]
    assert error["field"] == "total"
    assert "999 999 999 999.99" in error["msg"]
    assert not Order.objects.filter(external_id="O2").exists()
    assert _spent() == Decimal(LARGEST)
    # Every page that shows the spend still answers.
    assert api.get("/customers/C1").json()["total_spent"] == LARGEST
    staff = client_for(owner)
    for url in ("/customers/", "/tasks/no-next-step/", "/customers/export.csv"):
        assert staff.get(url).status_code == 200, url


def test_replacing_an_order_counts_its_new_total_only(api, frozen_time):
    assert api.put("/orders/O1", {**ORDER, "total": "999999999999.00"}).status_code == 201
    assert api.put("/orders/O1", ORDER).status_code == 200
    assert _spent() == Decimal(LARGEST)


def test_uncounted_orders_may_exist_but_not_come_back_beyond_the_limit(api, frozen_time):
    assert api.put("/orders/O1", ORDER).status_code == 201
    cancelled = {**ORDER, "total": "5.00", "status": "cancelled"}
    assert api.put("/orders/O2", cancelled).status_code == 201
    response = api.put("/orders/O2", {**cancelled, "status": "paid"})
    assert response.status_code == 422
    assert Order.objects.get(external_id="O2").status == "cancelled"
    assert _spent() == Decimal(LARGEST)


def test_moving_an_order_to_a_customer_without_room_is_refused(api, frozen_time):
    assert api.put("/orders/O1", ORDER).status_code == 201
    assert (
        api.put("/orders/O2", {**ORDER, "customer_external_id": "C2", "total": "7"}).status_code
        == 201
    )
    response = api.put("/orders/O2", {**ORDER, "total": "7"})
    assert response.status_code == 422
    assert (_spent("C1"), _spent("C2")) == (Decimal(LARGEST), Decimal("7"))


def test_a_refund_makes_room(api, frozen_time):
    assert api.put("/orders/O1", ORDER).status_code == 201
    refund = {"external_id": "R1", "amount": "100.00"}
    assert api.post("/orders/O1/refunds", refund).status_code == 201
    assert api.put("/orders/O2", {**ORDER, "total": "100.00"}).status_code == 201
    assert _spent() == Decimal(LARGEST)


def test_a_merge_whose_spend_would_overflow_is_refused(api, frozen_time):
    half = "600000000000.00"
    assert api.put("/orders/O1", {**ORDER, "total": half}).status_code == 201
    assert (
        api.put("/orders/O2", {**ORDER, "customer_external_id": "C2", "total": half}).status_code
        == 201
    )
    response = api.post("/customers/merge", {"primary": "C1", "duplicate": "C2"})
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["field"] == "duplicate"
    assert Customer.objects.get(external_id="C2").merged_into is None
    assert (_spent("C1"), _spent("C2")) == (Decimal(half), Decimal(half))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    totals=st.lists(
        st.decimals(min_value=0, max_value=Decimal(LARGEST), places=2), min_size=1, max_size=4
    )
)
def test_the_stored_spend_is_always_the_exact_sum_of_the_accepted_orders(api, totals):
    Order.objects.all().delete()
    Customer.objects.all().delete()
    accepted = Decimal(0)
    for n, total in enumerate(totals):
        response = api.put(f"/orders/H{n}", {**ORDER, "total": str(total)})
        if accepted + total <= Decimal(LARGEST):
            assert response.status_code == 201, response.content
            accepted += total
        else:
            assert response.status_code == 422, response.content
    assert _spent() == accepted
    assert api.get("/customers/C1").json()["total_spent"] == f"{accepted:.2f}"
