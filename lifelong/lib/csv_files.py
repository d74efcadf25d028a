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
import enum
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from itertools import chain
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

DELIMITERS = (";", ",", "\t")
CHUNK = 1 << 20
CENT = Decimal("0.01")

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class CsvReadError(ValueError):
    """The file cannot be read as CSV text (empty file, no header)."""


# Decoding ------------------------------------------------------------------------------

# Bytes that decode to no character become lone surrogates (errors="surrogateescape"), so
# a row holding them can be found, reported and kept out of the database, and its other
# rows still read.
_UNSAFE_CHAR_RE = re.compile("[\x00\udc80-\udcff]")
# High bytes that Russian text in Windows-1251 is made of: the letters (Ё and ё included),
# no-break space, «», №, dashes, curly quotes and the ellipsis. UTF-8 read as Windows-1251
# ("РћР»СЊРіР°") is about half other bytes.
_CP1251_RUSSIAN = bytes(range(0xC0, 0x100)) + bytes(
    [0xA8, 0xB8, 0xA0, 0xAB, 0xBB, 0xB9, 0x96, 0x97, 0x84, 0x93, 0x94, 0x85, 0x91, 0x92]
)
_ASCII = bytes(range(0x80))


@dataclass(frozen=True)
class TextEncoding:
    """How a file's bytes become text, decided from all of them.

    `check_rows`: some bytes do not decode, or the text holds NUL characters; every row is
    then checked and those rows are reported instead of written. `unrecognised`: the file
    is mostly neither UTF-8 nor Russian Windows-1251 (most of its rows will be reported).
    """

    codec: str
    check_rows: bool = False
    unrecognised: bool = False

    @property
    def label(self) -> str:
        """The encoding's name as a spreadsheet's "Save as" dialog shows it."""
        return {"cp1251": "Windows-1251", "utf-16": "UTF-16"}.get(self.codec, "UTF-8")


def detect_encoding(stream: IO[bytes]) -> TextEncoding:
    """The file's encoding, from evidence over the whole stream.

    A byte-order mark decides (UTF-8, UTF-16 LE or BE). Otherwise the file is UTF-8 when
    its valid multi-byte characters outnumber the bytes that are not UTF-8: a UTF-8 file
    with a few damaged bytes stays UTF-8 and only the rows holding them are refused. A
    file that is mostly not UTF-8 is Windows-1251 when it reads as Russian text in it.
    The whole stream is read, not a sample: a Windows-1251 file may hold only ASCII for
    its first megabyte. Decoding runs in C at hundreds of MB/s, so this is cheap.
    """
    start = stream.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    else:
        codec = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(codec)(errors="surrogateescape")
    valid = bad = nul = 0
    chunk = start
    while True:
        final = not chunk
        text = decoder.decode(chunk, final=final)
        nul += text.count("\x00")
        if not text.isascii():
            # Encoding drops the surrogates that stand for bytes that did not decode.
            clean = len(text.encode("utf-8", "ignore").decode("utf-8"))
            bad += len(text) - clean
            # Every character that is neither ASCII nor a surrogate came from a valid sequence.
            valid += clean - len(text.encode("ascii", "ignore"))
        if final:
            break
        chunk = stream.read(CHUNK)
    if codec == "utf-16" or start.startswith(codecs.BOM_UTF8) or not bad or valid > bad:
        return TextEncoding(codec, check_rows=bool(bad or nul))
    stream.seek(0)
    high = other = undefined = 0
    while chunk := stream.read(CHUNK):
        high += len(chunk.translate(None, _ASCII))
        other += len(chunk.translate(None, _ASCII + _CP1251_RUSSIAN))
        undefined += chunk.count(b"\x98")  # the one byte Windows-1251 leaves undefined
    if not undefined and other * 10 <= high:
        return TextEncoding("cp1251", check_rows=bool(nul))
    return TextEncoding(codec, check_rows=True, unrecognised=True)


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header line into the most cells (`;` wins ties)."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def normalize_header(name: str) -> str:
    """Case-, space- and punctuation-insensitive form: 'E-mail ' -> 'email', 'Ё' -> 'е'."""
    folded = name.replace("\ufeff", "").casefold().replace("ё", "е")
    return "".join(ch for ch in folded if ch.isalnum())


