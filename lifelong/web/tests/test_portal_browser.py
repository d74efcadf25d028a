"""Every customer-facing page that takes a POST, in a real browser (Debian's Chromium).

The customer arrives from a message: no cookies yet, the link is the only credential.
A page's referrer policy decides which Origin the browser sends with a form, and Django's
CSRF check refuses `Origin: null`; only a real browser shows that.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from lifelong.accounts.models import Role
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.customers.selectors import consent_current
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.links import preferences_url, unsubscribe_url
from lifelong.messaging.models import ChannelConfig, PushSubscription, Topic

VAPID_PUBLIC = (
    "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"
)
PUSH_ENDPOINT = "https://push.example.net/send/browser-test"
P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
AUTH = "tBHItJI5svbpez7KI4CCXg"

# The browser's push service lives at the browser vendor (Google for Chromium) and this
# machine has no network: the page gets the subscription such a service would hand out,
# in the shape of PushSubscription.toJSON(). Everything after it is the real page script.
PUSH_SERVICE = f"""
(() => {{
  const subscription = {{
    endpoint: "{PUSH_ENDPOINT}",
    toJSON() {{
      return {{endpoint: this.endpoint, expirationTime: null,
               keys: {{p256dh: "{P256DH}", auth: "{AUTH}"}}}};
    }},
  }};
  if (!window.PushManager) return;
  PushManager.prototype.getSubscription = () => Promise.resolve(null);
  PushManager.prototype.subscribe = () => Promise.resolve(subscription);
}})();
"""

pytestmark = [pytest.mark.browser]


@pytest.fixture
def customer(transactional_db, settings, live_server) -> Customer:
    settings.SITE_URL = live_server.url
    for channel in (Channel.EMAIL, Channel.SMS):
        ChannelConfig.objects.create(channel=channel, transport="sandbox")
    Topic.objects.create(slug="news", name="Новости", name_en="News")
    customer = CustomerFactory.create(first_name="Анна", language="ru")
    for channel in (Channel.EMAIL, Channel.SMS):
        consent_record(
            customer=customer,
            channel=channel,
            purpose=Purpose.MARKETING,
            granted=True,
            source="checkout",
        )
    return customer


def _page(browser, **context) -> Page:
    page = browser.new_context(locale="ru-RU", **context).new_page()
    page.set_default_timeout(15_000)
    return page


def _marketing(customer: Customer, channel: str) -> bool:
    current = consent_current(customer).get((channel, Purpose.MARKETING))
    return current is not None and current.granted


def test_preferences_save(browser, customer):
    page = _page(browser)
    page.goto(preferences_url(customer_id=customer.pk))

    page.get_by_role("switch", name="SMS").uncheck()
    page.get_by_role("button", name="Сохранить").click()

    expect(page.get_by_role("status")).to_contain_text("Сохранили")
    assert not _marketing(customer, Channel.SMS)
    assert _marketing(customer, Channel.EMAIL)


def test_preferences_unsubscribe_from_everything(browser, customer):
    page = _page(browser)
    page.goto(preferences_url(customer_id=customer.pk))

    page.get_by_role("button", name="Отписаться от всего").click()

    expect(page.get_by_role("status")).to_contain_text("Готово")
    assert not _marketing(customer, Channel.EMAIL)
    assert not _marketing(customer, Channel.SMS)


def test_unsubscribe_page_button(browser, customer):
    page = _page(browser)
    page.goto(unsubscribe_url(customer_id=customer.pk, channel=Channel.EMAIL))

    page.get_by_role("button", name="Отписаться").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Вы отписались")
    assert not _marketing(customer, Channel.EMAIL)
    assert _marketing(customer, Channel.SMS)


def test_push_subscribe(browser, customer, live_server):
    ChannelConfig.objects.create(
        channel=Channel.PUSH, transport="sandbox", config={"vapid_public_key": VAPID_PUBLIC}
    )
    page = _page(browser)
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    page.add_init_script(PUSH_SERVICE)
    page.goto(preferences_url(customer_id=customer.pk))

    expect(page.locator("#push [role=status]")).to_have_text(
        "Уведомления в этом браузере включены."
    )
    subscription = PushSubscription.objects.get(customer=customer)
    assert (subscription.endpoint, subscription.p256dh, subscription.auth) == (
        PUSH_ENDPOINT,
        P256DH,
        AUTH,
    )


def test_token_in_the_address_never_reaches_another_site(browser, customer, live_server):
    page = _page(browser)
    page.goto(preferences_url(customer_id=customer.pk))
    # Another origin on this machine stands in for a third-party site the page links to.
    elsewhere = unsubscribe_url(customer_id=customer.pk, channel=Channel.EMAIL).replace(
        "localhost", "127.0.0.1"
    )
    page.evaluate(
        "url => { const a = document.createElement('a'); a.href = url;"
        " document.body.append(a); a.click(); }",
        elsewhere,
    )
    page.wait_for_url(elsewhere)

    assert page.evaluate("document.referrer") == ""


def test_staff_see_the_page_but_cannot_press_anything(browser, customer, live_server):
    signed_in = Client()
    signed_in.force_login(UserFactory(username="olga", role=Role.OWNER, password=None))
    page = _page(browser)
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    page.goto(preferences_url(customer_id=customer.pk))

    expect(page.get_by_role("note")).to_have_text(
        "Вы смотрите как сотрудник: изменения недоступны."
    )
    expect(page.get_by_role("switch", name="SMS")).to_be_disabled()
    expect(page.get_by_role("button", name="Сохранить")).to_be_disabled()
    expect(page.get_by_role("button", name="Отписаться от всего")).to_be_disabled()
    page.screenshot(path="/tmp/lifelong-portal-staff-preview.png", full_page=True)
    assert _marketing(customer, Channel.SMS)
