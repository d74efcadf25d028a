"""Orders, refunds and products through the HTTP API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lifelong.commerce.models import Order, OrderLine, Product
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db

ORDER = {
    "customer_external_id": "C1",
    "total": "2500.00",
    "placed_at": "2026-03-01T12:00:00+03:00",
    "lines": [
        {"sku": "MAT-1", "quantity": 2, "price": "1000.00", "name": "Коврик"},
        {"sku": "BLOCK", "quantity": 1, "price": "500.00"},
    ],
}


def test_put_order_creates_then_updates(api, frozen_time):
    customer = CustomerFactory(external_id="C1")
    ProductFactory(sku="MAT-1")
    response = api.put("/orders/O1", ORDER)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["customer_external_id"] == "C1"
    assert body["total"] == "2500.00"
    assert [(ln["sku"], ln["quantity"]) for ln in body["lines"]] == [("MAT-1", 2), ("BLOCK", 1)]
    assert OrderLine.objects.get(sku="MAT-1").product is not None

    paid = {**ORDER, "status": "paid", "paid_at": "2026-03-01T13:00:00+03:00"}
    response = api.put("/orders/O1", paid)
    assert response.status_code == 200
    assert response.json()["status"] == "paid"
    assert Event.objects.filter(customer=customer, type="order_paid").count() == 1
    assert api.put("/orders/O1", paid).status_code == 200
    assert Event.objects.filter(customer=customer, type="order_paid").count() == 1
    customer.refresh_from_db()
    assert (customer.orders_count, customer.total_spent) == (1, Decimal("2500.00"))
    assert api.get("/orders/O1").json() == api.put("/orders/O1", paid).json()


def test_unknown_customer_is_created_bare(api, frozen_time):
    assert api.put("/orders/O2", {**ORDER, "customer_external_id": "NEW"}).status_code == 201
    customer = Customer.objects.get(external_id="NEW")
    assert customer.orders_count == 1
    assert customer.first_name == ""


def test_failed_order_does_not_leave_a_bare_customer(api):
    OrderFactory(external_id="O3", total=Decimal("100"), refunded_total=Decimal("100"))
    response = api.put("/orders/O3", {**ORDER, "customer_external_id": "GHOST", "total": "10"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "total"
    assert not Customer.objects.filter(external_id="GHOST").exists()


def test_order_validation_names_nested_fields(api):
    bad = {**ORDER, "lines": [{"sku": "A", "quantity": 0, "price": "-1"}], "currency": "rub"}
    response = api.put("/orders/O1", bad)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["detail"]}
    assert fields == {"lines.0.quantity", "lines.0.price", "currency"}
    assert not Order.objects.exists()


def test_orders_list_pages_without_n_plus_one(api, django_assert_num_queries, frozen_time):
    api.get("/orders")
    for order in OrderFactory.create_batch(2):
        OrderLine.objects.create(order=order, sku="A", price=Decimal("1"))
    with django_assert_num_queries(3):  # key, page with customers, lines
        assert len(api.get("/orders").json()["items"]) == 2
    for order in OrderFactory.create_batch(15):
        OrderLine.objects.create(order=order, sku="A", price=Decimal("1"))
    with django_assert_num_queries(3):
        page = api.get("/orders", {"limit": 10}).json()
    assert len(page["items"]) == 10
    rest = api.get("/orders", {"after": page["next_after"]}).json()
    assert len(rest["items"]) == 7
    assert rest["next_after"] is None


def test_orders_list_filters_by_customer(api):
    mine = OrderFactory(customer=CustomerFactory(external_id="ME"))
    OrderFactory()
    items = api.get("/orders", {"customer_external_id": "ME"}).json()["items"]
    assert [o["id"] for o in items] == [mine.pk]


def test_refunds_create_replay_and_cap(api, frozen_time):
    OrderFactory(external_id="O1", total=Decimal("1000"))
    response = api.post(
        "/orders/O1/refunds", {"external_id": "R1", "amount": "400", "is_return": True}
    )
    assert response.status_code == 201, response.content
    assert response.json()["order_external_id"] == "O1"
    again = api.post("/orders/O1/refunds", {"external_id": "R1", "amount": "400"})
    assert again.status_code == 200
    too_much = api.post("/orders/O1/refunds", {"external_id": "R2", "amount": "700"})
    assert too_much.status_code == 422
    assert too_much.json()["detail"][0]["field"] == "amount"
    assert api.post("/orders/NOPE/refunds", {"external_id": "R3", "amount": "1"}).status_code == 404
    assert api.get("/orders/NOPE").status_code == 404


def test_refund_by_lines(api, frozen_time):
    CustomerFactory(external_id="C1")
    assert api.put("/orders/O1", ORDER).status_code == 201
    body = {"external_id": "R1", "amount": "1000", "lines": [{"sku": "MAT-1", "quantity": 1}]}
    response = api.post("/orders/O1/refunds", body)
    assert response.status_code == 201, response.content
    assert response.json()["lines"] == [{"sku": "MAT-1", "quantity": 1}]
    unknown = {"external_id": "R2", "amount": "1", "lines": [{"sku": "SOCKS", "quantity": 1}]}
    refused = api.post("/orders/O1/refunds", unknown)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "lines"


def test_products_upsert_and_list(api, django_assert_num_queries):
    body = {"name": "Коврик", "price": "1990.00", "category": "Коврики", "replenishment_days": 90}
    response = api.put("/products/MAT-1", body)
    assert response.status_code == 201, response.content
    assert response.json()["currency"] == "RUB"
    assert api.put("/products/MAT-1", {**body, "active": False}).status_code == 200
    assert Product.objects.get(sku="MAT-1").active is False
    ProductFactory.create_batch(3)
    api.get("/products")
    with django_assert_num_queries(2):  # key, page
        items = api.get("/products", {"active": "false"}).json()["items"]
    assert [p["sku"] for p in items] == ["MAT-1"]
    assert api.put("/products/MAT-1", {"name": ""}).status_code == 422
