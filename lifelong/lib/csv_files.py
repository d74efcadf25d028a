"""Reading the CSV files shops export, and writing CSV that is safe to open in a spreadsheet.

Shops and spreadsheets in Russia write UTF-8 (often with a BOM) or Windows-1251, separate
cells with `;` as often as with `,`, and write numbers as "1 234,50 ₽" and dates as
"31.12.2024". Everything here is plain Python with no Django models, so the importer and
any export can share it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

DELIMITERS = (";", ",", "\t")
CHUNK = 1 << 20
CENT = Decimal("0.01")

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class CsvReadError(ValueError):
    """The file cannot be read as CSV text (encoding, empty file, no header)."""


def detect_encoding(stream: IO[bytes]) -> str:
    """'utf-8-sig' if the whole stream decodes as UTF-8, else 'cp1251'.

    The whole stream is checked, not a sample: a cp1251 file may hold only ASCII for
    its first megabyte. Decoding UTF-8 in C runs at hundreds of MB/s, so this is cheap.
    """
    start = stream.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    chunk = start
    try:
        while chunk:
            decoder.decode(chunk)
            chunk = stream.read(CHUNK)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8-sig"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header line into the most cells (`;` wins ties)."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def normalize_header(name: str) -> str:
    """Case-, space- and punctuation-insensitive form: 'E-mail ' -> 'email', 'Ё' -> 'е'."""
    folded = name.replace("\ufeff", "").casefold().replace("ё", "е")
    return "".join(ch for ch in folded if ch.isalnum())


@dataclass
class CsvFile:
    """An open CSV file: its header cells and an iterator of (row number, cells).

    Row numbers are what a spreadsheet shows: the header is row 1. Blank rows are skipped
    but still counted, so numbers keep matching the spreadsheet.
    """

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: str
    delimiter: str


@contextmanager
def csv_open(path: str | Path, *, encoding: str | None = None) -> Iterator[CsvFile]:
    """Open a CSV file, detecting its encoding (unless given) and delimiter.

    Raises CsvReadError for a file with no header row. A decoding error later in the
    file surfaces as UnicodeDecodeError from the row iterator.
    """
    if encoding is None:
        with open(path, "rb") as raw:
            encoding = detect_encoding(raw)
    with open(path, encoding=encoding, newline="") as text:
        header_line = _first_nonblank_line(text)
        if header_line is None:
            raise CsvReadError("the file is empty")
        delimiter = sniff_delimiter(header_line)
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter)
        header: list[str] | None = None
        number = 0
        for cells in reader:
            number += 1
            if any(c.strip() for c in cells):
                header = [c.strip() for c in cells]
                break
        if header is None:
            raise CsvReadError("the file has no header row")
        yield CsvFile(
            header=header,
            rows=_data_rows(reader, first_number=number + 1, width=len(header)),
            encoding=encoding,
            delimiter=delimiter,
        )


def _first_nonblank_line(text: IO[str]) -> str | None:
    for line in text:
        if line.strip():
            return line
    return None


def _data_rows(
    reader: Iterable[list[str]], *, first_number: int, width: int
) -> Iterator[tuple[int, list[str]]]:
    strip = str.strip
    for number, cells in enumerate(reader, start=first_number):
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        elif len(cells) > width:
            cells = cells[:width]
        # map() keeps the per-row cost low: an import reads every row twice.
        cells = list(map(strip, cells))
        if any(cells):
            yield number, cells


# Numbers -----------------------------------------------------------------------------

_CURRENCY = r"(?:[₽$€£¥]|руб\.?|р\.|р|rub|rur|usd|eur)"
_NUMBER_RE = re.compile(
    rf"^{_CURRENCY}?\s*([-+−]?)\s*{_CURRENCY}?\s*([\d\s'’.,]*\d[\d\s'’.,]*?)\s*{_CURRENCY}?$",
    re.IGNORECASE,
)
_SPACES_RE = re.compile(r"[\s'’]")


def parse_decimal(raw: str) -> Decimal:
    """'1 234,50', '1234.5', '1,234.50', '-5 ₽', '990 руб.' -> Decimal. Raises ValueError.

    With both separators present the rightmost is the decimal one; a lone comma is
    decimal (the Russian way); repeated ones are thousands separators.
    """
    plain = raw.replace(" ", "").replace("\u00a0", "").replace(",", ".", 1)
    if plain.isascii() and plain.replace(".", "", 1).isdigit():
        # The common case ("1 234,50", "990", "12.5") without the regular expressions.
        return Decimal(plain)
    text = raw.strip().replace("\u00a0", " ").replace("\u202f", " ")
    match = _NUMBER_RE.match(text)
    if match is None:
        raise ValueError(raw)
    sign, body = match.groups()
    body = _SPACES_RE.sub("", body)
    commas, dots = body.count(","), body.count(".")
    if commas and dots:
        decimal_sep = "," if body.rfind(",") > body.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        body = body.replace(thousands, "").replace(decimal_sep, ".")
    elif commas:
        body = body.replace(",", ".") if commas == 1 else body.replace(",", "")
    elif dots > 1:
        body = body.replace(".", "")
    try:
        value = Decimal(body)
    except InvalidOperation as exc:
        raise ValueError(raw) from exc
    if not value.is_finite():
        raise ValueError(raw)
    return -value if sign in ("-", "−") else value


def parse_money(raw: str) -> Decimal:
    """A decimal rounded to kopecks (half up), as a money column stores it."""
    return parse_decimal(raw).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_int(raw: str) -> int:
    """An integer, tolerating '2,0' and '1 000'. Raises ValueError for fractions."""
    value = parse_decimal(raw)
    if value != value.to_integral_value():
        raise ValueError(raw)
    return int(value)


# Dates -------------------------------------------------------------------------------

_RU_DATE_RE = re.compile(
    r"^(\d{1,2})[./](\d{1,2})[./](\d{4})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)


def parse_datetime(raw: str, tz: ZoneInfo) -> dt.datetime:
    """'31.12.2024', '31.12.2024 14:30', '2024-12-31', ISO 8601 -> aware datetime.

    Naive values are wall-clock time in `tz`. Raises ValueError.
    """
    text = raw.strip()
    match = _RU_DATE_RE.match(text)
    if match is not None:
        day, month, year, hour, minute, second = match.groups()
        value = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=tz,
        )
    else:
        if not text[:4].isdigit():
            raise ValueError(raw)
        value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def parse_date(raw: str) -> dt.date:
    """'31.12.1990' or '1990-12-31' -> date. Raises ValueError."""
    text = raw.strip()
    match = _RU_DATE_RE.match(text)
    if match is not None and match.group(4) is None:
        day, month, year = match.group(1, 2, 3)
        return dt.date(int(year), int(month), int(day))
    return dt.date.fromisoformat(text)


# Writing -----------------------------------------------------------------------------


def safe_cell(value: object) -> str:
    """The cell as text, with a leading apostrophe if a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_write_safe(rows: Iterable[Sequence[object]], *, delimiter: str = ",") -> str:
    """CSV text of `rows` with every cell made safe by `safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