# Reading -------------------------------------------------------------------------------

# A quoted cell that holds line breaks is normal (an address, a comment). One whose lines
# look like rows of the file, or that runs over this many lines, is a quote never closed.
MAX_CELL_LINES = 50


class Defect(enum.Enum):
    """What makes a row's cells untrustworthy as read."""

    UNDECODABLE = "undecodable"  # bytes that are not valid in the file's encoding
    NUL = "nul"  # a NUL character (a damaged file, or binary data)
    UNCLOSED_QUOTE = "unclosed_quote"  # a quote opened and not closed on its line
    CELL_TOO_LONG = "cell_too_long"  # a cell longer than the csv module reads


@dataclass(frozen=True)
class RowDefect:
    """Why a row cannot be imported as read; `column` is the index of the cell concerned.

    For an unclosed quote, `lines` is how many lines the quoted cell ran on over; those
    lines were read again as rows of their own, as if the quote had closed at the end of
    its line.
    """

    defect: Defect
    column: int
    lines: int = 0


@dataclass
class CsvFile:
    """An open CSV file: its header cells and an iterator of (row number, cells).

    Row numbers are what a spreadsheet shows: the header is row 1. Blank rows are skipped
    but still counted, so numbers keep matching the spreadsheet. `defects` holds, by row
    number, what is wrong with rows already produced by `rows` that are not to be trusted.
    """

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: TextEncoding
    delimiter: str
    header_row: int = 1
    header_defect: RowDefect | None = None
    defects: dict[int, RowDefect] = field(default_factory=dict)


@contextmanager
def csv_open(path: str | Path, *, encoding: TextEncoding | None = None) -> Iterator[CsvFile]:
    """Open a CSV file, detecting its encoding (unless given) and delimiter.

    Raises CsvReadError for a file with no header row. Rows that cannot be trusted
    (undecodable bytes, NUL, an unclosed quote) are produced with what could be read of
    them and listed in `defects`; the rows after them are read as usual.
    """
    if encoding is None:
        with open(path, "rb") as raw:
            encoding = detect_encoding(raw)
    errors = "surrogateescape" if encoding.check_rows else "strict"
    with open(path, encoding=encoding.codec, errors=errors, newline="") as text:
        header_line = _first_nonblank_line(text)
        if header_line is None:
            raise CsvReadError("the file is empty")
        delimiter = sniff_delimiter(header_line)
        text.seek(0)
        records = _Records(text, delimiter, check=encoding.check_rows)
        number = 0
        header: list[str] | None = None
        header_defect: RowDefect | None = None
        for cells, defect in records:
            number += 1
            if any(c.strip() for c in cells):
                header = [c.strip() for c in cells]
                header_defect = defect
                break
        if header is None:
            raise CsvReadError("the file has no header row")
        records.width = len(header)
        csv_file = CsvFile(
            header=header,
            rows=iter(()),
            encoding=encoding,
            delimiter=delimiter,
            header_row=number,
            header_defect=header_defect,
        )
        # Iterating the records again goes on after the header: the text keeps its place.
        csv_file.rows = _data_rows(records, first_number=number + 1, csv_file=csv_file)
        yield csv_file


def _first_nonblank_line(text: IO[str]) -> str | None:
    for line in text:
        if line.strip():
            return line
    return None


def _recorded(lines: Iterator[str], record: list[str]) -> Iterator[str]:
    """The lines, each also appended to `record` (the raw lines of the current record)."""
    append = record.append
    for line in lines:
        append(line)
        yield line


