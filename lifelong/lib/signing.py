"""Signed tokens for links that customers open without logging in.

A token names one customer (and optionally one object) under a purpose salt, so a
token for the preferences page cannot open anything else.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing


def token_make(*, purpose: str, value: str | int) -> str:
    return signing.dumps(str(value), salt=f"lifelong.{purpose}", compress=False)


def token_read(*, purpose: str, token: str, max_age_days: int | None = None) -> str | None:
    """The signed value, or None for a forged, foreign or expired token."""
    try:
        value: str = signing.loads(
            token,
            salt=f"lifelong.{purpose}",
            max_age=None if max_age_days is None else max_age_days * 86400,
        )
    except signing.BadSignature:
        return None
    return value


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path
