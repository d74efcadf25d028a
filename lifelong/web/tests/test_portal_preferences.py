"""The preferences page: marketing per channel, topics and the preferred channel."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from lifelong.customers.models import Channel, Consent, Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, damaged
from lifelong.lib.signing import token_make
from lifelong.messaging.links import preferences_url
from lifelong.messaging.models import ChannelConfig, Message, Status, Topic, TopicOptOut
from lifelong.messaging.preferences import topic_opt_in, topic_opt_out
from lifelong.messaging.services import message_enqueue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]


@pytest.fixture(autouse=True)
def _default_language():
    # The pages activate the customer's language for the rest of the thread (the locale
    # middleware resets it on the next request); later tests must not inherit it.
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def setup() -> None:
    for channel in (Channel.EMAIL, Channel.SMS, Channel.TELEGRAM):
        ChannelConfig.objects.create(channel=channel, transport="sandbox")
    ChannelConfig.objects.create(channel="webhook", transport="sandbox")
    ChannelConfig.objects.create(channel=Channel.VK, transport="sandbox", active=False)
    Topic.objects.create(slug="news", name="Новости", name_en="News")
    Topic.objects.create(slug="offers", name="Скидки и акции", name_en="Offers")


@pytest.fixture
def customer(setup) -> Customer:
    # Email and SMS addresses, no Telegram chat: Telegram is not a preferred-channel option.
    customer = CustomerFactory.create(first_name="Анна")
    consent_record(
        customer=customer,
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        granted=True,
        source="checkout",
    )
    return customer


def _path(customer: Customer) -> str:
    return "/" + preferences_url(customer_id=customer.pk).split("/", 3)[3]


def _queue(customer: Customer, key: str, **kwargs) -> Message:
    message, _created = message_enqueue(
        customer=customer,
        dedupe_key=key,
        channel=kwargs.pop("channel", Channel.EMAIL),
        subject="Новинки недели",
        text="Смотрите, что появилось",
        **kwargs,
    )
    return message


def _status(message: Message) -> str:
    message.refresh_from_db()
    return message.status


def _form(**overrides) -> dict:
    """What the page posts when the customer changes nothing."""
    data = {
        "shown": ["channel:email", "channel:sms", "channel:telegram", "topic:news", "topic:offers"],
        "marketing": ["email"],
        "topic": ["news", "offers"],
        "preferred_channel": "",
    }
    data.update(overrides)
    return data


def test_page_shows_set_up_channels_topics_and_reachable_channels(
    customer, django_assert_num_queries
):
    with django_assert_num_queries(6):
        response = Client().get(_path(customer))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="marketing" value="email" checked' in page
    assert 'name="marketing" value="sms">' in page
    assert 'name="marketing" value="telegram">' in page
    assert 'value="vk"' not in page  # not active
    assert 'value="webhook"' not in page  # not a customer channel
    assert 'name="topic" value="news" checked' in page
    assert "Новости" in page
    assert 'name="preferred_channel" value="email"' in page
    assert 'name="preferred_channel" value="sms"' in page
    assert 'name="preferred_channel" value="telegram"' not in page  # no chat id
    assert "csrfmiddlewaretoken" in page
    assert 'id="push"' not in page  # push is not set up


def test_english_customer_sees_english_topic_names(customer):
    customer.language = "en"
    customer.save(update_fields=["language"])

    response = Client().get(_path(customer), HTTP_ACCEPT_LANGUAGE="ru")

    assert response["Content-Language"] == "en"
    assert "Offers" in response.content.decode()
    assert "Скидки и акции" not in response.content.decode()


def test_get_changes_nothing(customer):
    consents, events = Consent.objects.count(), Event.objects.count()

    Client().get(_path(customer), {"marketing": "sms", "action": "unsubscribe_all"})

    assert (Consent.objects.count(), Event.objects.count()) == (consents, events)
    assert not TopicOptOut.objects.exists()


def test_post_needs_the_csrf_token(customer):
    response = Client(enforce_csrf_checks=True).post(_path(customer), _form(marketing=[]))

    assert response.status_code == 403
    assert Consent.objects.filter(granted=False).count() == 0


def test_save_through_the_page_form(customer):
    """A real browser round-trip: GET sets the CSRF cookie, the form posts its token."""
    client = Client(enforce_csrf_checks=True)
    page = client.get(_path(customer))
    token = page.context["csrf_token"]

    response = client.post(
        _path(customer), {**_form(marketing=["sms"]), "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    assert response["Location"] == _path(customer)
    saved = client.get(response["Location"])
    assert "Сохранили. Спасибо" in saved.content.decode()  # the customer reads Russian


def test_save_records_consent_only_for_changed_channels(customer):
    email_queued = _queue(customer, "email-news")
    receipt = _queue(customer, "receipt", purpose=Purpose.TRANSACTIONAL)
    before = Consent.objects.count()

    Client().post(_path(customer), _form(marketing=["sms"]), REMOTE_ADDR="203.0.113.7")

    new = list(Consent.objects.filter(customer=customer).order_by("id")[before:])
    assert [(c.channel, c.granted) for c in new] == [("email", False), ("sms", True)]
    assert {(c.source, c.form, c.ip) for c in new} == {
        ("preferences_page", "preferences", "203.0.113.7")
    }
    assert _status(email_queued) == Status.CANCELLED
    assert _status(receipt) == Status.QUEUED


def test_saving_unchanged_page_records_nothing(customer):
    before = Consent.objects.count(), Event.objects.count()

    response = Client().post(_path(customer), _form())

    assert response.status_code == 302
    assert (Consent.objects.count(), Event.objects.count()) == before


def test_topic_opt_out_cancels_queued_topic_messages_at_once(customer):
    news = _queue(customer, "news-1", topic="news")
    news_sms = _queue(customer, "news-2", topic="news", channel=Channel.SMS)
    offers = _queue(customer, "offers-1", topic="offers")
    receipt = _queue(customer, "receipt", topic="news", purpose=Purpose.TRANSACTIONAL)

    Client().post(_path(customer), _form(topic=["offers"]))

    assert list(TopicOptOut.objects.values_list("customer_id", "topic__slug")) == [
        (customer.pk, "news")
    ]
    assert _status(news) == Status.CANCELLED
    assert _status(news_sms) == Status.CANCELLED
    assert _status(offers) == Status.QUEUED
    assert _status(receipt) == Status.QUEUED
    assert Event.objects.filter(customer=customer, type="topic_opted_out").count() == 1

    page = Client().get(_path(customer)).content.decode()
    assert 'name="topic" value="news">' in page

    Client().post(_path(customer), _form())

    assert not TopicOptOut.objects.exists()
    assert Event.objects.filter(customer=customer, type="topic_opted_in").count() == 1


def test_topic_added_while_the_page_was_open_is_left_alone(customer):
    Topic.objects.create(slug="recipes", name="Рецепты")

    Client().post(_path(customer), _form())

    assert not TopicOptOut.objects.exists()


def test_topic_services_are_idempotent(customer):
    news = Topic.objects.get(slug="news")

    assert topic_opt_out(customer=customer, topic=news) is True
    assert topic_opt_out(customer=customer, topic=news) is False
    assert topic_opt_in(customer=customer, topic=news) is True
    assert topic_opt_in(customer=customer, topic=news) is False


def test_preferred_channel_is_saved_among_reachable_channels(customer):
    Client().post(_path(customer), _form(preferred_channel="sms"))
    customer.refresh_from_db()
    assert customer.preferred_channel == "sms"

    page = Client().get(_path(customer)).content.decode()
    assert 'name="preferred_channel" value="sms" checked' in page

    # No Telegram chat id: a tampered form cannot pick it.
    Client().post(_path(customer), _form(preferred_channel="telegram"))
    customer.refresh_from_db()
    assert customer.preferred_channel == "sms"

    Client().post(_path(customer), _form(preferred_channel=""))
    customer.refresh_from_db()
    assert customer.preferred_channel == ""


def test_unsubscribe_from_everything(customer):
    consent_record(
        customer=customer,
        channel=Channel.TELEGRAM,
        purpose=Purpose.MARKETING,
        granted=True,
        source="bot",
    )
    email = _queue(customer, "m-email")
    telegram = _queue(customer, "m-telegram", channel=Channel.TELEGRAM)
    receipt = _queue(customer, "receipt", purpose=Purpose.TRANSACTIONAL)

    response = Client().post(_path(customer), {"action": "unsubscribe_all"})

    assert response.status_code == 302
    withdrawals = Consent.objects.filter(customer=customer, granted=False)
    assert sorted(withdrawals.values_list("channel", flat=True)) == ["email", "telegram"]
    assert (_status(email), _status(telegram), _status(receipt)) == (
        Status.CANCELLED,
        Status.CANCELLED,
        Status.QUEUED,
    )
    page = Client().get(_path(customer)).content.decode()
    assert "unsubscribe_all" not in page  # nothing left to unsubscribe from


@pytest.mark.parametrize("kind", ["forged", "unsubscribe", "not-a-number", "no-such-customer"])
def test_bad_token_is_404(customer, kind):
    token = {
        "forged": damaged(token_make(purpose="preferences", value=customer.pk)),
        "unsubscribe": token_make(purpose="unsubscribe", value=f"{customer.pk}:email"),
        "not-a-number": token_make(purpose="preferences", value="abc"),
        "no-such-customer": token_make(purpose="preferences", value=customer.pk + 1000),
    }[kind]

    assert Client().get(f"/c/p/{token}").status_code == 404
    assert Client().post(f"/c/p/{token}", _form(marketing=[])).status_code == 404
    assert Consent.objects.filter(granted=False).count() == 0
