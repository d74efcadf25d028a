"""Reading shop CSV exports and writing spreadsheet-safe CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib.csv_files import (
    CsvReadError,
    csv_open,
    csv_write_safe,
    detect_encoding,
    normalize_header,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_money,
    safe_cell,
    sniff_delimiter,
)

MSK = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1 234,50", "1234.50"),
        ("1\u00a0234,50", "1234.50"),
        ("1\u202f234", "1234"),
        ("1234.5", "1234.5"),
        ("1,234.50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1,234,567", "1234567"),
        ("990 ₽", "990"),
        ("990 руб.", "990"),
        ("₽990", "990"),
        ("$ 12.30", "12.30"),
        ("-5", "-5"),
        ("−5,5", "-5.5"),
        ("0", "0"),
    ],
)
def test_parse_decimal_reads_the_ways_shops_write_numbers(raw, expected):
    assert parse_decimal(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["", "abc", "12abc", "1 2 x", "NaN", "Infinity", "--5", "руб."])
def test_parse_decimal_refuses_what_is_not_a_number(raw):
    with pytest.raises(ValueError, match=r".*"):
        parse_decimal(raw)


def test_money_rounds_to_kopecks_and_ints_refuse_fractions():
    assert parse_money("10,005") == Decimal("10.01")
    assert parse_int("2,0") == 2
    assert parse_int("1 000") == 1000
    with pytest.raises(ValueError, match="2,5"):
        parse_int("2,5")


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2))
def test_money_written_the_russian_way_reads_back(value):
    whole, _, fraction = f"{abs(value):,.2f}".partition(".")
    text = ("-" if value < 0 else "") + whole.replace(",", "\u00a0") + "," + fraction
    assert parse_money(text) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("31.12.2024", dt.datetime(2024, 12, 31, tzinfo=MSK)),
        ("31.12.2024 14:30", dt.datetime(2024, 12, 31, 14, 30, tzinfo=MSK)),
        ("1.2.2024 9:05:07", dt.datetime(2024, 2, 1, 9, 5, 7, tzinfo=MSK)),
        ("2024-12-31", dt.datetime(2024, 12, 31, tzinfo=MSK)),
        ("2024-12-31 14:30", dt.datetime(2024, 12, 31, 14, 30, tzinfo=MSK)),
        ("2024-12-31T11:30:00Z", dt.datetime(2024, 12, 31, 11, 30, tzinfo=dt.UTC)),
        ("2024-12-31T14:30:00+03:00", dt.datetime(2024, 12, 31, 11, 30, tzinfo=dt.UTC)),
    ],
)
def test_parse_datetime_reads_russian_and_iso_forms(raw, expected):
    parsed = parse_datetime(raw, MSK)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("raw", ["31.02.2024", "2024-13-01", "вчера", "12/31/2024", "20241"])
def test_parse_datetime_refuses_impossible_dates(raw):
    with pytest.raises(ValueError, match=r".*"):
        parse_datetime(raw, MSK)


def test_parse_date():
    assert parse_date("07.03.1990") == dt.date(1990, 3, 7)
    assert parse_date("1990-03-07") == dt.date(1990, 3, 7)
    with pytest.raises(ValueError, match=r".*"):
        parse_date("07.03.1990 10:00")


def test_headers_compare_without_case_spaces_or_punctuation():
    assert normalize_header("\ufeffE-mail ") == normalize_header("email")
    assert normalize_header("Цикл пополнения, дней") == "циклпополнениядней"
    assert normalize_header("Счёт") == normalize_header("счет")
    assert normalize_header("first_name") == normalize_header("First Name")


def test_sniff_delimiter():
    assert sniff_delimiter("a;b;c\n") == ";"
    assert sniff_delimiter("a,b,c\n") == ","
    assert sniff_delimiter("a\tb\tc\n") == "\t"
    assert sniff_delimiter('"Сумма, руб";Дата\n') == ";"
    assert sniff_delimiter("id\n") == ","


def test_encoding_detection_reads_the_whole_file():
    utf8 = "Имя\nАнна\n".encode()
    assert detect_encoding(io.BytesIO(utf8)) == "utf-8-sig"
    assert detect_encoding(io.BytesIO(b"\xef\xbb\xbf" + utf8)) == "utf-8-sig"
    late_cyrillic = b"id\n" + b"x\n" * 600_000 + "Анна\n".encode("cp1251")
    assert detect_encoding(io.BytesIO(late_cyrillic)) == "cp1251"


def test_csv_open_skips_blank_rows_and_numbers_rows_like_a_spreadsheet(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes("\ufeffИмя;Город\r\n Анна ;Тверь\r\n;\r\nБорис\r\n".encode())
    with csv_open(path) as f:
        assert (f.header, f.delimiter) == (["Имя", "Город"], ";")
        assert list(f.rows) == [(2, ["Анна", "Тверь"]), (4, ["Борис", ""])]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\n\n")
    with pytest.raises(CsvReadError), csv_open(empty):
        pass


@pytest.mark.parametrize("cell", ["=1+1", "+7916", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_cells_a_spreadsheet_would_run_get_an_apostrophe(cell):
    assert safe_cell(cell) == "'" + cell
    text = csv_write_safe([["a", cell]])
    assert next(csv.reader(io.StringIO(text))) == ["a", "'" + cell]


def test_ordinary_cells_stay_as_they_are():
    assert safe_cell("Анна") == "Анна"
    assert safe_cell(12) == "12"
    assert safe_cell(None) == ""
    assert csv_write_safe([["a;b", 'say "hi"']], delimiter=";") == '"a;b";"say ""hi"""\r\n'
