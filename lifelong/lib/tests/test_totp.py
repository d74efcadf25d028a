"""TOTP against the RFC 6238 test vectors, and the window it accepts."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib.totp import (
    STEP_SECONDS,
    otpauth_uri,
    totp_code,
    totp_match,
    totp_secret_new,
    totp_step,
)

# RFC 6238 appendix B, SHA-1 column: the seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc_6238_vectors(at, code):
    assert totp_code(RFC_SECRET, totp_step(at), digits=8) == code


def test_six_digit_codes_are_the_last_six_of_the_vector():
    assert totp_code(RFC_SECRET, totp_step(59)) == "287082"


def test_a_code_is_accepted_one_step_either_side_and_no_further():
    secret = totp_secret_new()
    step = 1_000_000
    code = totp_code(secret, step)
    assert totp_match(secret, code, at=(step + 1) * STEP_SECONDS) == step
    assert totp_match(secret, code, at=(step - 1) * STEP_SECONDS) == step
    assert totp_match(secret, code, at=(step + 2) * STEP_SECONDS) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦"])
def test_malformed_codes_are_refused(typed):
    assert totp_match(RFC_SECRET, typed, at=59) is None


@given(step=st.integers(min_value=1, max_value=2**40), offset=st.floats(0, STEP_SECONDS - 0.001))
def test_the_current_code_matches_anywhere_in_its_step(step, offset):
    secret = RFC_SECRET
    code = totp_code(secret, step)
    # Spaces, as apps show the code in two groups, do not matter.
    assert totp_match(secret, f"{code[:3]} {code[3:]}", at=step * STEP_SECONDS + offset) == step


def test_fresh_secrets_are_160_bits_of_base32():
    secret = totp_secret_new()
    assert len(base64.b32decode(secret)) == 20
    assert secret != totp_secret_new()


def test_otpauth_uri_names_the_issuer_and_account():
    uri = otpauth_uri(secret="JBSWY3DPEHPK3PXP", account="ольга", issuer="Lifelong")
    assert uri.startswith("otpauth://totp/Lifelong%3A%D0%BE%D0%BB%D1%8C%D0%B3%D0%B0?")
    assert "secret=JBSWY3DPEHPK3PXP" in uri and "issuer=Lifelong" in uri and "period=30" in uri
