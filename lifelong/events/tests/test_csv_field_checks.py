"""The CSV import refuses a row for the same reasons the API refuses a request (one check per
field, events.field_limits): emails, birthdays, currencies and discounts."""

from __future__ import annotations

import pytest

from lifelong.commerce.models import Order, Product
from lifelong.customers.models import Customer
from lifelong.events.models import ImportJob
from lifelong.events.tests.csv_helpers import counts, run
from lifelong.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]


def rejected(job: ImportJob) -> dict[int, str]:
    return {e["row"]: e["column"] for e in job.errors}


@pytest.mark.parametrize(
    ("cells", "column"),
    [
        ("<olga@example.ru>;", "E-mail"),
        ("Ольга <olga@example.ru>;", "E-mail"),
        ("olga@example;", "E-mail"),
        ("olga@@example.ru;", "E-mail"),
        ("olga@example.ru;01.01.2199", "Дата рождения"),
    ],
)
def test_a_customer_with_an_impossible_email_or_birthday_is_rejected(frozen_time, cells, column):
    text = f"Код клиента;E-mail;Дата рождения\nC-1;anna@example.ru;07.03.1990\nC-2;{cells}\nC-3;;\n"
    job = run("customers", text)
    assert counts(job) == (2, 0, 0, 1)
    assert rejected(job) == {3: column}
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"C-1", "C-3"}


ORDERS = "order_id;customer_id;placed_at;sku;quantity;price;total;discount;currency\n"


def test_orders_in_another_currency_than_the_shops_are_rejected(frozen_time):
    CustomerFactory(external_id="C-1")
    text = (
        ORDERS
        + "O-1;C-1;2025-01-01 10:00;A;1;100;100;;RUB\n"
        + "O-2;C-1;2025-01-02 10:00;A;1;100;100;;USD\n"
        + "O-3;C-1;2025-01-03 10:00;A;1;100;100;;руб.\n"
    )
    job = run("orders", text)
    assert counts(job) == (2, 0, 0, 1)
    assert rejected(job) == {3: "currency"}
    assert set(Order.objects.values_list("external_id", flat=True)) == {"O-1", "O-3"}


def test_a_discount_larger_than_the_lines_is_rejected(frozen_time):
    CustomerFactory(external_id="C-1")
    text = (
        ORDERS
        + "O-1;C-1;2025-01-01 10:00;A;2;100;0;200;\n"
        + "O-2;C-1;2025-01-02 10:00;A;2;100;0;200.01;\n"
    )
    job = run("orders", text)
    assert counts(job) == (1, 0, 0, 1)
    assert rejected(job) == {3: "discount"}
    assert list(Order.objects.values_list("external_id", flat=True)) == ["O-1"]


def test_products_take_iso_currencies_only(frozen_time):
    text = "sku;name;price;currency\nA;Коврик;100;USD\nB;Блок;100;ZZZ\n"
    job = run("products", text)
    assert counts(job) == (1, 0, 0, 1)
    assert rejected(job) == {3: "currency"}
    assert Product.objects.get().currency == "USD"
