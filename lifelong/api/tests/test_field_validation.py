"""Nonsense is refused at the door with 422 naming the field, the same way through the REST
API and the signed webhooks: emails, birthdays, order dates, currencies, discounts and
product names are checked by events.field_limits, which the CSV import calls too."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lifelong.api.tests.test_webhooks import deliver, source  # noqa: F401 (fixture)
from lifelong.commerce.models import Order, Product
from lifelong.customers.models import Customer

pytestmark = pytest.mark.django_db

BAD_EMAILS = [
    "a@@b",
    "a@",
    "<a@b.ru>",
    "Анна <a@b.ru>",
    "a@b.ru,c@d.ru",
    "a@b.ru\r\nbcc: victim@d.ru",
    "a b@c.ru",
    "a@localhost",
]
ORDER = {"customer_external_id": "C1", "total": "1500.00", "placed_at": "2026-03-01T12:00:00+03:00"}
LINES = [{"sku": "MAT-1", "quantity": 2, "price": "1000.00"}]


def _fields(response) -> list[str]:
    assert response.status_code == 422, response.content
    return [error["field"] for error in response.json()["detail"]]


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_anything_but_one_plain_email_address_is_refused(api, email, frozen_time):
    assert _fields(api.put("/customers/C1", {"email": email})) == ["email"]
    assert not Customer.objects.exists()


@pytest.mark.parametrize("email", BAD_EMAILS[:3] + BAD_EMAILS[5:6])
def test_webhooks_refuse_the_same_emails(source, email, frozen_time):  # noqa: F811
    message = {"type": "customer.upsert", "data": {"external_id": "C1", "email": email}}
    assert _fields(deliver(message)) == ["email"]
    assert not Customer.objects.exists()


def test_a_plain_address_is_kept_in_lower_case(api, frozen_time):
    response = api.put("/customers/C1", {"email": " Anna.P+shop@Mail.Example.RU "})
    assert response.status_code == 201
    assert response.json()["email"] == "anna.p+shop@mail.example.ru"


@pytest.mark.parametrize("birthday", ["2199-01-01", "2026-03-03", "1899-12-31"])
def test_birthdays_run_from_1900_to_today(api, birthday, frozen_time):
    assert _fields(api.put("/customers/C1", {"birthday": birthday})) == ["birthday"]
    assert api.put("/customers/C1", {"birthday": "2026-03-02"}).status_code == 201


@pytest.mark.parametrize(
    ("field", "moment"),
    [
        ("placed_at", "2199-12-31T12:00:00+03:00"),
        ("placed_at", "1900-01-01T12:00:00+03:00"),
        ("placed_at", "1989-12-31T20:00:00+00:00"),
        ("placed_at", "2026-03-03T11:00:00+00:00"),  # more than a day ahead
        ("paid_at", "2199-12-31T12:00:00+03:00"),
        ("delivered_at", "1950-01-01T12:00:00+03:00"),
    ],
)
def test_orders_are_dated_from_1990_to_a_day_ahead(api, field, moment, frozen_time):
    assert _fields(api.put("/orders/O1", {**ORDER, field: moment})) == [field]
    assert not Order.objects.exists()
    assert not Customer.objects.exists()
    tomorrow = {**ORDER, "placed_at": "2026-03-03T09:00:00+00:00"}
    assert api.put("/orders/O1", tomorrow).status_code == 201
    assert api.get("/customers/C1").json()["last_order_at"] == "2026-03-03T09:00:00Z"


@pytest.mark.parametrize("currency", ["USD", "EUR", "ZZZ", "XXX", "RUR"])
def test_orders_in_another_currency_than_the_shops_are_refused(api, currency, frozen_time):
    assert _fields(api.put("/orders/O1", {**ORDER, "currency": currency})) == ["currency"]
    assert api.put("/orders/O1", {**ORDER, "currency": "RUB"}).status_code == 201
    assert Customer.objects.get().total_spent == Decimal("1500.00")


def test_the_shops_currency_is_a_setting(api, settings, frozen_time):
    settings.DEFAULT_CURRENCY = "KZT"
    assert _fields(api.put("/orders/O1", {**ORDER, "currency": "RUB"})) == ["currency"]
    response = api.put("/orders/O1", ORDER)
    assert response.status_code == 201 and response.json()["currency"] == "KZT"


def test_webhooks_refuse_other_currencies_and_impossible_dates(source, frozen_time):  # noqa: F811
    order = {"type": "order.upsert", "data": {**ORDER, "external_id": "O1", "currency": "USD"}}
    assert _fields(deliver(order, webhook_id="m1")) == ["currency"]
    order["data"] = {**ORDER, "external_id": "O1", "placed_at": "2199-01-01T00:00:00Z"}
    assert _fields(deliver(order, webhook_id="m2")) == ["placed_at"]
    assert not Order.objects.exists()


def test_products_take_iso_currencies_only(api):
    body = {"name": "Коврик", "price": "10.00"}
    assert _fields(api.put("/products/MAT-1", {**body, "currency": "ZZZ"})) == ["currency"]
    assert api.put("/products/MAT-1", {**body, "currency": "USD"}).status_code == 201


def test_a_discount_larger_than_the_lines_is_refused(api, frozen_time):
    bad = {**ORDER, "total": "0.00", "discount": "2000.01", "lines": LINES}
    assert _fields(api.put("/orders/O1", bad)) == ["discount"]
    assert not Order.objects.exists()
    whole = {**ORDER, "total": "0.00", "discount": "2000.00", "lines": LINES}
    assert api.put("/orders/O1", whole).status_code == 201


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "\u00a0"])
def test_a_product_needs_a_name(api, name):
    assert _fields(api.put("/products/MAT-1", {"name": name})) == ["name"]
    assert not Product.objects.exists()
    response = api.put("/products/MAT-1", {"name": "  Коврик  "})
    assert response.status_code == 201 and response.json()["name"] == "Коврик"
