"""Tokens for links that customers open without logging in.

A token is a value (a customer id, "customer:channel", a link id) and the second it was
made, sealed with AES-SIV (RFC 5297) under a key derived from SECRET_KEY, with the
purpose as associated data. It reveals nothing, not even the customer id; it cannot be
forged; and a token made for one purpose (a click) opens nothing else (the preferences).
Nothing is stored per link, so millions of customers cost no rows.

SIV rather than GCM: SIV needs no nonce. Random 96-bit GCM nonces may repeat once a
key has sealed a few billion tokens (years of mail to millions of customers, several
links each), and one repeat gives away GCM's authentication key. SIV is deterministic:
the same value made in the same second seals to the same token, which tells nothing new.

Mail sent before tokens were sealed carries Django-signed ones (`value:time:signature`,
the value in clear). They are still read, with their own signed time, so links already
in mailboxes live exactly as long as new ones of their kind; none are made any more.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core import signing
from django.utils.encoding import force_bytes

from lifelong import clock

_TIME = 4  # bytes of Unix seconds before the value: enough until 2106
_TAG = 16  # AES-SIV's synthetic IV, which is also its authentication tag
# No link we make carries a value this long; anything longer is refused before decoding.
_MAX_TOKEN = 400
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class OpenedToken:
    value: str
    made_at: dt.datetime

    def older_than(self, *, days: int) -> bool:
        return clock.now() - self.made_at > dt.timedelta(days=days)


@functools.lru_cache(maxsize=8)
def _cipher(secret: bytes) -> AESSIV:
    # A key of its own for link tokens: SECRET_KEY also signs sessions and other things.
    key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"lifelong.link-token")
    return AESSIV(key.derive(secret))


def _secrets() -> list[bytes]:
    # The fallbacks keep links working for a while after SECRET_KEY is rotated.
    return [force_bytes(key) for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]


def token_make(*, purpose: str, value: str | int) -> str:
    made = int(clock.now().timestamp()).to_bytes(_TIME, "big")
    sealed = _cipher(force_bytes(settings.SECRET_KEY)).encrypt(
        made + str(value).encode(), [purpose.encode()]
    )
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def token_open(*, purpose: str, token: str) -> OpenedToken | None:
    """The value and making time, or None for a forged, damaged or foreign token.

    Says nothing about age: the caller decides how long its kind of link lives, and may
    still greet the customer whose link has run out.
    """
    if len(token) > _MAX_TOKEN:
        return None
    if ":" in token:
        return _signed_open(purpose=purpose, token=token)
    # One character past a multiple of four is no base64 at all (the decoder raises).
    if not _BASE64URL.fullmatch(token) or len(token) % 4 == 1:
        return None
    sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    if len(sealed) < _TAG + _TIME:
        return None
    for secret in _secrets():
        try:
            plain = _cipher(secret).decrypt(sealed, [purpose.encode()])
        except InvalidTag:
            continue
        made = dt.datetime.fromtimestamp(int.from_bytes(plain[:_TIME], "big"), tz=dt.UTC)
        return OpenedToken(value=plain[_TIME:].decode(), made_at=made)
    return None


def _signed_open(*, purpose: str, token: str) -> OpenedToken | None:
    """A token from before the sealed ones: signed by Django, with its time in base 62."""
    try:
        value = signing.loads(token, salt=f"lifelong.{purpose}")
    except signing.BadSignature:
        return None
    if not isinstance(value, str):
        return None
    made = signing.b62_decode(token.rsplit(":", 2)[1])
    return OpenedToken(value=value, made_at=dt.datetime.fromtimestamp(made, tz=dt.UTC))


def token_read(*, purpose: str, token: str, max_age_days: int | None = None) -> str | None:
    """The value, or None for a forged, foreign or (with max_age_days) expired token."""
    opened = token_open(purpose=purpose, token=token)
    if opened is None or (max_age_days is not None and opened.older_than(days=max_age_days)):
        return None
    return opened.value


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path
