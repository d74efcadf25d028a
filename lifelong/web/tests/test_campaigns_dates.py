"""The form's calendar dates: whatever days a marketer picks, written as the form shows them
(«8.03, 19.03»), they read back as the same stored "MM-DD" dates; nonsense is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django import forms
from hypothesis import given
from hypothesis import strategies as st

from lifelong.web.forms_campaigns import dates_parse, dates_text

# Every day of a leap year: 29 February is a calendar date too (the 28th in other years).
DAYS = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2000, 12, 31))


@given(st.sets(DAYS, min_size=1, max_size=12))
def test_dates_read_back_as_they_were_shown(days):
    stored = sorted(f"{d.month:02d}-{d.day:02d}" for d in days)
    assert dates_parse(dates_text(stored)) == stored
    # The stored form is accepted as typed too, in any order and with any separators.
    assert dates_parse(" ; ".join(reversed(stored))) == stored


@pytest.mark.parametrize("raw", ["31.02", "0.05", "32.01", "12.13", "завтра", "8/03"])
def test_a_day_that_does_not_exist_is_refused(raw):
    with pytest.raises(forms.ValidationError):
        dates_parse(raw)
