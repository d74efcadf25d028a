"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps).

This is what every authenticator app speaks. Codes follow the wall clock of the
staff member's phone, so they are checked against time.time(), never lifelong.clock
(a simulated clock would make every code wrong).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
# One step either side: a phone clock a few seconds off, or a code typed as it rolls over.
DRIFT_STEPS = 1


def totp_secret_new() -> str:
    """A fresh 160-bit secret in base32, as authenticator apps take it."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def totp_step(at: float) -> int:
    return int(at // STEP_SECONDS)


def totp_code(secret: str, step: int, *, digits: int = DIGITS) -> str:
    """The code for one time step (RFC 4226 dynamic truncation of HMAC-SHA1)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp_match(secret: str, code: str, *, at: float) -> int | None:
    """The time step whose code this is, allowing a step of drift, or None."""
    code = code.replace(" ", "").strip()
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = totp_step(at)
    for step in (now, now - DRIFT_STEPS, now + DRIFT_STEPS):
        if hmac.compare_digest(totp_code(secret, step), code):
            return step
    return None


def otpauth_uri(*, secret: str, account: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app scans from the QR code."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
