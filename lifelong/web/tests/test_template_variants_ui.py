"""The template editor's variants: SMS with its segment count, messenger with buttons, the
short text, the preview of what a channel really gets, and "send a test to me"."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse
from django.utils import translation

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.web.tests.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def marketer():
    return UserFactory(
        username="mila", role=Role.MARKETER, email="mila@shop.example", password=None
    )


@pytest.fixture
def client(marketer):
    return logged_in(marketer)


BASE = {
    "name": "Корзина",
    "slug": "cart",
    "channel": "sms",
    "purpose": "marketing",
    "topic": "",
    "subject": "",
    "body_text": "",
    "body_html": "",
    "sms_text": "",
    "messenger_text": "",
    "short_text": "",
}


def count_of(page: str, field: str) -> dict[str, str]:
    """The server-side count under a field: {"length": .., "segments": .., "left": ..}."""
    box = re.search(rf'data-sms-count-for="id_{field}".*?</p>', page, re.S)
    assert box is not None
    return dict(re.findall(r'data-sms="(\w+)">(\d+)<', box.group(0)))


def test_variants_and_buttons_are_saved(client, frozen_time):
    data = BASE | {
        "sms_text": "{{ customer.first_name }}, товары ждут в корзине.",
        "messenger_text": "Товары ждут в корзине.",
        "button_1_label": "Писать реже",
        "button_1_url": "{{ links.preferences }}",
        "button_2_label": "Магазин",
        "button_2_url": "https://shop.example/",
        "short_text": "Товары ждут в корзине.",
        "en_sms_text": "Your cart is waiting.",
        "en_button_1_label": "Shop",
        "en_button_1_url": "https://shop.example/en/",
    }
    response = client.post(reverse("web:template_new"), data)
    assert response.status_code == 302
    template = Template.objects.get(slug="cart")
    assert (template.sms_text, template.messenger_text, template.short_text) == (
        data["sms_text"],
        "Товары ждут в корзине.",
        "Товары ждут в корзине.",
    )
    assert template.body_text == ""
    assert template.messenger_buttons == [
        {"label": "Писать реже", "url": "{{ links.preferences }}"},
        {"label": "Магазин", "url": "https://shop.example/"},
    ]
    english = template.translations["en"]
    assert english["sms_text"] == "Your cart is waiting."
    assert english["messenger_buttons"] == [{"label": "Shop", "url": "https://shop.example/en/"}]
    # The page shows them back, the buttons in their rows.
    page = client.get(response["Location"]).content.decode()
    assert 'name="button_2_url" value="https://shop.example/"' in page
    assert 'name="en_button_1_label" value="Shop"' in page


def test_the_sms_count_is_on_the_page_without_javascript(client, frozen_time):
    text = "Ирина, товары ждут в корзине! " * 3  # 90 Cyrillic characters: two parts
    template = Template.objects.create(slug="c", name="c", channel="sms", sms_text=text)
    page = client.get(reverse("web:template_edit", args=[template.pk])).content.decode()
    assert count_of(page, "sms_text") == {"length": "90", "segments": "2", "left": "44"}
    assert count_of(page, "en_sms_text") == {"length": "0", "segments": "0", "left": "160"}
    # The Cyrillic rule is the one shown; the GSM-7 one waits hidden for the script.
    assert re.search(r'data-sms-encoding="ucs2">Cyrillic', page)
    assert re.search(r'data-sms-encoding="gsm7" hidden>Latin', page)
    # A posted form with errors counts what was posted.
    response = client.post(
        reverse("web:template_edit", args=[template.pk]),
        BASE | {"slug": "c", "sms_text": "a" * 161, "messenger_text": "{{ x"},
    )
    assert response.status_code == 400
    assert count_of(response.content.decode(), "sms_text")["segments"] == "2"


def test_a_template_needs_one_text_and_buttons_need_both_halves(client, frozen_time):
    response = client.post(reverse("web:template_new"), BASE | {"subject": "Hi"})
    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        "Write at least one text: the email, the SMS, the messenger or the short text."
    ]
    response = client.post(
        reverse("web:template_new"),
        BASE
        | {
            "messenger_text": "Привет",
            "button_1_label": "Открыть",
            "button_2_url": "https://shop.example/",
            "button_3_label": "Плохая",
            "button_3_url": "javascript:alert(1)",
        },
    )
    errors = response.context["form"].errors
    assert errors["button_1_url"] == ["A button needs its link."]
    assert errors["button_2_label"] == ["A button needs its label."]
    assert errors["button_3_url"] == [
        "A link starts with https:// or is a variable such as {{ links.preferences }}."
    ]
    assert not Template.objects.exists()


def preview(client, **fields):
    return html.unescape(
        client.post(reverse("web:template_preview"), BASE | fields).content.decode()
    )


def test_the_preview_shows_what_each_channel_gets(client, frozen_time):
    CustomerFactory(first_name="Ирина", gender="f")
    email_only = {
        "channel": "email",
        "subject": "Корзина",
        "body_text": "Длинное письмо. Просто ответьте на него.",
    }
    # SMS never gets the email.
    body = preview(client, preview_channel="sms", **email_only)
    assert "“Корзина” has no text for SMS: write its SMS text or its short text." in body
    assert "Длинное письмо" not in body
    # With a short text, SMS and messengers get that, and the preview says so.
    body = preview(client, preview_channel="telegram", short_text="Товары ждут.", **email_only)
    assert "Sends: Short text — Telegram has no text of its own here" in body
    assert "Товары ждут." in body and "Длинное письмо" not in body
    # The SMS text for this customer, counted.
    body = preview(client, preview_channel="sms", sms_text="{{ customer.first_name }}, ждём!")
    assert "Ирина, ждём!" in body
    assert "Characters 12 · SMS parts 1" in body
    # A messenger text with its buttons rendered.
    body = preview(
        client,
        preview_channel="vk",
        messenger_text="Товары ждут.",
        button_1_label="Настройки",
        button_1_url="{{ links.preferences }}",
    )
    assert "Sends: Messenger text" in body
    assert re.search(r'<a class="button-preview" href="http[^"]+/p/[^"]+"[^>]*>Настройки</a>', body)


def test_send_a_test_to_me(client, marketer, frozen_time):
    template = Template.objects.create(
        slug="t", name="T", channel="sms", subject="Привет", body_text="Письмо", sms_text="СМС"
    )
    url = reverse("web:template_test_send", args=[template.pk])
    page = client.get(reverse("web:template_edit", args=[template.pk])).content.decode()
    attempt = re.search(r'name="attempt" value="(\w+)"', page).group(1)

    # No SMS channel set up: said plainly, nothing queued.
    response = client.post(url, {"test_channel": "sms", "attempt": attempt}, follow=True)
    assert "SMS is not set up yet" in response.content.decode()
    assert not Message.objects.exists()

    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    for _ in range(2):  # a repeated press of the same form is one test
        response = client.post(url, {"test_channel": "email", "attempt": attempt}, follow=True)
    assert "A test is queued for mila@shop.example on Email." in response.content.decode()
    message = Message.objects.get()
    assert (message.to, message.subject, message.body_text) == (
        "mila@shop.example",
        "[Test] Привет",
        "Письмо",
    )
    assert AuditLog.objects.filter(action="template.test_send").count() == 1
    # Other roles cannot.
    support = logged_in(UserFactory(username="sam", role=Role.SUPPORT, password=None))
    assert support.post(url, {"test_channel": "email"}).status_code == 403


def test_a_render_error_names_the_variant_field_it_is_in(client, frozen_time):
    CustomerFactory(first_name="Ирина")
    body = preview(client, preview_channel="sms", sms_text="ok\n{{ 1 / 0 }}")
    assert "Cannot render: SMS text, line 2: Division by zero." in body
    body = preview(client, preview_channel="telegram", en_short_text="x", short_text="{{ 1 / 0 }}")
    assert "Cannot render: Short text, line 1:" in body


def test_the_list_shows_each_templates_variants_in_a_fixed_number_of_queries(
    client, frozen_time, django_assert_num_queries
):
    Template.objects.create(slug="a", name="A", channel="email", body_text="Hi", short_text="Hi")
    Template.objects.create(slug="b", name="B", channel="sms", sms_text="Hi", messenger_text="Hi")
    with django_assert_num_queries(4):  # session, user, templates, brand voices
        page = client.get(reverse("web:templates")).content.decode()
    assert "Email · Short text" in page and "SMS text · Messenger text" in page


def test_a_text_with_variables_is_also_counted_as_the_sample_customer_gets_it(client, frozen_time):
    text = "{% if customer.first_name %}{{ customer.first_name }}, ждём!{% else %}Ждём!{% endif %}"
    template = Template.objects.create(slug="v", name="v", channel="sms", sms_text=text)
    page = html.unescape(
        client.get(reverse("web:template_edit", args=[template.pk])).content.decode()
    )
    assert count_of(page, "sms_text")["length"] == str(len(text))
    # «Алексей, ждём!»: 14 characters, one part.
    assert (
        "With its variables filled in for the sample customer: characters 14, SMS parts 1." in page
    )
