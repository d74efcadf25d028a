"""Login throttling per (username, IP), counted in the cache.

A fixed window starts at the first failure; once the limit is reached, further
attempts are refused without checking the password until the window ends.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def _key(username: str, ip: str) -> str:
    raw = f"{username.strip().lower()}|{ip}".encode()
    return "login-fail:" + hashlib.sha256(raw).hexdigest()


def login_blocked_for(*, username: str, ip: str) -> float | None:
    """Seconds until this (username, IP) may try again, or None when it may try now."""
    key = _key(username, ip)
    failures = cache.get(f"{key}:n", 0)
    if failures < settings.LOGIN_RATE_LIMIT:
        return None
    until = cache.get(f"{key}:until")
    if until is None:
        return None
    return max(0.0, until - time.time())


def login_failed(*, username: str, ip: str) -> None:
    key = _key(username, ip)
    window = settings.LOGIN_RATE_WINDOW_SECONDS
    # The cache expiry runs on the wall clock, so the window does too (not lifelong.clock).
    if cache.add(f"{key}:n", 1, timeout=window):
        cache.set(f"{key}:until", time.time() + window, timeout=window)
    else:
        try:
            cache.incr(f"{key}:n")
        except ValueError:  # expired between add() and incr()
            cache.add(f"{key}:n", 1, timeout=window)


def login_succeeded(*, username: str, ip: str) -> None:
    key = _key(username, ip)
    cache.delete_many([f"{key}:n", f"{key}:until"])
