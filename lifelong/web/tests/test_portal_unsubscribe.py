"""RFC 8058 one-click unsubscribe: a POST from a mail client withdraws, a GET only asks."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from lifelong.customers.models import Channel, Consent, Customer, Purpose
from lifelong.customers.services import consent_record, customer_merge
from lifelong.factories import CustomerFactory, damaged
from lifelong.lib.signing import token_make
from lifelong.messaging.links import preferences_url, unsubscribe_url
from lifelong.messaging.models import Message, Status
from lifelong.messaging.services import message_enqueue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]


@pytest.fixture(autouse=True)
def _default_language():
    # The pages activate the customer's language for the rest of the thread (the locale
    # middleware resets it on the next request); later tests must not inherit it.
    yield
    translation.activate(settings.LANGUAGE_CODE)


ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


def _grant(customer: Customer, channel: str) -> None:
    consent_record(
        customer=customer,
        channel=channel,
        purpose=Purpose.MARKETING,
        granted=True,
        source="checkout",
    )


def _queue(customer: Customer, key: str, channel: str, purpose: str) -> Message:
    message, _created = message_enqueue(
        customer=customer,
        dedupe_key=key,
        channel=channel,
        purpose=purpose,
        subject="Скидка 10 %",
        text="Только до пятницы",
    )
    return message


def _path(customer: Customer, channel: str = Channel.EMAIL) -> str:
    # Mail clients POST the absolute URL from the header; the test client wants the path.
    return "/" + unsubscribe_url(customer_id=customer.pk, channel=channel).split("/", 3)[3]


def _status(message: Message) -> str:
    message.refresh_from_db()
    return message.status


@pytest.fixture
def customer() -> Customer:
    customer = CustomerFactory.create()
    _grant(customer, Channel.EMAIL)
    _grant(customer, Channel.SMS)
    return customer


def test_one_click_post_withdraws_and_cancels_only_marketing_email(customer):
    marketing_email = _queue(customer, "m-email", Channel.EMAIL, Purpose.MARKETING)
    receipt_email = _queue(customer, "t-email", Channel.EMAIL, Purpose.TRANSACTIONAL)
    marketing_sms = _queue(customer, "m-sms", Channel.SMS, Purpose.MARKETING)
    # What a mail client sends: no CSRF token, no cookies, just the RFC 8058 body.
    client = Client(enforce_csrf_checks=True)

    response = client.post(_path(customer), data=ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    latest = Consent.objects.filter(customer=customer, channel=Channel.EMAIL).first()
    assert latest is not None
    assert (latest.granted, latest.source, latest.form) == (
        False,
        "unsubscribe_link",
        "List-Unsubscribe",
    )
    assert latest.ip == "127.0.0.1"
    assert _status(marketing_email) == Status.CANCELLED
    assert _status(receipt_email) == Status.QUEUED
    assert _status(marketing_sms) == Status.QUEUED
    sms = Consent.objects.filter(customer=customer, channel=Channel.SMS).first()
    assert sms is not None and sms.granted


def test_repeated_one_click_adds_no_second_withdrawal(customer):
    client = Client(enforce_csrf_checks=True)
    client.post(_path(customer), data=ONE_CLICK, content_type=FORM)
    response = client.post(_path(customer), data=ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    assert (
        Consent.objects.filter(customer=customer, channel=Channel.EMAIL, granted=False).count() == 1
    )


def test_get_only_asks(customer):
    message = _queue(customer, "m-email", Channel.EMAIL, Purpose.MARKETING)
    consents = Consent.objects.count()

    response = Client().get(_path(customer))

    assert response.status_code == 200
    assert b'<form method="post">' in response.content
    assert Consent.objects.count() == consents
    assert _status(message) == Status.QUEUED


def test_button_on_the_page_unsubscribes(customer):
    response = Client(enforce_csrf_checks=True).post(_path(customer))

    assert response.status_code == 200
    assert b"<form" not in response.content
    latest = Consent.objects.filter(customer=customer, channel=Channel.EMAIL).first()
    assert latest is not None and not latest.granted and latest.form == "portal"


def test_sms_link_unsubscribes_sms_only(customer):
    Client().post(_path(customer, Channel.SMS), data=ONE_CLICK, content_type=FORM)

    email = Consent.objects.filter(customer=customer, channel=Channel.EMAIL).first()
    sms = Consent.objects.filter(customer=customer, channel=Channel.SMS).first()
    assert email is not None and email.granted
    assert sms is not None and not sms.granted


@pytest.mark.parametrize(
    "token",
    [
        "forged",
        # A valid token, but for another purpose: a preferences link is not an unsubscribe.
        "preferences",
        # Signed for the right purpose, but the channel does not exist.
        "bad-channel",
    ],
)
def test_forged_or_foreign_token_is_404(customer, token):
    if token == "preferences":
        token = preferences_url(customer_id=customer.pk).rsplit("/", 1)[1]
    elif token == "bad-channel":
        token = token_make(purpose="unsubscribe", value=f"{customer.pk}:pigeon")
    else:
        token = damaged(_path(customer).rsplit("/", 1)[1])
    consents = Consent.objects.count()

    get = Client().get(f"/c/u/{token}")
    post = Client().post(f"/c/u/{token}", data=ONE_CLICK, content_type=FORM)

    assert (get.status_code, post.status_code) == (404, 404)
    assert Consent.objects.count() == consents


def test_link_of_a_merged_customer_unsubscribes_the_survivor(customer, owner):
    duplicate = CustomerFactory.create()
    customer_merge(primary=customer, duplicate=duplicate, actor=owner)

    response = Client().post(_path(duplicate), data=ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    latest = Consent.objects.filter(customer=customer, channel=Channel.EMAIL).first()
    assert latest is not None and not latest.granted


def test_page_speaks_the_customers_language(customer):
    customer.language = "en"
    customer.save(update_fields=["language"])

    response = Client().get(_path(customer), HTTP_ACCEPT_LANGUAGE="ru")

    assert response["Content-Language"] == "en"
    assert b'<html lang="en"' in response.content
