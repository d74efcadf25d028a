"""`lifelong feedback tag FILE.csv` and `lifelong feedback suggest FILE.csv`.

The CSV has a column `text` and optionally `score` (NPS 0–10, or CSAT 1–5 with --scale
csat; a column `scale` overrides it per row). Tagging uses the themes and rules in the
database and the staff users' names, exactly as the app does. With --evaluate the file also
carries hand labels (`themes`, separated by ";", and `sentiment`), and the command prints
precision and recall per theme instead of the tags.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from lifelong.feedback.evaluation import evaluate
from lifelong.feedback.selectors import rule_index_current, staff_names, staff_names_parse
from lifelong.feedback.suggestions import themes_suggest
from lifelong.feedback.themes import Tagging, tag


class CsvError(ValueError):
    pass


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if "text" not in (reader.fieldnames or ()):
            raise CsvError(f"{path}: no column named 'text'")
        return list(reader)


def _score(row: dict[str, str], line: int) -> int | None:
    raw = (row.get("score") or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise CsvError(f"line {line}: score {raw!r} is not a whole number") from None


def tag_file(
    path: Path, *, scale: str = "nps", staff: Sequence[str] = ()
) -> tuple[list[dict[str, str]], list[Tagging]]:
    """Every row of the file and its tagging."""
    rows = _rows(path)
    index = rule_index_current()
    people = staff_names_parse(staff) if staff else staff_names()
    taggings = []
    for line, row in enumerate(rows, start=2):
        row_scale = (row.get("scale") or "").strip().lower() or scale
        try:
            taggings.append(
                tag(
                    row["text"] or "", index, score=_score(row, line), scale=row_scale, staff=people
                )
            )
        except ValueError as error:
            raise CsvError(f"line {line}: {error}") from None
    return rows, taggings


def tag_command(
    path: Path,
    *,
    scale: str = "nps",
    staff: Sequence[str] = (),
    evaluate_labels: bool = False,
    minimum: float | None = None,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    try:
        rows, taggings = tag_file(path, scale=scale, staff=staff)
    except (CsvError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not evaluate_labels:
        for line, tagging in enumerate(taggings, start=2):
            print(json.dumps({"line": line, **tagging.as_json()}, ensure_ascii=False), file=out)
        return 0
    expected = [
        (
            frozenset(s.strip() for s in (row.get("themes") or "").split(";") if s.strip()),
            (row.get("sentiment") or "").strip(),
        )
        for row in rows
    ]
    found = [(frozenset(t.themes), t.sentiment) for t in taggings]
    slugs = sorted({slug for themes, _ in expected for slug in themes})
    report = evaluate(expected, found, slugs)
    for text_line in report.lines():
        print(text_line, file=out)
    if minimum is not None and any(min(s.precision, s.recall) < minimum for s in report.themes):
        return 1
    return 0


def suggest_command(
    path: Path, *, min_count: int = 3, limit: int = 10, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    try:
        rows = _rows(path)
    except (CsvError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    texts = [row["text"] or "" for row in rows]
    for suggestion in themes_suggest(texts, rule_index_current(), min_count=min_count, limit=limit):
        print(
            json.dumps(
                {
                    "words": list(suggestion.words),
                    "count": suggestion.count,
                    "examples": list(suggestion.examples),
                },
                ensure_ascii=False,
            ),
            file=out,
        )
    return 0
