"""CSV import robustness: the encoding is decided on evidence, and one bad value never stops an
import: every bad row is rejected with its number and reason, and the rest lands."""

from __future__ import annotations

import codecs
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.commerce.models import Order, OrderLine
from lifelong.commerce.services import order_upsert
from lifelong.customers.models import Customer
from lifelong.events.csv_import import (
    ImportFileError,
    import_job_create,
    import_job_run,
    import_report_csv,
)
from lifelong.events.models import Event, ImportJob, ImportStatus
from lifelong.events.tests.csv_helpers import MSK, counts
from lifelong.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]


def run(kind: str, content: bytes) -> ImportJob:
    """Import a file given as bytes: the encoding is the subject of these tests."""
    job = import_job_create(
        kind=kind, file_name=f"{kind}.csv", content=content, dry_run=False, created_by=None
    )
    return import_job_run(job.pk)


def rejected(job: ImportJob) -> dict[int, tuple[str, str]]:
    return {e["row"]: (e["column"], e["reason"]) for e in job.errors}


# Item 4: encodings ------------------------------------------------------------------------

CUSTOMERS = (
    "Код клиента;Фамилия;Имя;Эл. почта\n"
    "C-1;Петрова;Ольга;olga@example.ru\n"
    "C-2;Смирнов;Иван;\n"
    "C-3;Кузнецова;Анна;\n"
)


def test_one_bad_byte_leaves_a_utf8_file_utf8_and_rejects_only_its_row(frozen_time):
    damaged = CUSTOMERS.encode().replace("Иван".encode(), "Ив".encode() + b"\xff" + "ан".encode())

    job = run("customers", damaged)

    assert job.status == ImportStatus.DONE, job.message
    assert counts(job) == (2, 0, 0, 1)
    olga = Customer.objects.get(external_id="C-1")
    assert (olga.last_name, olga.first_name, olga.email) == ("Петрова", "Ольга", "olga@example.ru")
    assert olga.attributes == {}
    assert Customer.objects.get(external_id="C-3").first_name == "Анна"
    assert rejected(job) == {3: ("Имя", "bytes that are not valid UTF-8 in column 3")}
    assert "Ив\\xffан" in import_report_csv(job)


def test_russian_headers_in_their_usual_spellings_are_all_read(frozen_time):
    text = (
        "ID клиента; ФАМИЛИЯ ;Имя клиента;Отчество;Эл. почта;Моб. телефон;День рождения;Город\n"
        "C-1;Петрова;Ольга;Игоревна;olga@example.ru;8 916 123-45-67;07.03.1990;Тверь\n"
    )

    job = run("customers", text.encode())

    assert counts(job) == (1, 0, 0, 0)
    olga = Customer.objects.get(external_id="C-1")
    assert (olga.last_name, olga.first_name, olga.patronymic) == ("Петрова", "Ольга", "Игоревна")
    assert (olga.email, olga.phone, olga.birthday) == (
        "olga@example.ru",
        "+79161234567",
        dt.date(1990, 3, 7),
    )
    assert olga.attributes == {"Город": "Тверь"}
    assert "Stored as customer attributes: «Город»." in job.message


def test_a_misspelt_or_repeated_column_is_named_in_the_report(frozen_time):
    text = "ID;Фамиля;Имя;Имя\nC-1;Петрова;Ольга;Оля\n"

    job = run("customers", text.encode())

    assert counts(job) == (1, 0, 0, 0)
    assert "Column 2 «Фамиля» is not one we know (stored as a customer attribute): " in job.message
    assert "did you mean «Last name»?" in job.message
    assert "Column 4 «Имя» repeats «Имя»; only the first one was read." in job.message
    olga = Customer.objects.get(external_id="C-1")
    assert (olga.first_name, olga.attributes) == ("Ольга", {"Фамиля": "Петрова"})


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_files_with_a_byte_order_mark_import(frozen_time, codec):
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    # Excel's "Unicode text": UTF-16 with tabs.
    job = run("customers", bom + CUSTOMERS.replace(";", "\t").encode(codec))

    assert job.status == ImportStatus.DONE, job.message
    assert counts(job) == (3, 0, 0, 0)
    assert Customer.objects.get(external_id="C-2").first_name == "Иван"


def test_a_header_with_bad_bytes_is_refused_naming_its_row():
    damaged = CUSTOMERS.encode().replace("Имя".encode(), "Им".encode() + b"\xff")

    with pytest.raises(ImportFileError, match=r"Row 1, the header, cannot be read: bytes that"):
        run("customers", damaged)


