"""Throttling in the cache: failed sign-ins (four ways at once) and customer pages per address.

- per username and address: someone who mistypes, or one attacker on one account;
- per username from anywhere: many addresses guessing one account's password;
- per address: one address trying many usernames;
- overall: a guessing campaign from everywhere at once.

Usernames are counted as Django authenticates them: NFKC-normalised (full-width
letters name the same account) and case-folded. A fixed window starts at a bucket's
first failure; once any bucket is full, attempts are refused without checking the
password until its window ends. Failed two-factor codes count like failed passwords.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata

from django.conf import settings
from django.core.cache import cache


def username_normalize(username: str) -> str:
    return unicodedata.normalize("NFKC", username.strip()).casefold()


def _key(*parts: str) -> str:
    return "login-fail:" + hashlib.sha256("|".join(parts).encode()).hexdigest()


def _buckets(username: str, ip: str | None) -> list[tuple[str, int]]:
    name, address = username_normalize(username), ip or ""
    return [
        (_key("pair", name, address), settings.LOGIN_RATE_LIMIT),
        (_key("user", name), settings.LOGIN_USER_RATE_LIMIT),
        (_key("ip", address), settings.LOGIN_IP_RATE_LIMIT),
        (_key("all"), settings.LOGIN_GLOBAL_RATE_LIMIT),
    ]


def login_blocked_for(*, username: str, ip: str | None) -> float | None:
    """Seconds until this username may try again from this address, or None when it may now."""
    buckets = _buckets(username, ip)
    counts = cache.get_many([f"{key}:n" for key, _limit in buckets])
    full = [key for key, limit in buckets if counts.get(f"{key}:n", 0) >= limit]
    if not full:
        return None
    ends = cache.get_many([f"{key}:until" for key in full]).values()
    if not ends:
        return None
    return max(0.0, max(ends) - time.time())


def _count(key: str, window: int | None = None) -> int:
    window = window or settings.LOGIN_RATE_WINDOW_SECONDS
    # The cache expiry runs on the wall clock, so the window does too (not lifelong.clock).
    if cache.add(f"{key}:n", 1, timeout=window):
        cache.set(f"{key}:until", time.time() + window, timeout=window)
        return 1
    try:
        return cache.incr(f"{key}:n")
    except ValueError:  # expired between add() and incr()
        cache.add(f"{key}:n", 1, timeout=window)
        return 1


def login_failed(*, username: str, ip: str | None) -> None:
    for key, _limit in _buckets(username, ip):
        _count(key)


def login_succeeded(*, username: str, ip: str | None) -> None:
    """Forget this person's own mistakes; the wider buckets run out on their own."""
    key, _limit = _buckets(username, ip)[0]
    cache.delete_many([f"{key}:n", f"{key}:until"])


def password_reset_allowed(*, email: str, ip: str | None) -> bool:
    """Count one reset request: False once this mailbox or address asked too often.

    Each request sends a mail, so this keeps the form from flooding a staff mailbox.
    """
    limit = settings.LOGIN_RATE_LIMIT
    by_mailbox = _count(_key("reset", email.strip().casefold()))
    by_address = _count(_key("reset-ip", ip or ""))
    return by_mailbox <= limit and by_address <= limit


def portal_blocked_for(*, ip: str) -> float | None:
    """Count one customer-page request from this address; seconds to wait once over the limit.

    Every request counts, not just failures: the pages are cheap to ask for and some write.
    """
    key = f"portal:{ip}"
    if _count(key, settings.PORTAL_RATE_WINDOW_SECONDS) <= settings.PORTAL_RATE_LIMIT:
        return None
    until = cache.get(f"{key}:until")
    return 0.0 if until is None else max(0.0, until - time.time())


# "Send a test" on a channel calls the provider (and may send a paid SMS) each time.
CHANNEL_TEST_LIMIT = 10
CHANNEL_TEST_WINDOW_SECONDS = 600


def channel_test_allowed(*, user_id: int) -> bool:
    """Count one channel test by this staff member: False once over the limit for the window."""
    count = _count(f"channel-test:{user_id}", CHANNEL_TEST_WINDOW_SECONDS)
    return count <= CHANNEL_TEST_LIMIT
