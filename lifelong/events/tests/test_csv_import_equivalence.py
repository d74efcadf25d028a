"""The bulk CSV paths write what the per-row services write, and agree with the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.commerce.models import Order, OrderLine, OrderStatus
from lifelong.commerce.services import LineInput, order_upsert
from lifelong.customers.models import Customer, Tag
from lifelong.customers.services import customer_upsert
from lifelong.events.models import Event
from lifelong.events.tests.csv_helpers import MSK, counts, run
from lifelong.factories import CustomerFactory, ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]


def test_contradicting_rows_of_one_order_are_rejected(frozen_time):
    CustomerFactory(external_id="C-1")
    CustomerFactory(external_id="C-2")
    text = (
        "order_id,customer_id,placed_at,sku,price\n"
        "S-1,C-1,2025-01-01,A,10\n"
        "S-1,C-2,2025-01-01,B,20\n"
    )
    job = run("orders", text)

    assert counts(job) == (0, 0, 0, 2)
    assert job.errors[1]["row"] == 3 and "row 2" in job.errors[1]["reason"]
    assert not Order.objects.exists()


def test_import_matches_what_order_upsert_writes(frozen_time):
    """The bulk path and the per-row service give the same orders, lines, events and summaries."""
    customers = [CustomerFactory(external_id=f"C-{i}") for i in range(3)]
    ProductFactory(sku="MAT-1")
    t0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=MSK)
    rows = [
        ("O-1", 0, t0, OrderStatus.PLACED, [("MAT-1", 2, "1000.00"), ("BLK-1", 1, "350.00")]),
        ("O-2", 0, t0 + dt.timedelta(days=40), OrderStatus.PAID, [("MAT-1", 1, "990.00")]),
        ("O-3", 1, t0 + dt.timedelta(days=2), OrderStatus.CANCELLED, [("BLK-1", 3, "100.00")]),
        ("O-4", 2, t0 + dt.timedelta(days=5), OrderStatus.DELIVERED, []),
    ]
    for external_id, who, placed_at, status, lines in rows:
        total = sum((Decimal(p) * q for _s, q, p in lines), Decimal("0")) or Decimal("777.00")
        order_upsert(
            external_id=external_id,
            customer=customers[who],
            total=total,
            placed_at=placed_at,
            status=status,
            lines=[LineInput(sku=s, quantity=q, price=Decimal(p)) for s, q, p in lines] or None,
            source="csv",
        )
    expected = _snapshot()
    assert len(expected["events"]) == 7
    Event.objects.filter(type__startswith="order_").delete()
    Order.objects.all().delete()
    Customer.objects.update(orders_count=0, total_spent=0, first_order_at=None, last_order_at=None)

    out = ["order_id;customer_id;placed_at;status;sku;quantity;price;total"]
    for external_id, who, placed_at, status, lines in rows:
        when = placed_at.strftime("%d.%m.%Y %H:%M")
        for sku, quantity, price in lines or [("", "", "")]:
            total = "" if lines else "777,00"
            price_ru = price.replace(".", ",")
            out.append(
                f"{external_id};C-{who};{when};{status.value};{sku};{quantity};{price_ru};{total}"
            )
    job = run("orders", "\n".join(out) + "\n")

    assert job.rejected_rows == 0, job.errors
    assert _snapshot() == expected


def test_reimport_with_changes_matches_what_order_upsert_writes(frozen_time):
    """Changed lines, a status change, an order moved to another customer, an order given
    without lines, and an unchanged one: the same result as order_upsert, call by call."""
    customers = [CustomerFactory(external_id=f"C-{i}") for i in range(2)]
    ProductFactory(sku="MAT-1")
    t0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=MSK)
    when = t0.strftime("%d.%m.%Y %H:%M")
    mat2, blk = LineInput("MAT-1", 2, Decimal("1000.00")), LineInput("BLK-1", 1, Decimal("350.00"))
    mat1, blk3 = LineInput("MAT-1", 1, Decimal("990.00")), LineInput("BLK-1", 3, Decimal("100.00"))
    first = [
        ("O-1", 0, "2350.00", OrderStatus.PLACED, [mat2, blk], {}),
        ("O-2", 0, "990.00", OrderStatus.PAID, [mat1], {}),
        ("O-3", 1, "300.00", OrderStatus.PLACED, [blk3], {}),
        ("O-4", 1, "990.00", OrderStatus.PLACED, [mat1], {}),
    ]
    then = [
        ("O-1", 0, "3000.00", OrderStatus.PAID, [LineInput("MAT-1", 3, Decimal("1000.00"))], {}),
        ("O-2", 1, "990.00", OrderStatus.PAID, [mat1], {}),
        ("O-3", 1, "300.00", OrderStatus.DELIVERED, None, {"discount": "50", "coupon": "SALE"}),
        ("O-4", 1, "990.00", OrderStatus.PLACED, [mat1], {}),
    ]

    def upsert_all(rows) -> None:
        for external_id, who, total, status, lines, extra in rows:
            order_upsert(
                external_id=external_id,
                customer=customers[who],
                total=Decimal(total),
                placed_at=t0,
                status=status,
                discount=Decimal(extra.get("discount", "0")),
                coupon=extra.get("coupon", ""),
                lines=lines,
                source="csv",
            )

    def as_csv(rows) -> str:
        out = ["order_id;customer_id;placed_at;status;sku;quantity;price;total;discount;coupon"]
        for external_id, who, total, status, lines, extra in rows:
            head = f"{external_id};C-{who};{when};{status.value}"
            tail = (
                f"{total.replace('.', ',')};{extra.get('discount', '')};{extra.get('coupon', '')}"
            )
            for line in lines or [LineInput("", 0, Decimal("0"))]:
                cells = (line.sku, line.quantity, str(line.price)) if line.sku else ("", "", "")
                out.append(f"{head};{cells[0]};{cells[1]};{cells[2]};{tail}")
        return "\n".join(out) + "\n"

    upsert_all(first)
    frozen_time.shift(dt.timedelta(hours=1))
    upsert_all(then)
    expected = _snapshot()
    Event.objects.filter(type__startswith="order_").delete()
    Order.objects.all().delete()
    Customer.objects.update(orders_count=0, total_spent=0, first_order_at=None, last_order_at=None)
    frozen_time.shift(dt.timedelta(hours=-1))

    assert counts(run("orders", as_csv(first))) == (5, 0, 0, 0)
    frozen_time.shift(dt.timedelta(hours=1))
    job = run("orders", as_csv(then))

    assert counts(job) == (0, 3, 1, 0), job.errors
    assert _snapshot() == expected
    o3 = Event.objects.get(idempotency_key="order:O-3:delivered")
    assert o3.properties["skus"] == ["BLK-1"], "the stored lines, when the file gives none"


def _snapshot() -> dict[str, object]:
    external = dict(Order.objects.values_list("pk", "external_id"))
    events = []
    for event in Event.objects.filter(type__startswith="order_").order_by("idempotency_key"):
        properties = dict(event.properties)
        properties["order_id"] = external[properties["order_id"]]
        events.append(
            (
                event.customer_id,
                event.type,
                event.occurred_at,
                event.source,
                event.idempotency_key,
                properties,
            )
        )
    return {
        "orders": sorted(
            Order.objects.values_list(
                "external_id",
                "customer_id",
                "status",
                "placed_at",
                "total",
                "currency",
                "discount",
                "coupon",
                "channel",
                "paid_at",
                "delivered_at",
                "created_at",
                "updated_at",
            )
        ),
        "lines": sorted(
            OrderLine.objects.values_list(
                "order__external_id", "sku", "name", "quantity", "price", "product_id"
            )
        ),
        "events": events,
        "customers": sorted(
            Customer.objects.values_list(
                "pk", "orders_count", "total_spent", "first_order_at", "last_order_at"
            )
        ),
    }


def test_an_order_sent_by_the_api_is_not_recorded_twice(frozen_time):
    customer = CustomerFactory(external_id="C-1")
    order_upsert(
        external_id="W-1",
        customer=customer,
        total=Decimal("500.00"),
        placed_at=dt.datetime(2025, 1, 1, tzinfo=MSK),
    )
    text = "order_id,customer_id,placed_at,total,status\nW-1,C-1,01.01.2025,500,{status}\n"

    same = run("orders", text.format(status="placed"))
    paid = run("orders", text.format(status="paid"))

    assert counts(same) == (0, 0, 1, 0)
    assert counts(paid) == (0, 1, 0, 0)
    assert sorted(Event.objects.values_list("type", flat=True)) == ["order_paid", "order_placed"]


def test_orders_of_a_merged_customer_go_to_the_survivor(frozen_time):
    survivor = CustomerFactory(external_id="C-1")
    CustomerFactory(external_id="C-OLD", merged_into=survivor)
    job = run("orders", "order_id,customer_id,placed_at,total\nM-1,C-OLD,2025-01-01,100\n")

    assert counts(job) == (1, 0, 0, 0)
    assert Order.objects.get(external_id="M-1").customer == survivor
    survivor.refresh_from_db()
    assert survivor.orders_count == 1


CUSTOMER_ROW = st.tuples(
    st.sampled_from(["C-1", "C-2", "C-3"]),
    st.sampled_from(["", "Анна", "Ольга"]),
    st.sampled_from(["", "anna@example.ru", "olga@example.ru"]),
    st.lists(st.sampled_from(["VIP", "опт", "новый"]), max_size=2, unique=True),
    st.sampled_from(["", "Тверь", "Казань"]),
)


def _customers_state() -> dict[str | None, object]:
    customers: dict[str | None, object] = {}
    for customer in Customer.objects.order_by("external_id"):
        events = [
            (
                e.type,
                e.source,
                {
                    **e.properties["changes"],
                    "tags": sorted(e.properties["changes"].get("tags", [])),
                },
            )
            for e in customer.events.order_by("pk")
        ]
        customers[customer.external_id] = (
            customer.first_name,
            customer.email,
            customer.source,
            customer.attributes,
            sorted(customer.tags.values_list("name", flat=True)),
            events,
        )
    return customers


def _start_empty() -> None:
    Event.objects.all().delete()
    Customer.objects.all().delete()
    Tag.objects.all().delete()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(CUSTOMER_ROW, min_size=1, max_size=6))
def test_customer_import_writes_what_customer_upsert_writes(frozen_time, rows):
    """One matching rule and one way of applying a row, whether a file or the API sends it."""
    _start_empty()
    lines = ["Код клиента;Имя;E-mail;Теги;Город"]
    lines += [
        f"{key};{name};{email};{', '.join(tags)};{city}" for key, name, email, tags, city in rows
    ]
    job = run("customers", "\n".join(lines) + "\n")
    assert job.rejected_rows == 0, job.errors
    imported = _customers_state()

    _start_empty()
    for key, name, email, tags, city in rows:
        data = {field: value for field, value in (("first_name", name), ("email", email)) if value}
        customer_upsert(
            external_id=key,
            data=data,
            attributes={"Город": city} if city else None,
            tags=tags,
            source="csv",
        )
    assert imported == _customers_state()
