"""Secrets on the staff pages in a real browser (Debian's Chromium): channel credentials are
kept when left blank and asked for again when their destination changes; a webhook sender's
secret rotates with the old one still valid for the chosen hours.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.events.models import WebhookSource
from lifelong.events.webhooks import webhook_source_create
from lifelong.factories import UserFactory
from lifelong.messaging.models import ChannelConfig

pytestmark = pytest.mark.browser

SAVE = "#channel-settings button[type=submit]"

SMTP = {
    "host": "smtp.example.ru",
    "port": 587,
    "username": "shop",
    "from_email": "shop@example.ru",
    "password": "smtp-pass-7731",
}


@pytest.fixture
def owner_page(browser, live_server, transactional_db) -> Page:
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    client = Client()
    client.force_login(owner)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    session = client.cookies["sessionid"].value
    context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_channel_secret_is_kept_when_blank_and_asked_for_when_the_host_changes(
    owner_page, live_server
):
    ChannelConfig.objects.create(channel="email", transport="smtp", config=SMTP)
    page = owner_page
    # The live server's first request imports every view (seconds on a loaded test machine).
    page.goto(f"{live_server.url}/channels/email/", timeout=60_000)

    assert "smtp-pass-7731" not in page.content()
    secret = page.locator("[data-secret=password]")
    expect(secret.locator("[data-state=set]")).to_be_visible()
    expect(secret.locator("input[type=password]")).to_have_value("")
    expect(secret.locator("input[type=password]")).to_have_attribute("placeholder", "••••••")
    expect(page.locator("#id_smtp__host")).to_have_value("smtp.example.ru")

    page.fill("#id_smtp__username", "shop2")
    page.click(SAVE)
    page.wait_for_url(f"{live_server.url}/channels/email/")
    assert ChannelConfig.objects.get().config == {
        **SMTP,
        "username": "shop2",
        "security": "starttls",
    }

    page.fill("#id_smtp__host", "mail.elsewhere.example")
    page.click(SAVE)
    expect(secret.locator(".errorlist")).to_contain_text("host changed: enter this secret again")
    page.screenshot(path="/tmp/lifelong-channel-secret-asked-again.png", full_page=True)
    assert ChannelConfig.objects.get().config["host"] == "smtp.example.ru"

    secret.locator("input[type=password]").fill("smtp-pass-7731")
    page.click(SAVE)
    page.wait_for_url(f"{live_server.url}/channels/email/")
    saved = ChannelConfig.objects.get().config
    assert (saved["host"], saved["password"]) == ("mail.elsewhere.example", "smtp-pass-7731")


def test_only_the_chosen_transports_secrets_show(owner_page, live_server):
    page = owner_page
    page.goto(f"{live_server.url}/channels/sms/")

    page.select_option("select[name=transport]", "smsru")
    expect(page.locator("fieldset[data-transport=smsru]")).to_be_visible()
    expect(page.locator("fieldset[data-transport=http_sms]")).to_be_hidden()
    page.select_option("select[name=transport]", "http_sms")
    expect(page.locator("fieldset[data-transport=http_sms]")).to_be_visible()
    expect(page.locator("fieldset[data-transport=smsru]")).to_be_hidden()


def test_webhook_secret_rotation(owner_page, live_server):
    source = webhook_source_create(slug="insales", actor=None)
    old = source.secret
    page = owner_page
    page.goto(f"{live_server.url}/staff/")
    row = page.locator("#hook-insales")

    row.locator("input[name=overlap_hours]").fill("12")
    row.locator("form.webhook-rotate button[type=submit]").click()

    expect(page.locator("#api-secret")).to_be_visible()
    source = WebhookSource.objects.get()
    assert page.inner_text("#api-secret") == source.secret != old
    expect(row.locator(".previous-secret")).to_contain_text("The previous secret works until")
    page.screenshot(path="/tmp/lifelong-webhook-secret-rotated.png", full_page=True)
    assert source.previous_valid_until == pytest.approx(
        clock.now() + dt.timedelta(hours=12), abs=dt.timedelta(minutes=5)
    )
    assert source.secrets_valid() == [source.secret, old]
    page.reload()
    assert source.secret not in page.content()
