"""Channel set-up in a real browser (Debian's Chromium): the owner sets up Telegram against
a Bot API stand-in, sees the token masked after saving, and presses "Send a test"."""

from __future__ import annotations

import ipaddress

import pytest
from playwright.sync_api import Page, expect

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import UserFactory
from lifelong.messaging.models import ChannelConfig
from lifelong.messaging.tests.fake_api import FakeApi

pytestmark = pytest.mark.browser

# The live server's first request imports every view (seconds on a loaded test machine).
FIRST_PAGE_TIMEOUT = 60_000

TOKEN = "7212345678:AAHbrowser-test-token-5529"
GET_ME = {
    "ok": True,
    "result": {"id": 7212345678, "is_bot": True, "first_name": "Лавка", "username": "lavka_bot"},
}
SENT = {"ok": True, "result": {"message_id": 88, "chat": {"id": 289374625}, "date": 1}}


@pytest.fixture
def api(settings):
    # The Bot API stand-in listens on 127.0.0.1, which outbound calls refuse unless allowed.
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)
    with FakeApi() as server:
        yield server


def _page(staff_page, locale: str) -> Page:
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    return staff_page(owner, locale=locale, language=None)


def test_owner_sets_up_telegram_and_sends_a_test(staff_page, live_server, api):
    page = _page(staff_page, "en-US")
    page.goto(f"{live_server.url}/channels/telegram/", timeout=FIRST_PAGE_TIMEOUT)

    page.select_option("select[name=transport]", "telegram")
    settings = page.locator("fieldset[data-transport=telegram]")
    expect(settings).to_be_visible()
    expect(settings).to_contain_text("From @BotFather")
    page.fill("#id_telegram__bot_token", TOKEN)
    page.fill("#id_telegram__bot_username", "lavka_bot")
    page.fill("#id_telegram__base_url", api.url)
    page.click("#channel-settings button[type=submit]")
    page.wait_for_url(f"{live_server.url}/channels/telegram/")

    saved = ChannelConfig.objects.get(channel="telegram")
    assert saved.transport == "telegram"
    assert saved.config == {"bot_token": TOKEN, "bot_username": "lavka_bot", "base_url": api.url}

    page.reload()
    assert TOKEN not in page.content() and "AAHbrowser" not in page.content()
    token = page.locator("[data-secret=bot_token]")
    expect(token.locator("[data-state=set]")).to_be_visible()
    expect(token.locator("input[type=password]")).to_have_value("")
    expect(page.locator("#id_telegram__bot_username")).to_have_value("lavka_bot")

    api.reply(200, GET_ME)
    api.reply(200, SENT)
    page.fill("#channel-test input[name=to]", "289374625")
    page.click("#channel-test button[type=submit]")

    verdict = page.locator(".probe[data-probe=ok]")
    expect(verdict).to_contain_text("It works: Telegram took the test message (289374625:88).")
    expect(verdict.locator("tr[data-ok=yes]").first).to_contain_text("@lavka_bot")
    expect(verdict.locator("tr[data-ok=yes]").first).to_contain_text("HTTP 200")
    page.screenshot(path="/tmp/lifelong-channel-telegram-test.png", full_page=True)
    assert TOKEN not in page.content()

    get_me, send = api.requests
    assert (get_me.method, get_me.path) == ("GET", f"/bot{TOKEN}/getMe")
    assert (send.method, send.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert send.json() == {
        "chat_id": "289374625",
        "text": "A test from Lifelong: this channel is set up and works.",
    }
    assert AuditLog.objects.get(action="channel.test").changes["ok"] is True


def test_a_wrong_token_is_reported_in_russian(staff_page, live_server, api):
    ChannelConfig.objects.create(
        channel="telegram",
        transport="telegram",
        config={"bot_token": "1:revoked", "base_url": api.url},
    )
    page = _page(staff_page, "ru-RU")
    page.goto(f"{live_server.url}/channels/telegram/", timeout=FIRST_PAGE_TIMEOUT)

    api.reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    page.click("#channel-test button[type=submit]")

    verdict = page.locator(".probe[data-probe=failed]")
    expect(verdict).to_contain_text("Неверный токен: Telegram ответил 401 Unauthorized")
    expect(verdict.locator("tr[data-ok=no]")).to_contain_text("getMe")
    page.screenshot(path="/tmp/lifelong-channel-telegram-wrong-token.png", full_page=True)
    assert len(api.requests) == 1
    assert "1:revoked" not in page.content()
