"""Reviews from a CSV file (a spreadsheet of Yandex Maps, 2GIS or marketplace reviews) into
the conversations inbox: each row as `review_record` would take it from the API, so a file
imported twice records each review once.

Columns: `source` (yandex_maps, 2gis, marketplace, other), `external_id` (the review's id on
the site), `text`; optional `rating` (1–5), `author`, `url`, `published_at`,
`customer_external_id`. The file is read by the shared CSV reader (UTF-8 or Windows-1251,
`;` or `,`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings

from lifelong.customers.selectors import customers_by_external_id
from lifelong.feedback.inbox import InboxError, review_record
from lifelong.lib.csv_files import CsvReadError, csv_open, normalize_header, parse_datetime

MAX_ROWS = 5000
COLUMNS = (
    "source",
    "external_id",
    "text",
    "rating",
    "author",
    "url",
    "published_at",
    "customer_external_id",
)
REQUIRED = ("source", "external_id", "text")
# "External ID", "external_id" and "externalid" all name one column.
_BY_HEADER = {normalize_header(name): name for name in COLUMNS}


@dataclass
class ReviewsImport:
    created: int = 0
    duplicates: int = 0
    # (row number as the spreadsheet shows it, what is wrong)
    errors: list[tuple[int, str]] = field(default_factory=list)


def reviews_import(*, path: Path) -> ReviewsImport:
    """Record every good row; a bad row is reported by its number and the rest go on."""
    result = ReviewsImport()
    zone = ZoneInfo(settings.TIME_ZONE)
    try:
        with csv_open(path) as csv_file:
            header = [_BY_HEADER.get(normalize_header(name), "") for name in csv_file.header]
            missing = [name for name in REQUIRED if name not in header]
            if missing:
                result.errors.append((1, "missing columns: " + ", ".join(missing)))
                return result
            rows: list[tuple[int, dict[str, str]]] = []
            for number, cells in csv_file.rows:
                if len(rows) >= MAX_ROWS:
                    result.errors.append((number, f"more than {MAX_ROWS} rows: the rest skipped"))
                    break
                if number in csv_file.defects:
                    result.errors.append((number, "the row cannot be read"))
                    continue
                rows.append((number, dict(zip(header, cells, strict=False))))
    except CsvReadError as exc:
        result.errors.append((1, str(exc)))
        return result
    ids = {row.get("customer_external_id", "") for _, row in rows} - {""}
    customers = customers_by_external_id(ids) if ids else {}
    for number, row in rows:
        try:
            rating = int(row["rating"]) if row.get("rating") else None
            published = (
                parse_datetime(row["published_at"], zone) if row.get("published_at") else None
            )
            _item, created = review_record(
                source=row["source"],
                external_id=row["external_id"],
                customer=customers.get(row.get("customer_external_id", "")),
                text=row["text"],
                rating=rating,
                author=row.get("author", ""),
                url=row.get("url", ""),
                published_at=published,
            )
        except (InboxError, ValueError) as exc:
            result.errors.append((number, str(exc)))
            continue
        if created:
            result.created += 1
        else:
            result.duplicates += 1
    return result
