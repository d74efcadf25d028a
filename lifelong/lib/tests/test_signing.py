"""Link tokens: sealed (nothing readable), bound to their purpose, dated, and rotatable."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import time_machine
from django.core import signing
from hypothesis import given
from hypothesis import strategies as st

from lifelong.factories import damaged
from lifelong.lib.signing import token_make, token_open, token_read

purposes = st.sampled_from(["unsubscribe", "preferences", "click", "open"])
values = st.one_of(st.integers(min_value=0, max_value=2**63), st.text(max_size=60))


def _bytes(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@given(purpose=purposes, value=values)
def test_a_token_reads_back_as_its_value(purpose, value):
    assert token_read(purpose=purpose, token=token_make(purpose=purpose, value=value)) == str(value)


@given(made_for=purposes, read_as=purposes, value=values)
def test_a_token_opens_nothing_but_its_purpose(made_for, read_as, value):
    token = token_make(purpose=made_for, value=value)
    assert (token_read(purpose=read_as, token=token) is None) == (made_for != read_as)


@given(value=values, data=st.data())
def test_any_changed_bit_is_refused(value, data):
    raw = bytearray(_bytes(token_make(purpose="preferences", value=value)))
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    assert token_read(purpose="preferences", token=_text(bytes(raw))) is None


@given(customer_id=st.integers(min_value=10**8, max_value=10**12))
def test_the_customer_id_is_not_in_the_token(customer_id):
    token = token_make(purpose="unsubscribe", value=f"{customer_id}:email")
    assert str(customer_id) not in token
    assert str(customer_id).encode() not in _bytes(token)
    assert b"email" not in _bytes(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "abcde",
        "abc",
        "a" * 401,
        "not base64!",
        "%00",
        "....",
        "a:b",
        "a:b:c",
        "ab" * 20 + "/x",
    ],
)
def test_garbage_is_refused(token):
    assert token_open(purpose="preferences", token=token) is None


def test_age_is_counted_from_the_making():
    with time_machine.travel("2026-03-02 10:00:00+00:00", tick=False) as traveller:
        token = token_make(purpose="preferences", value=7)
        opened = token_open(purpose="preferences", token=token)
        assert opened is not None
        assert opened.made_at == dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
        traveller.shift(dt.timedelta(days=60))
        assert token_read(purpose="preferences", token=token, max_age_days=60) == "7"
        traveller.shift(dt.timedelta(seconds=1))
        assert token_read(purpose="preferences", token=token, max_age_days=60) is None
        assert token_read(purpose="preferences", token=token) == "7"


def test_links_already_in_mailboxes_keep_their_signed_time():
    # The format every link had before tokens were sealed: Django's signing.dumps.
    with time_machine.travel("2026-03-02 10:00:00+00:00", tick=False) as traveller:
        old = signing.dumps("42:email", salt="lifelong.unsubscribe", compress=False)
        traveller.shift(dt.timedelta(days=365))
        opened = token_open(purpose="unsubscribe", token=old)
        assert opened is not None
        assert opened.value == "42:email"
        assert opened.made_at == dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
        assert token_read(purpose="unsubscribe", token=old, max_age_days=365) == "42:email"
        assert token_read(purpose="unsubscribe", token=old, max_age_days=364) is None
        assert token_read(purpose="preferences", token=old) is None
        assert token_read(purpose="unsubscribe", token=damaged(old)) is None


def test_old_key_still_opens_after_rotation(settings):
    token = token_make(purpose="preferences", value=7)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert token_read(purpose="preferences", token=token) is None
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert token_read(purpose="preferences", token=token) == "7"
    # New tokens are made with the new key only.
    fresh = token_make(purpose="preferences", value=7)
    settings.SECRET_KEY_FALLBACKS = []
    assert token_read(purpose="preferences", token=fresh) == "7"
