"""CSV import of customers, orders and products: formats, validation, idempotency, jobs."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from lifelong import clock
from lifelong.commerce.models import Order, OrderLine, OrderStatus, Product
from lifelong.commerce.services import LineInput, order_upsert
from lifelong.customers.models import Customer, Gender
from lifelong.events.csv_import import (
    ImportFileError,
    import_file_cli,
    import_job_create,
    import_job_run,
    import_report_csv,
    imports_run_pending,
    jobs,
)
from lifelong.events.csv_import.reading import prefetched
from lifelong.events.models import Event, ImportJob, ImportStatus
from lifelong.factories import CustomerFactory, ProductFactory
from lifelong.segments.models import SegmentMembership
from lifelong.segments.services import segment_create

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.TIME_ZONE = "Europe/Moscow"
    # Reasons and summaries are asserted in English whatever the default language is.
    with translation.override("en"):
        yield settings.VAR_DIR


def run(kind: str, text: str, *, encoding: str = "utf-8", dry_run: bool = False) -> ImportJob:
    job = import_job_create(
        kind=kind,
        file_name=f"{kind}.csv",
        content=text.encode(encoding),
        dry_run=dry_run,
        created_by=None,
    )
    return import_job_run(job.pk)


def counts(job: ImportJob) -> tuple[int, int, int, int]:
    return job.created_rows, job.updated_rows, job.unchanged_rows, job.rejected_rows


CUSTOMERS_RU = (
    "Код клиента;Фамилия;Имя;Отчество;Телефон;E-mail;Пол;Дата рождения;Теги;Город\r\n"
    "C-1;Петрова;Ольга;Игоревна;8 (916) 123-45-67;Olga@Example.ru;ж;07.03.1990;VIP, опт;Тверь\r\n"
    "C-2;Смирнов;Иван;;+7 903 765-43-21;;муж;;;\r\n"
)

ORDERS = (
    "Номер заказа,Клиент,Дата,Статус,Артикул,Товар,Количество,Цена,Сумма\r\n"
    'A-1,C-1,31.12.2024 14:30,оплачен,MAT-1,Коврик,2,"1 000,00","2 500,50 ₽"\r\n'
    'A-1,C-1,31.12.2024 14:30,оплачен,BLK-1,Блок,1,"500,50","2 500,50 ₽"\r\n'
    "A-2,C-2,2025-01-15,,MAT-1,Коврик,1,990,\r\n"
)


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


def test_only_one_runner_claims_a_job(frozen_time):
    CustomerFactory(external_id="C-1")
    text = "order_id,customer_id,placed_at,total\nX-1,C-1,2025-01-01,100\n"
    first = import_job_create(
        kind="orders", file_name="o.csv", content=text.encode(), dry_run=False, created_by=None
    )
    done = import_job_run(first.pk)
    again = import_job_run(first.pk)

    assert done.status == again.status == ImportStatus.DONE
    assert counts(again) == (1, 0, 0, 0)
    assert Event.objects.filter(type="order_placed").count() == 1

    second = import_job_create(
        kind="orders", file_name="o.csv", content=text.encode(), dry_run=False, created_by=None
    )
    ImportJob.objects.filter(pk=second.pk).update(status=ImportStatus.RUNNING)
    untouched = import_job_run(second.pk)
    assert (untouched.status, untouched.processed_rows) == (ImportStatus.RUNNING, 0)


def test_sweep_runs_jobs_left_pending(frozen_time):
    CustomerFactory(external_id="C-1")
    job = import_job_create(
        kind="orders",
        file_name="o.csv",
        content=b"order_id,customer_id,placed_at,total\nX-1,C-1,2025-01-01,100\n",
        dry_run=False,
        created_by=None,
    )
    assert imports_run_pending() == 0, "a fresh job is left to the thread that starts it"
    frozen_time.shift(dt.timedelta(minutes=1))
    assert imports_run_pending() == 1
    assert imports_run_pending() == 0
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.percent) == (ImportStatus.DONE, 1, 100)


def test_sweep_takes_over_a_job_whose_runner_stopped(frozen_time):
    CustomerFactory(external_id="C-1")
    job = import_job_create(
        kind="orders",
        file_name="o.csv",
        content=b"order_id,customer_id,placed_at,total\nX-1,C-1,2025-01-01,100\n",
        dry_run=False,
        created_by=None,
    )
    # A runner claimed the job, did some of it and died.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING,
        started_at=clock.now(),
        heartbeat_at=clock.now(),
        processed_rows=1,
        unchanged_rows=1,
    )
    frozen_time.shift(dt.timedelta(minutes=2))
    assert imports_run_pending() == 0, "a job with a recent heartbeat is left to its runner"

    frozen_time.shift(dt.timedelta(minutes=10))
    assert imports_run_pending() == 1

    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert counts(job) == (1, 0, 0, 0), "the counts are those of the run that finished"
    assert job.started_at == job.heartbeat_at == clock.now()
    assert Order.objects.filter(external_id="X-1").exists()


def test_rows_of_one_order_group_across_batches(frozen_time, monkeypatch):
    monkeypatch.setitem(jobs.BATCH_ROWS, "orders", 2)
    CustomerFactory(external_id="C-1")
    text = (
        "order_id,customer_id,placed_at,sku,price\n"
        "S-1,C-1,2025-01-01,A,10\n"
        "S-2,C-1,2025-01-02,B,20\n"
        "S-3,C-1,2025-01-03,C,30\n"
        "S-1,C-1,2025-01-01,D,40\n"
    )
    job = run("orders", text)

    assert counts(job) == (4, 0, 0, 0)
    s1 = Order.objects.get(external_id="S-1")
    assert list(s1.lines.order_by("pk").values_list("sku", flat=True)) == ["A", "D"]
    assert s1.total == Decimal("50.00")
    assert Event.objects.get(idempotency_key="order:S-1:placed").properties["skus"] == ["A", "D"]


def test_the_reading_thread_hands_over_its_batches_then_its_error():
    def batches():
        yield 1
        yield 2
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    received = prefetched(batches)
    assert [next(received), next(received)] == [1, 2]
    with pytest.raises(UnicodeDecodeError):
        next(received)


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


def test_cli_prints_progress_summary_and_writes_the_report(frozen_time, tmp_path, capsys):
    CustomerFactory(external_id="C-1")
    source = tmp_path / "orders.csv"
    source.write_text(
        "order_id,customer_id,placed_at,total\nX-1,C-1,2025-01-01,100\nX-2,C-9,2025-01-01,100\n",
        encoding="utf-8",
    )

    code = import_file_cli(kind="orders", path=str(source), dry_run=False)

    out, err = capsys.readouterr()
    assert code == 0
    assert "100%" in err
    assert "2 rows, 1 created, 0 updated, 0 unchanged, 1 rejected" in out
    report = tmp_path / "orders.rejected.csv"
    assert str(report) in out
    assert "C-9" in report.read_text(encoding="utf-8-sig")


def test_cli_returns_1_for_a_missing_or_unusable_file(tmp_path, capsys):
    assert import_file_cli(kind="orders", path=str(tmp_path / "nope.csv"), dry_run=False) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("what,ever\n1,2\n")
    assert import_file_cli(kind="orders", path=str(bad), dry_run=False) == 1
    assert "missing" in capsys.readouterr().err


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
