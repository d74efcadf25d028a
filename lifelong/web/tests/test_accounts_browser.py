"""Signing in and account pages in a real browser (Debian's Chromium): the throttle, password
change, password reset through a link mailed over real SMTP, two-factor enrolment and sign-in
with a code, and an owner changing a colleague's role and access.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from lifelong.accounts.models import AuditLog, Role, User
from lifelong.factories import UserFactory
from lifelong.lib.totp import totp_code, totp_step

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "Kx7-fj3q-Lm9z"


@pytest.fixture
def page(browser, live_server, transactional_db) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]:has-text('Sign in')")


def sign_out(page: Page) -> None:
    page.click("form.logout button[type=submit]")


def test_repeated_wrong_passwords_lock_the_login(page, live_server, settings):
    settings.LOGIN_RATE_LIMIT = 3
    UserFactory(username="olga", role=Role.SUPPORT)
    for _ in range(3):
        sign_in(page, live_server.url, "olga", "wrong-password")
        expect(page.locator("p.error")).to_contain_text("Please enter a correct")
    # Full-width letters are the same login once normalised: no fresh attempts.
    sign_in(page, live_server.url, "ｏｌｇａ", PASSWORD)
    expect(page.locator("p.error")).to_contain_text("Too many failed attempts")
    assert page.url == f"{live_server.url}/login/"
    assert AuditLog.objects.filter(action="user.login_failed").count() == 3


def test_password_change(page, live_server):
    UserFactory(username="olga", role=Role.SUPPORT)
    sign_in(page, live_server.url, "olga", PASSWORD)
    page.wait_for_url(f"{live_server.url}/")
    page.click("a.who")
    page.click("text=Change password")
    page.fill("input[name=old_password]", PASSWORD)
    page.fill("input[name=new_password1]", "12345678")
    page.fill("input[name=new_password2]", "12345678")
    page.click("form button[type=submit]:has-text('Change password')")
    expect(page.locator(".errorlist")).to_contain_text("too short")
    page.fill("input[name=old_password]", PASSWORD)
    page.fill("input[name=new_password1]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    page.click("form button[type=submit]:has-text('Change password')")
    expect(page.locator(".flash")).to_contain_text("Password changed")
    sign_out(page)
    sign_in(page, live_server.url, "olga", NEW_PASSWORD)
    page.wait_for_url(f"{live_server.url}/")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"


@pytest.fixture
def smtp(settings) -> Iterator[Mailbox]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "lifelong@shop.example"
    yield mailbox
    controller.stop()


def test_password_reset_through_the_mailed_link(page, live_server, settings, smtp):
    settings.SITE_URL = live_server.url
    UserFactory(username="olga", role=Role.SUPPORT, email="olga@shop.example")
    page.goto(f"{live_server.url}/login/")
    page.click("text=Forgot your password?")
    page.fill("input[name=email]", "olga@shop.example")
    page.click("form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your mail")

    [message] = smtp.messages
    assert message["To"] == "olga@shop.example"
    assert message["From"] == "lifelong@shop.example"
    body = message.get_content()
    link = re.search(rf"{re.escape(live_server.url)}/password-reset/\S+/", body)
    assert link, body
    page.goto(link[0])
    page.fill("input[name=new_password1]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/login/")
    expect(page.locator(".flash")).to_contain_text("Password changed")
    sign_in(page, live_server.url, "olga", NEW_PASSWORD)
    page.wait_for_url(f"{live_server.url}/")


def _code(secret: str) -> str:
    return totp_code(secret, totp_step(time.time()))


def test_two_factor_enrolment_then_sign_in_with_a_code(page, live_server):
    olga = UserFactory(username="olga", role=Role.MARKETER)
    sign_in(page, live_server.url, "olga", PASSWORD)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/account/")
    page.click("text=Set up two-factor sign-in")
    expect(page.locator("figure.qr-code svg")).to_be_visible()
    page.screenshot(path="/tmp/lifelong-two-factor-1280.png", full_page=True)
    secret = page.inner_text("#totp-secret").replace(" ", "")
    assert page.get_attribute("#totp-uri", "href").startswith("otpauth://totp/Lifelong%3Aolga?")
    page.fill("input[name=code]", "000000")
    page.click("form button[type=submit]:has-text('Turn on')")
    expect(page.locator(".errorlist")).to_contain_text("does not match")
    page.fill("input[name=code]", _code(secret))
    page.click("form button[type=submit]:has-text('Turn on')")
    expect(page.locator("#two-factor-status")).to_contain_text("On:")
    olga.refresh_from_db()
    assert olga.totp_secret == secret

    sign_out(page)
    # The code just used for enrolment is spent; the next step's code is what an app shows
    # half a minute later, or now on a phone whose clock runs a little ahead (a step of
    # drift either way is accepted), so it is taken without waiting for it.
    sign_in(page, live_server.url, "olga", PASSWORD)
    page.wait_for_url(f"{live_server.url}/login/code/")
    page.fill("input[name=code]", totp_code(secret, olga.totp_last_step + 1))
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert AuditLog.objects.filter(action="user.login", changes__two_factor=True).exists()


def test_owner_changes_a_role_and_deactivates_a_colleague(page, live_server):
    UserFactory(username="boss", role=Role.OWNER)
    masha = UserFactory(username="masha", role=Role.SUPPORT, password=None)
    sign_in(page, live_server.url, "boss", PASSWORD)
    page.wait_for_url(f"{live_server.url}/")
    page.click("nav >> text=Staff")
    row = page.locator("#staff-masha")
    row.locator("select[name=role]").select_option("marketer")
    row.locator("button:has-text('Change')").click()
    expect(page.locator(".flash")).to_contain_text("masha is now: Marketer")
    page.locator("#staff-masha button:has-text('Deactivate')").click()
    expect(page.locator(".flash")).to_contain_text("masha can no longer sign in")
    expect(page.locator("#staff-masha button:has-text('Reactivate')")).to_be_visible()
    page.screenshot(path="/tmp/lifelong-staff-1280.png", full_page=True)
    # No controls on one's own row: an owner cannot lock themselves out.
    expect(page.locator("#staff-boss select")).to_have_count(0)
    masha.refresh_from_db()
    assert masha.role == Role.MARKETER and not masha.is_active
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"user.role_set", "user.deactivate"} <= actions
    assert isinstance(masha, User)
