"""The template editor: list, create and edit with validation, live preview, brand voices."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from lifelong.accounts.models import Role
from lifelong.commerce.models import OrderLine
from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.messaging.models import BrandVoice, Template
from lifelong.web.headers import MESSAGE_HTML_POLICY
from lifelong.web.tests.conftest import logged_in, staff


@pytest.fixture(autouse=True)
def _english(settings):
    # The assertions read the English messages; the Russian ones are the catalogue's job.
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer_client(db):
    return logged_in(staff(Role.MARKETER))


FIELDS = {
    "name": "Спасибо за заказ",
    "slug": "thanks",
    "channel": "email",
    "purpose": "marketing",
    "topic": "",
    "subject": "{{ customer.first_name }}, спасибо!",
    "body_text": "{{ customer|case('datv') }} начислено {{ 25|plural('балл') }}.",
    "body_html": "<p>{{ customer|gendered('Дорогой', 'Дорогая') }} {{ customer.first_name }}</p>",
    "en_subject": "",
    "en_body_text": "",
    "en_body_html": "",
}


def buyer(first_name, *, days_ago, **kwargs):
    customer = CustomerFactory(first_name=first_name, last_order_at=None, **kwargs)
    order = OrderFactory(
        customer=customer,
        total=Decimal("1990"),
        placed_at=dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC) - dt.timedelta(days=days_ago),
    )
    OrderLine.objects.create(order=order, sku="MAT-1", name="Коврик", price=Decimal("1990"))
    customer.last_order_at = order.placed_at
    customer.orders_count = 1
    customer.save(update_fields=["last_order_at", "orders_count"])
    return customer


def test_create_saves_and_redirects_to_the_editor(marketer_client, frozen_time):
    data = FIELDS | {"en_subject": "Thanks", "en_body_text": "Hi {{ customer.first_name }}"}
    response = marketer_client.post(reverse("web:template_new"), data)
    template = Template.objects.get(slug="thanks")
    assert response.status_code == 302
    assert response["Location"] == reverse("web:template_edit", args=[template.pk])
    assert template.body_text == FIELDS["body_text"]
    assert template.translations == {
        "en": {
            "subject": "Thanks",
            "body_text": "Hi {{ customer.first_name }}",
            "body_html": "",
            "sms_text": "",
            "messenger_text": "",
            "messenger_buttons": [],
            "short_text": "",
        }
    }
    page = marketer_client.get(response["Location"])
    assert page.status_code == 200
    assert "Hi {{ customer.first_name }}" in html.unescape(page.content.decode())


def test_syntax_error_is_shown_under_its_field_with_the_line(marketer_client, frozen_time):
    data = FIELDS | {"body_text": "Здравствуйте!\n\n{% if customer.first_name %}\nПривет"}
    response = marketer_client.post(reverse("web:template_new"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["body_text"]
    assert errors["body_text"][0].startswith("Line 4: ")
    assert "Line 4: " in response.content.decode()
    assert not Template.objects.exists()


def test_unknown_names_and_filters_are_errors_of_their_fields(marketer_client, frozen_time):
    data = FIELDS | {
        "subject": "{{ custmer.first_name }}",
        "body_html": "<p>\n{{ 5|plurl('балл') }}</p>",
        "en_body_text": "Hi\n{{ customer.frist_name }}",
    }
    response = marketer_client.post(reverse("web:template_new"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["subject"] == ["Line 1: Unknown variable “custmer”."]
    assert errors["body_html"] == ["Line 2: Unknown filter “plurl”."]
    assert errors["en_body_text"][0].startswith("Line 2: ")
    assert "frist_name" in errors["en_body_text"][0]


def test_a_translation_needs_its_text(marketer_client, frozen_time):
    response = marketer_client.post(reverse("web:template_new"), FIELDS | {"en_subject": "Hi"})
    assert response.status_code == 400
    assert "en_body_text" in response.context["form"].errors


def test_edit_updates_the_template(marketer_client, frozen_time):
    template = Template.objects.create(
        slug="old",
        name="Old",
        channel="sms",
        body_text="Hi",
        translations={"en": {"body_text": "x"}},
    )
    url = reverse("web:template_edit", args=[template.pk])
    page = marketer_client.get(url)
    assert page.context["form"].initial["en_body_text"] == "x"
    response = marketer_client.post(url, FIELDS | {"slug": "old", "channel": "sms"})
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.name == FIELDS["name"]
    assert template.translations == {}  # emptied English fields drop the translation


def test_slug_is_unique(marketer_client, frozen_time):
    Template.objects.create(slug="thanks", name="Other", channel="email", body_text="Hi")
    response = marketer_client.post(reverse("web:template_new"), FIELDS)
    assert response.status_code == 400
    assert "slug" in response.context["form"].errors


def preview(client, **fields):
    return client.post(reverse("web:template_preview"), FIELDS | fields)


def test_preview_renders_for_the_most_recent_buyer_by_default(marketer_client, frozen_time):
    buyer("Мария", days_ago=30, gender="f")
    buyer("Алексей", days_ago=1, gender="m", patronymic="Сергеевич")
    CustomerFactory(first_name="Лид")  # newer, but never bought
    response = preview(marketer_client)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Алексей, спасибо!" in body
    assert "Алексею Сергеевичу начислено 25 баллов." in body
    # The HTML is posted into an empty sandboxed frame and comes back as its own document,
    # under the message policy rather than the page's.
    assert 'name="preview-html" sandbox=""' in body
    assert f'data-action="{reverse("web:template_preview_html")}"' in body
    frame = marketer_client.post(reverse("web:template_preview_html"), FIELDS)
    assert frame.content.decode() == "<p>Дорогой Алексей</p>"
    assert frame.headers["Content-Security-Policy"] == MESSAGE_HTML_POLICY
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_preview_for_a_chosen_or_found_customer(marketer_client, frozen_time):
    maria = buyer("Мария", days_ago=30, gender="f", email="maria@example.ru")
    buyer("Алексей", days_ago=1, gender="m")
    body = preview(marketer_client, customer=str(maria.pk)).content.decode()
    assert "Марии начислено" in body
    body = preview(marketer_client, find="maria@example.ru").content.decode()
    assert "Марии начислено" in body
    body = preview(marketer_client, find=f"#{maria.pk}").content.decode()
    assert "Марии начислено" in body


def test_preview_speaks_the_customers_language(marketer_client, frozen_time):
    john = buyer("John", days_ago=1, language="en")
    body = preview(
        marketer_client, customer=str(john.pk), en_body_text="Hello, {{ customer.first_name }}"
    ).content.decode()
    assert "Hello, John" in body


def test_preview_shows_problems_and_render_errors(marketer_client, frozen_time):
    buyer("Алексей", days_ago=1)
    body = preview(
        marketer_client,
        subject="{{ custmer }}",
        body_text="ok\n{% for i in range(10**9) %}x{% endfor %}",
    ).content.decode()
    assert "Unknown variable “custmer”." in html.unescape(body)
    assert "Cannot render:" in body
    assert "line 2: range() gives at most 1000 numbers" in body


def test_preview_without_customers(marketer_client, frozen_time):
    body = preview(marketer_client).content.decode()
    assert "no customers to preview" in body
    assert marketer_client.post(reverse("web:template_preview_html"), FIELDS).status_code == 404


def test_preview_html_says_why_it_cannot_render(marketer_client, frozen_time):
    buyer("Алексей", days_ago=1)
    response = marketer_client.post(
        reverse("web:template_preview_html"), FIELDS | {"body_html": "{{ 1/0 }}"}
    )
    assert response.status_code == 400
    assert "Division by zero." in response.content.decode()


def test_preview_html_is_for_marketers_and_by_post_only(frozen_time):
    buyer("Алексей", days_ago=1)
    url = reverse("web:template_preview_html")
    assert logged_in(staff(Role.SUPPORT)).post(url, FIELDS).status_code == 403
    assert logged_in(staff(Role.MARKETER)).get(url).status_code == 405


def test_list_has_a_fixed_number_of_queries(
    marketer_client, frozen_time, django_assert_num_queries
):
    Template.objects.create(slug="a", name="A", channel="email", body_text="Hi")
    BrandVoice.objects.create(channel="email", sender_name="Йога-дом")
    url = reverse("web:templates")
    with django_assert_num_queries(4):  # session, user, templates, brand voices
        response = marketer_client.get(url)
    assert "Йога-дом" in response.content.decode()
    for slug in ("b", "c", "d", "e"):
        Template.objects.create(slug=slug, name=slug.upper(), channel="sms", body_text="Hi")
    BrandVoice.objects.create(channel="sms", sender_name="YOGA")
    with django_assert_num_queries(4):
        response = marketer_client.get(url)
    assert len(response.context["page"].rows) == 5


def test_brand_voice_is_edited_per_channel(marketer_client, frozen_time):
    url = reverse("web:brand_voice")
    page = marketer_client.get(url, {"channel": "sms"})
    assert page.status_code == 200
    assert page.context["channel"] == "sms"
    response = marketer_client.post(
        url,
        {
            "channel": "sms",
            "sender_name": "YOGA",
            "greeting": "Привет, {{ customer.first_name }}!",
            "signature": "Йога-дом",
        },
    )
    assert response.status_code == 302
    voice = BrandVoice.objects.get(channel="sms")
    assert voice.greeting == "Привет, {{ customer.first_name }}!"
    response = marketer_client.post(
        url, {"channel": "sms", "sender_name": "YOGA", "greeting": "{{ nme }}", "signature": ""}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["greeting"] == ["Line 1: Unknown variable “nme”."]
    # The saved greeting is what previews and messages use.
    buyer("Алексей", days_ago=1)
    body = preview(marketer_client, preview_channel="sms", sms_text="{{ brand.greeting }}")
    assert "Привет, Алексей!" in body.content.decode()


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ANALYST])
def test_only_marketing_roles_edit_templates(role, frozen_time):
    client = logged_in(staff(role))
    template = Template.objects.create(slug="a", name="A", channel="email", body_text="Hi")
    assert client.get(reverse("web:templates")).status_code == 403
    assert client.post(reverse("web:template_new"), FIELDS).status_code == 403
    assert client.post(reverse("web:template_edit", args=[template.pk]), FIELDS).status_code == 403
    assert client.post(reverse("web:template_preview"), FIELDS).status_code == 403
    assert client.post(reverse("web:brand_voice"), {"channel": "sms"}).status_code == 403
    assert not Template.objects.filter(slug="thanks").exists()
