from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client

from lifelong.accounts.models import Role, User
from lifelong.factories import UserFactory

if TYPE_CHECKING:
    from playwright.sync_api import Page

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


DESKTOP = (1280, 900)
PHONE = (390, 844)


@pytest.fixture
def staff_page(browser, live_server, transactional_db) -> Callable[..., Page]:
    """Opens a browser page logged in as `user`: staff_page(user, viewport=..., locale=...)."""

    def open_page(
        user: User,
        *,
        viewport: tuple[int, int] | None = DESKTOP,
        locale: str = "ru-RU",
        language: str | None = "ru",
        javascript: bool = True,
    ) -> Page:
        options: dict[str, Any] = {"locale": locale, "java_script_enabled": javascript}
        if viewport is not None:  # None leaves Playwright's default window size
            options["viewport"] = {"width": viewport[0], "height": viewport[1]}
        context = browser.new_context(**options)
        session = logged_in(user).cookies["sessionid"].value
        cookies = [{"name": "sessionid", "value": session, "url": live_server.url}]
        if language is not None:
            cookies.append({"name": "django_language", "value": language, "url": live_server.url})
        context.add_cookies(cookies)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    return open_page


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
