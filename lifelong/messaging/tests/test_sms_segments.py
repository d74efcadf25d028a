"""The SMS segment counter against hand-counted texts and against a reference that really
encodes the text (septets or UTF-16 bytes) and cuts it into segments."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifelong.messaging.sms_segments import GSM_BASIC, GSM_EXTENSION, SmsCount, sms_count

ESC = "\x1b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsCount("gsm7", 0, 0, 160)),
        ("a" * 160, SmsCount("gsm7", 160, 1, 0)),
        ("a" * 161, SmsCount("gsm7", 161, 2, 145)),
        ("a" * 306, SmsCount("gsm7", 306, 2, 0)),
        ("a" * 307, SmsCount("gsm7", 307, 3, 152)),
        # Extension characters take two places.
        ("€" * 80, SmsCount("gsm7", 160, 1, 0)),
        ("{" * 81, SmsCount("gsm7", 162, 2, 143)),
        # One Cyrillic letter makes the whole text UCS-2.
        ("Привет", SmsCount("ucs2", 6, 1, 64)),
        ("a" * 69 + "ё", SmsCount("ucs2", 70, 1, 0)),
        ("я" * 71, SmsCount("ucs2", 71, 2, 63)),
        ("я" * 134, SmsCount("ucs2", 134, 2, 0)),
        ("я" * 135, SmsCount("ucs2", 135, 3, 66)),
        # An emoji is two UCS-2 units a segment does not split.
        ("я" * 66 + "🙂" + "я" * 3, SmsCount("ucs2", 71, 2, 62)),
        # A form's CRLF is one line break.
        ("a\r\nb", SmsCount("gsm7", 3, 1, 157)),
    ],
    ids=lambda value: repr(value)[:24],
)
def test_hand_counted(text, expected):
    assert sms_count(text) == expected


def test_the_review_email_by_sms_was_seven_segments_a_short_text_is_one_or_two():
    email = "Ирина, здравствуйте! " + "Спасибо за первый заказ! " * 16
    assert sms_count(email).segments >= 6
    short = "Ирина, спасибо за первый заказ! Если что-то не так — напишите нам, разберёмся."
    assert sms_count(short).segments == 2


# --- the reference: encode, then cut ---------------------------------------------------------


def _reference(text: str) -> tuple[str, int, int]:
    text = text.replace("\r\n", "\n")
    units: list[str] | list[bytes]
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        units = [u for ch in text for u in ((ESC, ch) if ch in GSM_EXTENSION else (ch,))]
        single, each, encoding = 160, 153, "gsm7"

        def splits_pair(chunk: list[Any]) -> bool:
            return bool(chunk[-1] == ESC)
    else:
        raw = text.encode("utf-16-be")
        units = [raw[i : i + 2] for i in range(0, len(raw), 2)]
        single, each, encoding = 70, 67, "ucs2"

        def splits_pair(chunk: list[Any]) -> bool:
            return bool(0xD8 <= chunk[-1][0] <= 0xDB)  # a high surrogate

    if len(units) <= single:
        return encoding, len(units), 1 if units else 0
    segments, rest = 0, units
    while rest:
        chunk = rest[:each]
        if len(rest) > each and splits_pair(chunk):
            chunk = chunk[:-1]
        rest = rest[len(chunk) :]
        segments += 1
    return encoding, len(units), segments


ALPHABET = st.sampled_from(
    sorted(GSM_BASIC - {"\r"})
    + sorted(GSM_EXTENSION)
    + list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяЁЖЯ«»—–№")
    + ["🙂", "👍", "𝄞", "\u00a0"]
)


@given(st.lists(ALPHABET, max_size=500).map("".join))
def test_agrees_with_encoding_and_cutting(text):
    count = sms_count(text)
    assert (count.encoding, count.length, count.segments) == _reference(text)


@given(st.text(alphabet=sorted(GSM_BASIC - {"\r"}), max_size=400))
def test_latin_text_is_gsm7_and_one_place_a_character(text):
    count = sms_count(text)
    assert count.encoding == "gsm7" and count.length == len(text)