class _Records:
    """The file's records as (cells, defect or None), a quote left open recovered.

    csv.reader reads a quote that is never closed on to the next quote, taking in the
    rows between as one cell (or raises at its field size limit). Such a record is
    produced as its first line alone, with an UNCLOSED_QUOTE defect, and the lines it
    took in are read again as rows.
    """

    def __init__(self, text: IO[str], delimiter: str, *, check: bool) -> None:
        self.text = text
        self.delimiter = delimiter
        self.check = check
        self.width = 0  # cells in the header, once it is read

    def __iter__(self) -> Iterator[tuple[list[str], RowDefect | None]]:
        record: list[str] = []
        lines: Iterator[str] = iter(self.text)
        while True:
            reader = csv.reader(_recorded(lines, record), delimiter=self.delimiter)
            last = 0
            try:
                for cells in reader:
                    line = reader.line_num
                    if line - last > 1 and self._ran_away(cells):
                        break
                    last = line
                    record.clear()
                    yield cells, self._checked(cells) if self.check else None
                else:
                    return
            except csv.Error:
                if not record:
                    raise
            first, taken_in = record[0], record[1:]
            record.clear()
            yield self._broken(first, taken_in)
            # The lines taken in come again, then the rest of the file.
            lines = chain(taken_in, lines)

    def _ran_away(self, cells: list[str]) -> bool:
        need = max(1, self.width - 1)
        for cell in cells:
            if "\n" in cell or "\r" in cell:
                lines = cell.splitlines()
                if len(lines) > MAX_CELL_LINES:
                    return True
                if any(line.count(self.delimiter) >= need for line in lines[1:]):
                    return True
        return False

    def _broken(self, first: str, taken_in: list[str]) -> tuple[list[str], RowDefect]:
        try:
            cells = next(csv.reader([first], delimiter=self.delimiter), [])
        except csv.Error:
            cells = first.split(self.delimiter)
        if not cells:
            cells = [""]
        cells[-1] = cells[-1].rstrip("\r\n")
        if taken_in:
            # The quote opened in the last cell the first line gives.
            return cells, RowDefect(Defect.UNCLOSED_QUOTE, len(cells) - 1, lines=len(taken_in))
        longest = max(range(len(cells)), key=lambda position: len(cells[position]))
        return cells, RowDefect(Defect.CELL_TOO_LONG, longest)

    def _checked(self, cells: list[str]) -> RowDefect | None:
        for position, cell in enumerate(cells):
            match = _UNSAFE_CHAR_RE.search(cell)
            if match is not None:
                defect = Defect.NUL if match.group() == "\x00" else Defect.UNDECODABLE
                return RowDefect(defect, position)
        return None


def _data_rows(
    records: Iterable[tuple[list[str], RowDefect | None]], *, first_number: int, csv_file: CsvFile
) -> Iterator[tuple[int, list[str]]]:
    width = len(csv_file.header)
    defects = csv_file.defects
    strip = str.strip
    for number, (cells, defect) in enumerate(records, start=first_number):
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        elif len(cells) > width:
            cells = cells[:width]
        # map() keeps the per-row cost low: an import reads every row twice.
        cells = list(map(strip, cells))
        if defect is not None:
            defects[number] = defect
            yield number, cells
        elif any(cells):
            yield number, cells


def text_shown(value: str, *, limit: int = 1000) -> str:
    """A cell as a report can show and store it: bytes that did not decode as \\xNN,
    NUL as \\x00, and at most `limit` characters."""
    if _UNSAFE_CHAR_RE.search(value):
        value = (
            value.replace("\x00", "\\x00")
            .encode("utf-8", "surrogateescape")
            .decode("utf-8", "backslashreplace")
        )
    return value if len(value) <= limit else value[: limit - 1] + "…"


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
    """A decimal rounded to kopecks (half up), as a money column stores it. Raises ValueError."""
    value = parse_decimal(raw)
    try:
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        # More digits than the context holds: quantized with room for them, the amount is
        # then refused as too large rather than unreadable.
        digits = Context(prec=value.adjusted() + 4)
        return value.quantize(CENT, rounding=ROUND_HALF_UP, context=digits)


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
