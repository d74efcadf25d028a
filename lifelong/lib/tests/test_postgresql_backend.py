"""Our backend reads timestamps as Django's own loader does: the same instants, with
Django's tzinfo object; what is not ISO goes to Django's loader."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib.postgresql.base import IsoTzLoader

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the backend is PostgreSQL's"),
]

# hypothesis takes naive bounds and adds the zone itself; fractions of a second included.
earliest, latest = dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30)  # noqa: DTZ001
moments = st.datetimes(min_value=earliest, max_value=latest, timezones=st.just(dt.UTC))
offsets = st.integers(-15 * 60, 15 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


def _read(sql: str, params: list[Any], loader: type | None = None) -> Any:
    with connection.cursor() as cursor:
        if loader is not None:
            # Django's loader, set up as Django sets it up for its connections.
            django_loader = type("Django", (loader,), {"timezone": connection.timezone})
            cursor.cursor.adapters.register_loader("timestamptz", django_loader)
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_the_connections_use_it():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        loader = cursor.cursor.adapters.get_loader(1184, 0)  # timestamptz, as text
    assert issubclass(loader, IsoTzLoader)


@given(moments, offsets)
def test_a_timestamp_reads_as_django_reads_it(moment, offset):
    # Written in any offset, read back in the session's (Django's: UTC).
    sql = "SELECT %s::timestamptz"
    ours = _read(sql, [moment.astimezone(offset)])
    assert ours == _read(sql, [moment], BaseTzLoader) == moment
    assert ours.tzinfo is connection.timezone


def test_infinity_and_other_date_styles_fail_as_with_django_s_loader():
    moment = dt.datetime(2026, 3, 2, 10, 30, 15, 250, tzinfo=dt.UTC)
    for loader in (None, BaseTzLoader):
        with pytest.raises(DataError, match="after year 10K"):
            _read("SELECT 'infinity'::timestamptz", [], loader)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL DateStyle TO 'German'")
    assert _read("SELECT %s::timestamptz::text", [moment]).startswith("02.03.2026")
    for loader in (None, BaseTzLoader):
        with pytest.raises(NotImplementedError, match="DateStyle 'German"):
            _read("SELECT %s::timestamptz", [moment], loader)
