from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client

from lifelong.accounts.models import Role, User
from lifelong.factories import UserFactory

# Debian's Chromium, driven by Playwright (never a browser build of Playwright's own).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def browser(monkeypatch) -> Iterator[Any]:
    """Headless Chromium for a test against `live_server`; skips where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls
    # from a thread with a running loop unless told it is safe (the test is synchronous).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
        # While the loop runs, asgiref keeps this thread's database connections apart from
        # its plain ones, and nothing else can reach them once the loop stops: left open,
        # they keep PostgreSQL from dropping the test database at the end of the run.
        connections.close_all()


@pytest.fixture(autouse=True)
def _clear_cache():
    # The login throttle counts in the cache; tests must not see each other's failures.
    cache.clear()
    yield
    cache.clear()


def staff(role: str, username: str | None = None) -> User:
    # No password: hashing one takes most of a second, and force_login needs none.
    return cast(User, UserFactory(username=username or role, role=role, password=None))


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(db) -> Client:
    return logged_in(staff(Role.OWNER))


@pytest.fixture
def support_client(db) -> Client:
    return logged_in(staff(Role.SUPPORT))
