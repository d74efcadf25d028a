"""CSV import of customers, orders and products: formats, validation, idempotency."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest

from lifelong.commerce.models import Order, OrderLine, OrderStatus, Product
from lifelong.customers.models import Customer, Gender
from lifelong.events.csv_import import (
    ImportFileError,
    import_job_create,
    import_report_csv,
)
from lifelong.events.models import Event, ImportJob, ImportStatus
from lifelong.events.tests.csv_helpers import CUSTOMERS_RU, MSK, ORDERS, counts, run
from lifelong.factories import CustomerFactory, ProductFactory
from lifelong.segments.models import SegmentMembership
from lifelong.segments.services import segment_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]


def test_windows_1251_semicolon_file_with_russian_headers_imports(frozen_time):
    job = run("customers", CUSTOMERS_RU, encoding="cp1251")

    assert job.status == ImportStatus.DONE, job.message
    assert counts(job) == (2, 0, 0, 0)
    olga = Customer.objects.get(external_id="C-1")
    assert (olga.last_name, olga.first_name, olga.patronymic) == ("Петрова", "Ольга", "Игоревна")
    assert olga.phone == "+79161234567"
    assert olga.email == "olga@example.ru"
    assert olga.gender == Gender.FEMALE
    assert olga.birthday == dt.date(1990, 3, 7)
    assert olga.attributes == {"Город": "Тверь"}
    assert set(olga.tags.values_list("name", flat=True)) == {"VIP", "опт"}
    assert olga.source == "csv"
    ivan = Customer.objects.get(external_id="C-2")
    assert (ivan.gender, ivan.phone, ivan.email) == (Gender.MALE, "+79037654321", "")
    created = Event.objects.get(customer=olga, type="customer_created")
    assert created.properties["changes"]["birthday"] == "1990-03-07"
    assert created.properties["changes"]["tags"] == ["VIP", "опт"]
    assert not Path(job.file_path).exists(), "the stored upload is removed once the job ends"


def test_utf8_bom_file_with_decimal_commas_and_russian_dates(frozen_time):
    run("customers", CUSTOMERS_RU)
    ProductFactory(sku="MAT-1")
    job = run("orders", "\ufeff" + ORDERS)

    assert job.status == ImportStatus.DONE, job.message
    assert counts(job) == (3, 0, 0, 0)
    first = Order.objects.get(external_id="A-1")
    assert first.total == Decimal("2500.50")
    assert first.placed_at == dt.datetime(2024, 12, 31, 14, 30, tzinfo=MSK)
    assert first.status == OrderStatus.PAID
    lines = list(first.lines.order_by("pk").values_list("sku", "quantity", "price", "product__sku"))
    assert lines == [
        ("MAT-1", 2, Decimal("1000.00"), "MAT-1"),
        ("BLK-1", 1, Decimal("500.50"), None),
    ]
    second = Order.objects.get(external_id="A-2")
    # No total in the file: the lines add up to it.
    assert (second.total, second.status) == (Decimal("990.00"), OrderStatus.PLACED)
    assert second.placed_at == dt.datetime(2025, 1, 15, tzinfo=MSK)
    olga = Customer.objects.get(external_id="C-1")
    assert (olga.orders_count, olga.total_spent) == (1, Decimal("2500.50"))
    assert set(Event.objects.filter(customer=olga).values_list("type", flat=True)) == {
        "customer_created",
        "order_placed",
        "order_paid",
    }


def test_half_bad_file_lands_good_rows_and_reports_every_bad_row(frozen_time):
    CustomerFactory(external_id="C-1")
    text = (
        "order_id;customer_id;placed_at;sku;quantity;price;total\n"
        "G-1;C-1;2025-02-01;MAT-1;1;100;100\n"  # 2 good
        "B-1;C-1;2025-02-01;MAT-1;1;100;300\n"  # 3 order with one bad line
        "B-1;C-1;2025-02-01;BLK-1;0;100;300\n"  # 4 quantity 0
        "B-2;NOBODY;2025-02-01;MAT-1;1;100;100\n"  # 5 unknown customer
        "B-3;C-1;31.02.2025;MAT-1;1;100;100\n"  # 6 bad date
        "B-4;C-1;2025-02-01;MAT-1;1;100;-100\n"  # 7 negative total
        ";C-1;2025-02-01;MAT-1;1;100;100\n"  # 8 no order number
        "G-2;C-1;2025-02-02;;;;250,5\n"  # 9 good, total only
        "B-5;C-1;;MAT-1;1;100;100\n"  # 10 no date
    )
    job = run("orders", text)

    assert job.status == ImportStatus.DONE
    assert counts(job) == (2, 0, 0, 7)
    assert set(Order.objects.values_list("external_id", flat=True)) == {"G-1", "G-2"}
    assert not OrderLine.objects.filter(sku="BLK-1").exists()
    assert not Event.objects.filter(properties__external_id__startswith="B-").exists()
    reasons = {e["row"]: (e["column"], e["reason"]) for e in job.errors}
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 10}
    assert reasons[4][0] == "quantity" and "positive" in reasons[4][1]
    assert "row 4" in reasons[3][1], "the good line of a rejected order points at the bad one"
    assert reasons[5][0] == "customer_id" and "NOBODY" in reasons[5][1]
    assert reasons[6][0] == "placed_at" and "31.02.2025" in reasons[6][1]
    assert reasons[7][0] == "total" and "negative" in reasons[7][1]
    assert reasons[8][0] == "order_id"
    assert reasons[10][0] == "placed_at"
    customer = Customer.objects.get(external_id="C-1")
    assert (customer.orders_count, customer.total_spent) == (2, Decimal("350.50"))


def test_bad_customer_rows_are_reported_with_reasons(frozen_time):
    text = (
        "ID,Имя,Телефон,Email,Пол,Дата рождения\n"
        "K-1,Анна,+79161234567,anna@example.ru,ж,01.01.1990\n"
        "K-2,Борис,12345,,м,\n"
        "K-3,Вера,,vera@,ж,\n"
        "K-4,Гоша,,,x,\n"
        "K-5,Дина,,,ж,40.01.1990\n"
    )
    job = run("customers", text)

    assert counts(job) == (1, 0, 0, 4)
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["K-1"]
    assert [(e["row"], e["column"]) for e in job.errors] == [
        (3, "Телефон"),
        (4, "Email"),
        (5, "Пол"),
        (6, "Дата рождения"),
    ]


def test_reimporting_the_same_files_changes_nothing(frozen_time):
    run("customers", CUSTOMERS_RU)
    run("orders", ORDERS)
    events = Event.objects.count()
    updated_at = dict(Order.objects.values_list("external_id", "updated_at"))
    frozen_time.shift(dt.timedelta(hours=1))

    again_customers = run("customers", CUSTOMERS_RU, encoding="cp1251")
    again_orders = run("orders", "\ufeff" + ORDERS)

    assert counts(again_customers) == (0, 0, 2, 0)
    assert counts(again_orders) == (0, 0, 3, 0)
    assert Event.objects.count() == events
    assert dict(Order.objects.values_list("external_id", "updated_at")) == updated_at
    assert OrderLine.objects.count() == 3


def test_changed_rows_update_and_record_only_the_change(frozen_time):
    run("customers", CUSTOMERS_RU)
    run("orders", ORDERS)
    text = (
        "ID;Email;Теги\n"
        "C-1;olga@example.ru;VIP,новая\n"  # the email is the same, one tag is new
        "C-2;ivan@example.ru;\n"
    )
    job = run("customers", text)
    orders = run(
        "orders", "order_id,customer_id,placed_at,status,total\nA-2,C-2,2025-01-15,delivered,990\n"
    )

    assert counts(job) == (0, 2, 0, 0)
    olga = Customer.objects.get(external_id="C-1")
    assert olga.first_name == "Ольга", "columns absent from the file keep their values"
    update = Event.objects.get(customer=olga, type="customer_updated")
    assert update.properties == {"changes": {"tags": ["новая"]}}
    assert counts(orders) == (0, 1, 0, 0)
    order = Order.objects.get(external_id="A-2")
    assert order.status == OrderStatus.DELIVERED
    assert order.lines.count() == 1, "a file without lines leaves the stored lines alone"
    assert (
        Event.objects.filter(type="order_delivered", idempotency_key="order:A-2:delivered").count()
        == 1
    )


def test_dry_run_counts_but_writes_nothing(frozen_time):
    run("customers", CUSTOMERS_RU)
    before = (Customer.objects.count(), Order.objects.count(), Event.objects.count())
    changed = CUSTOMERS_RU.replace("Тверь", "Псков") + "C-3;Новый;Клиент;;;;;;;\r\n"

    customers = run("customers", changed, dry_run=True)
    orders = run("orders", ORDERS, dry_run=True)

    assert counts(customers) == (1, 1, 1, 0)
    assert counts(orders) == (3, 0, 0, 0)
    assert (Customer.objects.count(), Order.objects.count(), Event.objects.count()) == before
    assert Customer.objects.get(external_id="C-1").attributes == {"Город": "Тверь"}
    assert "Dry run" in orders.message


def test_report_csv_lists_rejected_rows_and_escapes_formulas(frozen_time):
    text = (
        "ID,Имя,Телефон,Комментарий\n"
        'K-1,=HYPERLINK("http://evil"),not-a-phone,@SUM(A1)\n'
        "K-2,Анна,+79161234567,-1\n"
    )
    job = run("customers", text)

    report = list(csv.reader(io.StringIO(import_report_csv(job)), delimiter=";"))
    assert report[0] == ["Row", "Column", "Reason", "ID", "Имя", "Телефон", "Комментарий"]
    row = report[1]
    assert row[:2] == ["2", "Телефон"]
    assert "not-a-phone" in row[2]
    assert row[3:] == ["K-1", '\'=HYPERLINK("http://evil")', "not-a-phone", "'@SUM(A1)"]
    assert len(report) == 2
    assert Customer.objects.get(external_id="K-2").attributes == {"Комментарий": "-1"}


def test_products_import_and_update(frozen_time):
    text = (
        "Артикул;Название;Категория;Цена;Цикл пополнения, дней;Активен\n"
        "MAT-1;Коврик;Коврики;1 990,00;;да\n"
        "FOOD-1;Корм;Корма;2 450;30;\n"
    )
    first = run("products", text)
    second = run("products", text.replace("2 450", "2 500"))

    assert counts(first) == (2, 0, 0, 0)
    assert counts(second) == (0, 1, 1, 0)
    food = Product.objects.get(sku="FOOD-1")
    assert (food.price, food.replenishment_days, food.active) == (Decimal("2500.00"), 30, True)


@pytest.mark.parametrize(
    ("kind", "content", "fragment"),
    [
        ("invoices", b"id\n1\n", "kind"),
        ("customers", b"", "empty"),
        ("customers", b"PK\x03\x04\x00\x00binary", "CSV"),
        ("orders", "Номер заказа;Товар\n1;x\n".encode(), "клиент / customer_id"),
        ("customers", b"name,city\nAnn,Moscow\n", "ID"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_with_a_reason(kind, content, fragment, var_dir):
    with pytest.raises(ImportFileError, match=fragment):
        import_job_create(
            kind=kind, file_name="f.csv", content=content, dry_run=False, created_by=None
        )
    assert not ImportJob.objects.exists()
    assert not list((var_dir / "imports").glob("*")) if (var_dir / "imports").exists() else True


def test_an_import_brings_segment_memberships_up_to_date(frozen_time):
    buyers = segment_create(
        name="Купили хотя бы раз",
        rules={
            "op": "and",
            "rules": [{"kind": "summary", "field": "orders_count", "op": "gte", "value": 1}],
        },
    )
    run("customers", CUSTOMERS_RU)
    assert not SegmentMembership.objects.filter(segment=buyers).exists()
    ProductFactory(sku="MAT-1")
    ProductFactory(sku="BLK-1")
    run("orders", ORDERS)
    members = SegmentMembership.objects.filter(segment=buyers)
    assert set(members.values_list("customer__external_id", flat=True)) == {"C-1", "C-2"}
    assert Event.objects.filter(type="segment_entered").count() == 2