def test_a_file_in_no_encoding_we_know_says_so_and_names_each_row(frozen_time):
    content = b"ID;Name\nC-1;" + bytes(range(0x80, 0x98)) + b"\nC-2;ok\n"

    job = run("customers", content)

    assert counts(job) == (1, 0, 0, 1)
    assert rejected(job)[2][1] == "bytes that are not valid UTF-8 in column 2"
    assert "neither UTF-8 nor Windows-1251" in job.message


# Item 5: one bad value never stops an import ---------------------------------------------

ORDERS_HEAD = "order_id;customer_id;placed_at;sku;product_name;quantity;price;total;coupon\n"


def order_row(n: int, **cells: str) -> str:
    values = {
        "order_id": f"O-{n}",
        "customer_id": "C-1",
        "placed_at": "2025-01-01 10:00",
        "sku": f"SKU-{n % 7}",
        "name": "Коврик",
        "quantity": "1",
        "price": "100",
        "total": "100",
        "coupon": "",
        **cells,
    }
    return ";".join(values.values()) + "\n"


@pytest.mark.parametrize(
    ("cells", "column", "fragment"),
    [
        ({"sku": "S" * 65}, "sku", "too long: 65 characters, at most 64"),
        ({"name": "Т" * 256}, "product_name", "too long: 256 characters, at most 255"),
        ({"order_id": "O" * 129}, "order_id", "too long: 129 characters, at most 128"),
        ({"customer_id": "C" * 129}, "customer_id", "too long: 129 characters, at most 128"),
        ({"coupon": "K" * 65}, "coupon", "too long: 65 characters, at most 64"),
        ({"total": "1000000000000"}, "total", "the largest amount is 999 999 999 999.99"),
        ({"price": "1 000 000 000 000,00"}, "price", "the largest amount is 999 999 999 999.99"),
        ({"total": "1" * 40}, "total", "the largest amount is 999 999 999 999.99"),
        ({"quantity": "3000000000"}, "quantity", "the largest number is 2147483647"),
        ({"placed_at": "2025-01-01T10:00:00+23:00"}, "placed_at", "UTC offset +2300"),
        ({"placed_at": "0001-01-01"}, "placed_at", "before 1990: 0001-01-01"),
        ({"placed_at": "31.12.2099"}, "placed_at", "in the future: 2099-12-31"),
    ],
)
def test_a_value_the_database_cannot_hold_rejects_its_row_only(
    frozen_time, cells, column, fragment
):
    CustomerFactory(external_id="C-1")
    text = ORDERS_HEAD + order_row(1) + order_row(2, **cells) + order_row(3)

    job = run("orders", text.encode())

    assert job.status == ImportStatus.DONE, job.message
    assert counts(job) == (2, 0, 0, 1)
    assert list(rejected(job)) == [3]
    assert rejected(job)[3][0] == column
    assert fragment in rejected(job)[3][1]
    assert set(Order.objects.values_list("external_id", flat=True)) == {"O-1", "O-3"}


@pytest.mark.parametrize(
    ("cells", "fragment"),
    [
        ({"first": "О" * 101}, "too long: 101 characters, at most 100"),
        ({"email": "o" * 250 + "@example.ru"}, "too long: 261 characters, at most 254"),
        ({"email": "100%d@example.1"}, "not an email address: '100%d@example.1'"),
        ({"tags": "VIP, " + "т" * 65}, "too long: 65 characters, at most 64"),
        ({"id": "C" * 129}, "too long: 129 characters, at most 128"),
    ],
)
def test_a_customer_value_too_long_for_its_column_rejects_its_row_only(
    frozen_time, cells, fragment
):
    def row(n: int, **given: str) -> str:
        values = {"id": f"C-{n}", "first": "Ольга", "email": "", "tags": "", **given}
        return ";".join(values.values()) + "\n"

    text = "ID;Имя;Email;Теги\n" + row(1) + row(2, **cells) + row(3)

    job = run("customers", text.encode())

    assert counts(job) == (2, 0, 0, 1)
    assert list(rejected(job)) == [3]
    assert fragment in rejected(job)[3][1]


def test_a_nul_byte_past_the_first_8_kb_rejects_its_row_only(frozen_time):
    CustomerFactory(external_id="C-1")
    rows = [order_row(n) for n in range(1, 301)]
    rows[249] = order_row(250, name="Ков\x00рик")
    content = (ORDERS_HEAD + "".join(rows)).encode()
    assert content.index(b"\x00") > 8192

    job = run("orders", content)

    assert job.status == ImportStatus.DONE, job.message
    assert counts(job) == (299, 0, 0, 1)
    assert rejected(job) == {
        251: ("product_name", "a NUL character in column 5 (a damaged file?)"),
    }
    assert "Ков\\x00рик" in import_report_csv(job)


