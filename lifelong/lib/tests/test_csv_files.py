"""Reading shop CSV exports and writing spreadsheet-safe CSV."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib.csv_files import (
    CsvFile,
    CsvReadError,
    Defect,
    RowDefect,
    TextEncoding,
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
    text_shown,
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
    assert detect_encoding(io.BytesIO(utf8)) == TextEncoding("utf-8-sig")
    assert detect_encoding(io.BytesIO(b"\xef\xbb\xbf" + utf8)) == TextEncoding("utf-8-sig")
    late_cyrillic = b"id\n" + b"x\n" * 600_000 + "Анна\n".encode("cp1251")
    assert detect_encoding(io.BytesIO(late_cyrillic)) == TextEncoding("cp1251")


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


# Encoding on evidence ---------------------------------------------------------------------

NAMES = "id;Имя;Фамилия\n1;Ольга;Петрова\n2;Иван;Смирнов\n3;Анна;Кузнецова\n"


def read_all(tmp_path, data: bytes) -> tuple[CsvFile, list[tuple[int, list[str]]]]:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with csv_open(path) as f:
        return f, list(f.rows)


def test_a_utf8_file_with_one_bad_byte_stays_utf8_and_names_that_row(tmp_path):
    data = NAMES.encode().replace("Иван".encode(), b"\xd0\x98\xff\xd0\xb2\xd0\xb0\xd0\xbd")

    assert detect_encoding(io.BytesIO(data)) == TextEncoding("utf-8-sig", check_rows=True)
    f, rows = read_all(tmp_path, data)
    assert rows[0] == (2, ["1", "Ольга", "Петрова"])
    assert rows[2] == (4, ["3", "Анна", "Кузнецова"])
    assert f.defects == {3: RowDefect(Defect.UNDECODABLE, 1)}
    assert text_shown(rows[1][1][1]) == "И\\xffван"


def test_windows_1251_is_chosen_only_when_it_reads_as_russian(tmp_path):
    assert detect_encoding(io.BytesIO(NAMES.encode("cp1251"))) == TextEncoding("cp1251")
    # A byte-order mark says UTF-8 whatever follows: the bytes that are not are reported.
    marked = codecs.BOM_UTF8 + NAMES.encode("cp1251")
    assert detect_encoding(io.BytesIO(marked)) == TextEncoding("utf-8-sig", check_rows=True)
    # Bytes that are neither: the file is read as UTF-8 and every row holding them is named.
    noise = b"id;name\n1;" + bytes(range(0x80, 0xA0)) + b"\n2;ok\n"
    encoding = detect_encoding(io.BytesIO(noise))
    assert encoding == TextEncoding("utf-8-sig", check_rows=True, unrecognised=True)
    f, _rows = read_all(tmp_path, noise)
    assert set(f.defects) == {2}


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_read(tmp_path, codec):
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    f, rows = read_all(tmp_path, bom + NAMES.replace(";", "\t").encode(codec))
    assert (f.encoding, f.delimiter, f.header) == (
        TextEncoding("utf-16"),
        "\t",
        NAMES[:14].split(";"),
    )
    assert rows[1] == (3, ["2", "Иван", "Смирнов"])


def test_a_nul_byte_spoils_its_row_only(tmp_path):
    data = NAMES.encode().replace("Смирнов".encode(), "Сми\x00рнов".encode())
    f, rows = read_all(tmp_path, data)
    assert [number for number, _cells in rows] == [2, 3, 4]
    assert f.defects == {3: RowDefect(Defect.NUL, 2)}
    assert text_shown(rows[1][1][2]) == "Сми\\x00рнов"


def test_an_unclosed_quote_spoils_its_row_and_the_rows_it_took_in_are_read(tmp_path):
    data = NAMES.replace("1;Ольга", '1;"Ольга').encode()
    f, rows = read_all(tmp_path, data)
    assert rows[1:] == [(3, ["2", "Иван", "Смирнов"]), (4, ["3", "Анна", "Кузнецова"])]
    assert f.defects == {2: RowDefect(Defect.UNCLOSED_QUOTE, 1, lines=2)}


def test_a_quoted_cell_on_several_lines_is_a_cell(tmp_path):
    data = 'id;Имя;Адрес\n1;Ольга;"ул. Ленина, 5;\nкв. 3"\n2;Иван;Тверь\n'.encode()
    f, rows = read_all(tmp_path, data)
    assert rows == [(2, ["1", "Ольга", "ул. Ленина, 5;\nкв. 3"]), (3, ["2", "Иван", "Тверь"])]
    assert not f.defects


def test_a_cell_past_the_csv_field_limit_spoils_its_row_only(tmp_path):
    huge = "x" * (csv.field_size_limit() + 1)
    f, rows = read_all(tmp_path, f"id;name\n1;{huge}\n2;ok\n".encode())
    assert rows[1] == (3, ["2", "ok"])
    assert f.defects == {2: RowDefect(Defect.CELL_TOO_LONG, 1)}


def test_the_header_row_reports_its_own_defect(tmp_path):
    f, _rows = read_all(tmp_path, b"\nid;" + "Им".encode() + b"\xff;x\n1;2;3\n")
    assert (f.header_row, f.header_defect) == (2, RowDefect(Defect.UNDECODABLE, 1))


cyrillic_cells = (
    st.text(
        alphabet=st.characters(min_codepoint=0x410, max_codepoint=0x44F) | st.sampled_from("ab ё-"),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)


@given(
    cells=st.lists(cyrillic_cells, min_size=20, max_size=60),
    spoiled=st.sets(st.integers(0, 59), min_size=1, max_size=3),
    byte=st.integers(0x80, 0xFF),
)
def test_a_few_bad_bytes_in_utf8_reject_exactly_their_rows(tmp_path_factory, cells, spoiled, byte):
    """However few or many good rows: the file is UTF-8 and only the damaged rows are named."""
    spoiled = {i for i in spoiled if i < len(cells)}
    lines = [b"id;name"]
    for i, cell in enumerate(cells):
        encoded = cell.encode()
        if i in spoiled:
            encoded = encoded[:2] + bytes([byte]) + encoded[2:]
        lines.append(f"{i};".encode() + encoded)
    data = b"\n".join(lines) + b"\n"
    text = data.decode("utf-8", "surrogateescape")
    broken = {i for i in spoiled if "\udc80" <= max(text.splitlines()[i + 1]) <= "\udcff"}

    f, rows = read_all(tmp_path_factory.mktemp("csv"), data)

    assert f.encoding.codec == "utf-8-sig"
    assert set(f.defects) == {i + 2 for i in broken}
    assert [cells_[1] for number, cells_ in rows if number - 2 not in broken] == [
        cell for i, cell in enumerate(cells) if i not in broken
    ]
