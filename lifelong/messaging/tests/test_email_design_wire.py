"""A designed email as it leaves over SMTP: the MIME message a real SMTP server receives."""

from __future__ import annotations

import email
import email.policy
from decimal import Decimal

import pytest

from lifelong import clock
from lifelong.commerce.models import OrderStatus
from lifelong.commerce.services import LineInput, order_upsert
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging.designs import template_design_save
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Template
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.tests.email_check import email_html_problems
from lifelong.messaging.tests.test_email_transport import (  # noqa: F401 (a fixture)
    _config,
    smtp_server,
)

pytestmark = pytest.mark.django_db

DESIGN = {
    "preheader": "Ваш коврик и кое-что к нему",
    "blocks": [
        {"type": "heading", "text": "{{ customer.first_name }}, спасибо за заказ!"},
        {"type": "text", "text": "Собрали то, что пригодится <вместе> с ним."},
        {"type": "button", "label": "Посмотреть", "url": "https://prana.example/picks"},
        {"type": "products", "source": "last_order", "title": ""},
        {"type": "divider"},
        {"type": "footer", "text": "«Прана», Казань", "unsubscribe": ""},
    ],
}


def test_the_wire_carries_a_text_part_and_an_email_safe_html_part(
    frozen_time,
    smtp_server,  # noqa: F811
    loopback_allowed,
):
    ChannelConfig.objects.create(channel="email", transport="smtp", config=_config(smtp_server))
    customer = CustomerFactory(first_name="Ольга", email="olga@example.ru")
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    order_upsert(
        external_id="O-7",
        customer=customer,
        total=Decimal("3490"),
        placed_at=clock.now(),
        status=OrderStatus.PAID,
        lines=[LineInput(sku="MAT-2", quantity=1, price=Decimal("3490"), name="Коврик Про")],
        source="test",
    )
    template = Template.objects.create(
        slug="thanks", name="Спасибо", channel="email", subject="Спасибо, {{ customer.first_name }}"
    )
    template_design_save(template=template, design=DESIGN, actor=None)
    message_enqueue(customer=customer, dedupe_key="thanks-1", channel="email", template=template)

    assert dispatch_due() == 1

    [raw] = smtp_server.messages
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in mail.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    text, html = parts["text/plain"], parts["text/html"]
    assert "Ольга, спасибо за заказ!" in text and "Коврик Про — 3\u00a0490\u00a0₽" in text
    assert "Собрали то, что пригодится <вместе> с ним." in text
    assert "Ольга, спасибо за заказ!" in html and "&lt;вместе&gt;" in html
    # Marketing: the footer's link is the same one-click unsubscribe as the header's.
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(mail["List-Unsubscribe"]).split(">")[0].lstrip("<")
    assert unsubscribe.startswith("http") and f'href="{unsubscribe}"' in html
    assert f"Отписаться от этих писем: {unsubscribe}" in text
    assert email_html_problems(html) == []
    lowered = html.lower()
    assert "<script" not in lowered and "<style" not in lowered and "<link" not in lowered
    assert lowered.count("<table") >= 3 and 'style="' in lowered