def test_an_unclosed_quote_rejects_its_row_and_the_rest_of_the_file_lands(frozen_time):
    rows = [f"C-{n};Имя{n};Фамилия{n}\n" for n in range(1, 71)]
    rows[3] = 'C-4;"Ольга;Петрова\n'

    job = run("customers", ("ID;Имя;Фамилия\n" + "".join(rows)).encode())

    assert counts(job) == (69, 0, 0, 1)
    column, reason = rejected(job)[5]
    assert column == "Имя"
    assert reason.startswith("unclosed quote starting at row 5, column 2")
    assert Customer.objects.get(external_id="C-5").first_name == "Имя5"
    assert max(len(c.first_name) for c in Customer.objects.all()) < 10


def test_a_customer_whose_spend_would_overflow_its_column_has_that_order_rejected(frozen_time):
    rich = CustomerFactory(external_id="C-1")
    order_upsert(
        external_id="OLD",
        customer=rich,
        total=Decimal("900000000000"),
        placed_at=dt.datetime(2024, 1, 1, tzinfo=MSK),
    )
    text = (
        "order_id;customer_id;placed_at;total\n"
        "N-1;C-1;2025-01-01;50 000 000 000\n"
        "N-2;C-1;2025-01-02;60 000 000 000\n"
        "N-3;C-1;2025-01-03;1000\n"
    )

    job = run("orders", text.encode())

    assert job.status == ImportStatus.DONE, job.message
    assert counts(job) == (2, 0, 0, 1)
    assert rejected(job)[3] == (
        "total",
        "the customer's total spend would pass the largest amount stored, 999 999 999 999.99",
    )
    rich.refresh_from_db()
    assert rich.total_spent == Decimal("950000001000.00")


# Property: random bad cells reject exactly their rows ------------------------------------

BAD_CELLS: dict[str, tuple[str, bytes]] = {
    "sku too long": ("sku", b"S" * 65),
    "name too long": ("name", "Т".encode() * 256),
    "order number too long": ("order_id", b"O" * 129),
    "coupon too long": ("coupon", b"K" * 65),
    "total too large": ("total", b"1000000000000"),
    "price too large": ("price", b"999 999 999 999 999"),
    "quantity too large": ("quantity", b"2147483648"),
    "quantity zero": ("quantity", b"0"),
    "not a number": ("total", b"12a"),
    "offset beyond 14 hours": ("placed_at", b"2025-01-01T10:00:00+14:30"),
    "year one": ("placed_at", b"0001-01-01"),
    "far future": ("placed_at", b"01.01.3000"),
    "unknown customer": ("customer_id", b"NOBODY"),
    "NUL": ("name", b"Ko\x00vrik"),
    "bad UTF-8": ("name", "Ков".encode() + b"\xc3\x28" + "рик".encode()),
    "unclosed quote": ("coupon", b'"SALE'),
}
# The cells of order_row, in the file's column order.
COLUMNS = [
    "order_id",
    "customer_id",
    "placed_at",
    "sku",
    "name",
    "quantity",
    "price",
    "total",
    "coupon",
]


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(150, 400),
    bad=st.dictionaries(st.integers(0, 398), st.sampled_from(sorted(BAD_CELLS)), max_size=12),
)
def test_random_bad_cells_reject_exactly_their_rows_and_the_rest_lands(frozen_time, size, bad):
    bad = {i: kind for i, kind in bad.items() if i < size - 1}  # a quote may close at the end
    CustomerFactory.create(external_id="C-1") if not Customer.objects.exists() else None
    lines = [ORDERS_HEAD.encode()]
    for i in range(size):
        cells = [cell.encode() for cell in order_row(i).strip().split(";")]
        if i in bad:
            column, value = BAD_CELLS[bad[i]]
            cells[COLUMNS.index(column)] = value
        lines.append(b";".join(cells) + b"\n")

    job = run("orders", b"".join(lines))

    assert job.status == ImportStatus.DONE, job.message
    bad_rows = {i + 2 for i in bad}
    assert counts(job) == (size - len(bad), 0, 0, len(bad))
    assert set(rejected(job)) == bad_rows
    assert all(reason for _column, reason in rejected(job).values())
    good = {f"O-{i}" for i in range(size) if i not in bad}
    assert set(Order.objects.values_list("external_id", flat=True)) == good
    assert OrderLine.objects.count() == len(good)
    Event.objects.all().delete()
    Order.objects.all().delete()
    ImportJob.objects.all().delete()
