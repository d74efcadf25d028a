"""The per-field checks every way in shares (events.field_limits): emails, birthdays,
currencies, names, text and JSON, discounts."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifelong.events.field_limits import (
    CURRENCIES,
    FieldLimitError,
    birthday_check,
    currency_check,
    discount_check,
    email_check,
    json_check,
    name_check,
    text_check,
)

TODAY = dt.date(2026, 3, 2)


@pytest.mark.parametrize(
    "value",
    ["anna@example.ru", "Anna.P+shop@mail.example.ru", "o'brien@x.co", "иван@почта.рф"],
)
def test_plain_addresses_pass(value):
    assert email_check(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "a@@b",
        "a@",
        "@b.ru",
        "<a@b.ru>",
        "Anna <a@b.ru>",
        "a@b.ru,c@d.ru",
        "a@b.ru;c@d.ru",
        "a@b.ru\r\nbcc: victim@d.ru",
        "a@b.ru\n",
        "a b@c.ru",
        "a@b",
        "a@b.123",
        ".a@b.ru",
        "a.@b.ru",
        "a..b@c.ru",
        "a@-b.ru",
        "a@b_c.ru",
        '"a"@b.ru',
        "a(comment)@b.ru",
        "a@[127.0.0.1]",
        "x" * 65 + "@b.ru",
        "a@" + "b" * 250 + ".ru",
    ],
)
def test_anything_but_one_plain_address_is_refused(value):
    with pytest.raises(FieldLimitError):
        email_check(value)


@given(st.text(max_size=300))
def test_an_accepted_address_is_one_line_with_one_at_and_nothing_a_header_could_split_on(value):
    try:
        email_check(value)
    except FieldLimitError:
        return
    assert value.count("@") == 1 and len(value) <= 254
    assert not any(ch.isspace() or ch in '<>,;:"()[]\\' for ch in value)
    local, domain = value.split("@")
    assert local and "." in domain and not domain.startswith(".")


@given(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_birthdays_run_from_1900_to_today(value):
    if dt.date(1900, 1, 1) <= value <= TODAY:
        assert birthday_check(value, today=TODAY) == value
    else:
        with pytest.raises(FieldLimitError):
            birthday_check(value, today=TODAY)


def test_currencies_are_iso_4217_codes_in_use():
    assert {"RUB", "USD", "EUR", "KZT", "BYN"} <= CURRENCIES
    assert currency_check("RUB") == "RUB"
    for code in ("ZZZ", "rub", "RUR", "XXX", "XAU", "RUBL", ""):
        with pytest.raises(FieldLimitError):
            currency_check(code)


def test_names_are_trimmed_and_never_blank():
    assert name_check("  Коврик  ") == "Коврик"
    for blank in ("", "   ", "\t\n", "\u00a0"):
        with pytest.raises(FieldLimitError):
            name_check(blank)


@given(st.text())
def test_text_passes_exactly_when_every_database_can_store_it(value):
    storable = "\x00" not in value and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    if storable:
        assert text_check(value) == value
    else:
        with pytest.raises(FieldLimitError):
            text_check(value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(JSON)
def test_json_that_passes_is_strict_json(value):
    try:
        json_check(value)
    except FieldLimitError:
        return
    encoded = json.dumps(value, allow_nan=False)  # raises for NaN or an infinity
    assert "\\u0000" not in encoded


@pytest.mark.parametrize(
    "value", [{"a": math.nan}, {"a": [math.inf]}, {"a\x00": 1}, {"a": {"b": "c\x00"}}]
)
def test_json_with_nan_infinity_or_nul_is_refused(value):
    with pytest.raises(FieldLimitError):
        json_check(value)


def test_json_nesting_is_bounded():
    deep: dict = {}
    for _ in range(20):
        deep = {"a": deep}
    with pytest.raises(FieldLimitError):
        json_check(deep)


@given(
    st.decimals(min_value=0, max_value=10**6, places=2),
    st.decimals(min_value=0, max_value=10**6, places=2),
)
def test_a_discount_never_exceeds_its_subtotal(discount, subtotal):
    if discount <= subtotal:
        assert discount_check(discount, subtotal=subtotal) == discount
    else:
        with pytest.raises(FieldLimitError):
            discount_check(discount, subtotal=subtotal)
    assert discount_check(Decimal("0"), subtotal=Decimal("0")) == 0
