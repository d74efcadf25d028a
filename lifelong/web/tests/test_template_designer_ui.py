"""The email designer's pages: who may use them, saving, refusals, the preview, the test."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from lifelong.accounts.models import AuditLog, Role, User
from lifelong.messaging.models import BrandVoice, ChannelConfig, Message, Template
from lifelong.messaging.tests.email_check import email_html_problems
from lifelong.web.headers import MESSAGE_HTML_POLICY
from lifelong.web.tests.conftest import staff

pytestmark = pytest.mark.django_db

DESIGN = {
    "preheader": "",
    "blocks": [
        {"type": "heading", "text": "Здравствуйте, {{ customer.first_name }}!"},
        {"type": "button", "label": "Открыть", "url": "https://shop.example.ru/"},
        {"type": "footer", "text": "Прана", "unsubscribe": ""},
    ],
}


def logged_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def template():
    return Template.objects.create(
        slug="news", name="Новости", channel="email", subject="Новости", body_text="Текст"
    )


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.OWNER, 200), (Role.MARKETER, 200), (Role.SUPPORT, 403), (Role.ANALYST, 403)],
    ids=["owner", "marketer", "support", "analyst"],
)
def test_who_may_design(template, role, status):
    client = logged_in(staff(role))
    url = reverse("web:template_designer", args=[template.pk])

    assert client.get(url).status_code == status
    posted = client.post(url, {"subject": "x", "design": json.dumps(DESIGN)})
    assert posted.status_code == (302 if status == 200 else 403)


def test_a_template_without_a_design_starts_from_its_own_text(template):
    response = logged_in(staff(Role.MARKETER)).get(
        reverse("web:template_designer", args=[template.pk])
    )

    design = response.context["design"]
    assert [b["type"] for b in design["blocks"]] == ["heading", "text", "footer"]
    assert design["blocks"][1]["text"] == "Текст"
    assert 'id="designer-design"' in response.content.decode()


def test_saving_writes_the_design_and_the_email_parts(template):
    client = logged_in(staff(Role.MARKETER))

    response = client.post(
        reverse("web:template_designer", args=[template.pk]),
        {"subject": "Свежие новости", "design": json.dumps(DESIGN), "action": "save"},
    )

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.subject == "Свежие новости"
    assert template.design["blocks"] == DESIGN["blocks"]
    assert "<title>Свежие новости</title>" in template.body_html
    assert template.body_text.startswith("Здравствуйте, {{ customer.first_name }}!")
    assert not Message.objects.exists()


def test_a_refused_design_keeps_what_was_typed_and_lists_the_problems(template):
    design = {"blocks": [*DESIGN["blocks"], {"type": "text", "text": "{{ oops }"}]}

    response = logged_in(staff(Role.MARKETER)).post(
        reverse("web:template_designer", args=[template.pk]),
        {"subject": "Новости", "design": json.dumps(design)},
    )

    assert response.status_code == 400
    assert response.context["design"] == design
    assert response.context["problems"][0].startswith("Block 4 (Text), line 1:")
    template.refresh_from_db()
    assert (template.design, template.body_text) == ({}, "Текст")


def test_the_preview_is_the_rendered_email_in_its_own_policy(template):
    response = logged_in(staff(Role.MARKETER)).post(
        reverse("web:template_design_preview"),
        {"design": json.dumps(DESIGN), "subject": "Новости"},
    )

    html = response.content.decode()
    assert response.headers["Content-Security-Policy"] == MESSAGE_HTML_POLICY
    assert "Здравствуйте, Алексей!" in html  # the sample customer
    assert email_html_problems(html) == []


def test_the_preview_of_a_broken_design_names_the_problem():
    response = logged_in(staff(Role.MARKETER)).post(
        reverse("web:template_design_preview"),
        {"design": json.dumps({"blocks": [{"type": "button", "label": "", "url": ""}]})},
    )

    assert "Block 1 (Button): write the button" in response.content.decode()


def test_save_and_send_a_test_queues_it_to_the_staff_member_once_per_press(template):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    user = staff(Role.MARKETER)
    user.email = "marina@shop.example"
    user.save()
    client = logged_in(user)
    data = {"subject": "Новости", "design": json.dumps(DESIGN), "action": "test", "attempt": "a1"}

    for _ in range(2):
        client.post(reverse("web:template_designer", args=[template.pk]), data)

    message = Message.objects.get()
    assert (message.to, message.customer, message.subject) == (
        "marina@shop.example",
        None,
        "[Test] Новости",
    )
    assert "Здравствуйте, Алексей!" in message.body_html
    assert AuditLog.objects.filter(action="template.test_send").count() == 1


def test_a_test_without_an_address_says_so(template):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    client = logged_in(staff(Role.MARKETER))

    response = client.post(
        reverse("web:template_designer", args=[template.pk]),
        {"subject": "Новости", "design": json.dumps(DESIGN), "action": "test"},
        follow=True,
    )

    assert "Your account has no email address" in response.content.decode()
    assert not Message.objects.exists()


def test_the_brand_look_is_saved_and_rebuilds_designs(template):
    client = logged_in(staff(Role.OWNER))
    client.post(
        reverse("web:template_designer", args=[template.pk]),
        {"subject": "Новости", "design": json.dumps(DESIGN)},
    )

    response = client.post(
        reverse("web:template_design_brand"),
        {
            "accent": "#aa3300",
            "text": "#111111",
            "background": "#fafafa",
            "logo_url": "https://cdn.example.ru/logo.png",
            "template": str(template.pk),
        },
    )

    assert response.url == reverse("web:template_designer", args=[template.pk])
    voice = BrandVoice.objects.get(channel="email")
    assert (voice.color_accent, voice.logo_url) == ("#aa3300", "https://cdn.example.ru/logo.png")
    template.refresh_from_db()
    assert 'bgcolor="#aa3300"' in template.body_html
    assert AuditLog.objects.filter(action="brand_voice.look_update").exists()


def test_the_designer_warns_when_the_html_was_edited_by_hand(template):
    client = logged_in(staff(Role.MARKETER))
    url = reverse("web:template_designer", args=[template.pk])
    client.post(url, {"subject": "Новости", "design": json.dumps(DESIGN)})
    assert client.get(url).context["edited_by_hand"] is False
    Template.objects.filter(pk=template.pk).update(subject="Другая тема")  # the template page's
    assert client.get(url).context["edited_by_hand"] is False

    Template.objects.filter(pk=template.pk).update(body_html="<p>Поправлено руками</p>")

    response = client.get(url)
    assert response.context["edited_by_hand"] is True
    assert "Saving the design here replaces those changes." in response.content.decode()
