"""Staged rows formatted for COPY in the reading thread land exactly as the values given."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from lifelong.events.csv_import.sql import StageTable, copy_text

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's"),
]

TABLE = StageTable(
    name="csv_copy_check",
    columns=(
        ("seq", "integer"),
        ("label", "text"),
        ("amount", "numeric(14, 2)"),
        ("at", "timestamp with time zone"),
    ),
)
# Text as a cell may hold it: the characters COPY's format escapes, Cyrillic, quotes; no NUL
# (the reader rejects such rows before anything is staged).
texts = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30
) | st.sampled_from(["\\", "\\N", "a\tb", "a\nb", "a\r\nb", "\\\\t", "Ёлка «ёж»"])
amounts = st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2)
# Hypothesis takes naive bounds and adds the zones itself.
moments = st.datetimes(
    min_value=dt.datetime(1990, 1, 1),  # noqa: DTZ001
    max_value=dt.datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from(
        [
            dt.UTC,
            dt.timezone(dt.timedelta(hours=3)),
            dt.timezone(dt.timedelta(hours=-9, minutes=-30)),
        ]
    ),
)


@settings(max_examples=40)
@given(
    rows=st.lists(
        st.tuples(st.none() | texts, st.none() | amounts, st.none() | moments), max_size=20
    )
)
def test_copy_text_stages_every_value_as_given(rows):
    numbered = [(seq, *row) for seq, row in enumerate(rows)]
    with transaction.atomic(), connection.cursor() as cursor:
        TABLE.create(cursor)
        TABLE.load(cursor, numbered, copy_text(numbered))
        cursor.execute("SELECT seq, label, amount, at FROM csv_copy_check ORDER BY seq")
        stored = cursor.fetchall()
        TABLE.drop(cursor)
    assert stored == numbered
