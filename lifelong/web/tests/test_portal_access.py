"""Who may use a customer's link, for how long, and how often; and what they see otherwise."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client
from django.utils import translation

from lifelong.accounts.models import Role
from lifelong.customers.models import Channel, Consent, Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory, damaged
from lifelong.messaging.links import preferences_url, unsubscribe_url
from lifelong.messaging.models import ChannelConfig, PushSubscription
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]

ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def _default_language():
    # The pages activate the customer's language for the rest of the thread.
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def customer() -> Customer:
    ChannelConfig.objects.create(channel=Channel.EMAIL, transport="sandbox")
    customer = CustomerFactory.create(first_name="Анна")
    consent_record(
        customer=customer,
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        granted=True,
        source="checkout",
    )
    return customer


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _preferences(customer: Customer) -> str:
    return _path(preferences_url(customer_id=customer.pk))


def _unsubscribe(customer: Customer) -> str:
    return _path(unsubscribe_url(customer_id=customer.pk, channel=Channel.EMAIL))


def _email_marketing(customer: Customer) -> bool:
    latest = Consent.objects.filter(customer=customer, channel=Channel.EMAIL).first()
    return latest is not None and latest.granted


# --- expiry -------------------------------------------------------------------------------


def test_preferences_link_works_for_sixty_days_then_says_it_is_old(customer, frozen_time):
    path = _preferences(customer)
    frozen_time.shift(dt.timedelta(days=60))
    assert b'name="marketing"' in Client().get(path).content

    frozen_time.shift(dt.timedelta(minutes=1))
    page = Client().get(path)
    posted = Client().post(path, {"shown": ["channel:email"], "marketing": []})

    assert page.status_code == 200
    text = page.content.decode()
    assert "Ссылка устарела" in text
    assert "Откройте более свежее сообщение от нас" in text
    assert 'name="marketing"' not in text
    assert posted.status_code == 200
    assert _email_marketing(customer)


def test_old_link_speaks_the_customers_language(customer, frozen_time):
    customer.language = "en"
    customer.save(update_fields=["language"])
    path = _preferences(customer)
    frozen_time.shift(dt.timedelta(days=61))

    page = Client().get(path, HTTP_ACCEPT_LANGUAGE="ru")

    assert "This link is out of date" in page.content.decode()


def test_unsubscribe_link_works_for_two_years(customer, frozen_time):
    path = _unsubscribe(customer)
    frozen_time.shift(dt.timedelta(days=2 * 365))

    response = Client().post(path, data=ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    assert not _email_marketing(customer)


def test_unsubscribe_link_older_than_two_years_changes_nothing(customer, frozen_time):
    path = _unsubscribe(customer)
    frozen_time.shift(dt.timedelta(days=2 * 365, minutes=1))

    response = Client().post(path, data=ONE_CLICK, content_type=FORM)

    assert "Ссылка устарела" in response.content.decode()
    assert _email_marketing(customer)


def test_signed_links_already_in_mailboxes_still_work(customer, frozen_time):
    # What links looked like before tokens were sealed (value in clear, then a signature).
    unsubscribe = signing.dumps(f"{customer.pk}:email", salt="lifelong.unsubscribe", compress=False)
    preferences = signing.dumps(str(customer.pk), salt="lifelong.preferences", compress=False)
    frozen_time.shift(dt.timedelta(days=59))

    assert b'name="marketing"' in Client().get(f"/c/p/{preferences}").content
    Client().post(f"/c/u/{unsubscribe}", data=ONE_CLICK, content_type=FORM)
    assert not _email_marketing(customer)

    frozen_time.shift(dt.timedelta(days=2))
    assert "Ссылка устарела" in Client().get(f"/c/p/{preferences}").content.decode()


def test_a_bad_link_gets_a_friendly_404(customer):
    response = Client().get(damaged(_preferences(customer)))

    assert response.status_code == 404
    assert "Ссылка не работает" in response.content.decode()


# --- staff preview ------------------------------------------------------------------------


@pytest.fixture
def olga() -> Client:
    return logged_in(staff(Role.OWNER, "olga"))


def test_staff_see_a_read_only_preferences_page(customer, olga):
    ChannelConfig.objects.create(
        channel=Channel.PUSH, transport="sandbox", config={"vapid_public_key": "BEl62iUY"}
    )

    page = olga.get(_preferences(customer)).content.decode()

    assert "Вы смотрите как сотрудник: изменения недоступны" in page
    assert '<fieldset class="plain" disabled>' in page
    assert "disabled>Отписаться от всего</button>" in page
    assert 'id="push"' not in page


def test_staff_cannot_change_preferences(customer, olga):
    save = olga.post(_preferences(customer), {"shown": ["channel:email"], "marketing": []})
    withdraw = olga.post(_preferences(customer), {"action": "unsubscribe_all"})

    for response in (save, withdraw):
        assert response.status_code == 403
        assert "изменения недоступны" in response.content.decode()
    assert _email_marketing(customer)


def test_staff_cannot_unsubscribe_the_customer(customer, olga):
    page = olga.get(_unsubscribe(customer)).content.decode()
    button = olga.post(_unsubscribe(customer))

    assert "disabled>Отписаться</button>" in page
    assert button.status_code == 403
    assert _email_marketing(customer)


def test_staff_cannot_subscribe_their_browser_as_the_customer(customer, olga):
    ChannelConfig.objects.create(
        channel=Channel.PUSH, transport="sandbox", config={"vapid_public_key": "BEl62iUY"}
    )
    subscription = {
        "endpoint": "https://push.example.net/send/staff",
        "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2", "auth": "tBHItJI5svbpez7KI4CCXg"},
    }

    response = olga.post(
        _preferences(customer) + "/push", json.dumps(subscription), content_type="application/json"
    )

    assert response.status_code == 403
    assert not PushSubscription.objects.exists()


# --- throttling ---------------------------------------------------------------------------


@pytest.fixture
def own_cache(settings):
    # Parallel test workers share one Redis and clear it between their tests: counting
    # needs a cache that nobody else empties halfway.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "portal-throttle-test",
        }
    }


@pytest.mark.usefixtures("own_cache")
def test_too_many_requests_from_one_address_get_a_styled_429(customer, settings):
    settings.PORTAL_RATE_LIMIT = 3
    path = _preferences(customer)
    client = Client(REMOTE_ADDR="203.0.113.7")

    statuses = [client.get(path).status_code for _n in range(4)]
    refused = client.get(path)

    assert statuses == [200, 200, 200, 429]
    assert "Слишком много запросов" in refused.content.decode()
    assert 1 <= int(refused["Retry-After"]) <= settings.PORTAL_RATE_WINDOW_SECONDS
    assert Client(REMOTE_ADDR="203.0.113.8").get(path).status_code == 200


@pytest.mark.usefixtures("own_cache")
def test_bad_links_count_too(customer, settings):
    settings.PORTAL_RATE_LIMIT = 2
    client = Client(REMOTE_ADDR="203.0.113.7")

    statuses = [client.get(f"/c/p/guess{n}").status_code for n in range(3)]

    assert statuses == [404, 404, 429]


@pytest.mark.usefixtures("own_cache")
def test_mail_providers_one_click_posts_are_never_throttled(customer, settings):
    settings.PORTAL_RATE_LIMIT = 1
    provider = Client(REMOTE_ADDR="198.51.100.1")
    provider.get(_preferences(customer))
    assert provider.get(_preferences(customer)).status_code == 429

    response = provider.post(_unsubscribe(customer), data=ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    assert not _email_marketing(customer)


# --- CSRF failure -------------------------------------------------------------------------


def test_csrf_failure_page_is_styled_russian_and_tells_no_internals(customer):
    response = Client(enforce_csrf_checks=True).post(_preferences(customer), {"action": "x"})

    text = response.content.decode()
    assert response.status_code == 403
    assert "Не получилось отправить форму" in text
    assert "portal.css" in text
    assert "CSRF" not in text
    assert "cookie not set" not in text.lower()
    assert "DEBUG" not in text


def test_csrf_failure_page_in_english_for_an_english_browser(customer):
    response = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en").post(
        _preferences(customer), {"action": "x"}
    )

    assert response.status_code == 403
    assert "The form could not be sent" in response.content.decode()
