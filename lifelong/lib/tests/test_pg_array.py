"""pg_array's literals read back in PostgreSQL as the values that went in."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib.pg_array import pg_array

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="arrays are PostgreSQL's"),
]

# PostgreSQL's text holds any character but NUL (and lone surrogates are not UTF-8).
texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
# hypothesis takes naive bounds and adds the zone itself.
earliest, latest = dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)  # noqa: DTZ001
moments = st.datetimes(min_value=earliest, max_value=latest, timezones=st.just(dt.UTC))


def _read_back(values: list[object], sql_type: str) -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{sql_type}[]", [pg_array(values)])
        return list(cursor.fetchone()[0])


@given(st.lists(st.one_of(st.none(), texts), max_size=30))
def test_text_comes_back_as_it_went(values):
    assert _read_back(values, "text") == values


@given(st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=30))
def test_integers_and_nulls_come_back(values):
    assert _read_back(values, "bigint") == values


@given(st.lists(st.one_of(st.none(), st.booleans()), max_size=30))
def test_booleans_come_back(values):
    assert _read_back(values, "bool") == values


@given(st.lists(st.one_of(st.none(), moments), max_size=30))
def test_moments_come_back_at_the_same_instant(values):
    assert _read_back(values, "timestamptz") == values


def test_json_text_casts_to_jsonb():
    # Django reads jsonb back as text and decodes it itself.
    read = _read_back(['{"a": [1, "b \\"c\\""]}', "{}", None], "jsonb")
    assert [None if v is None else json.loads(str(v)) for v in read] == [
        {"a": [1, 'b "c"']},
        {},
        None,
    ]


def test_empty_list_and_unknown_types():
    assert _read_back([], "text") == []
    with pytest.raises(TypeError):
        pg_array([1.5])
