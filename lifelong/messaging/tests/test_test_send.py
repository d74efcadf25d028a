"""“Send a test to me”: the staff member's own address, through the outbox, on a sample."""

from __future__ import annotations

import pytest
from django.utils import translation

from lifelong.accounts.models import Role
from lifelong.customers.models import Purpose
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import BrandVoice, ChannelConfig, Message, Status, Template
from lifelong.messaging.test_send import TestSendError, template_test_send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def template():
    return Template.objects.create(
        slug="hello",
        name="Привет",
        channel="email",
        subject="Здравствуйте, {{ customer.first_name }}",
        body_text="{{ brand.greeting }} Ваш заказ {{ last_order.external_id }}.",
        body_html="<p>Заказ <b>{{ last_order.external_id }}</b></p>",
        messenger_text="Заказ {{ last_order.external_id }} в пути",
    )


@pytest.fixture
def staff():
    return UserFactory(username="anna", email="anna@shop.example", role=Role.MARKETER)


def test_a_test_reaches_the_staff_email_through_the_outbox(frozen_time, template, staff):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    BrandVoice.objects.create(channel="email", greeting="Добрый день, {{ customer.first_name }}!")

    message = template_test_send(template=template, user=staff, channel="email")

    assert (message.customer, message.purpose, message.to) == (
        None,
        Purpose.TRANSACTIONAL,
        "anna@shop.example",
    )
    # The sample customer, and the channel's real brand voice rendered for them.
    assert message.subject == "[Test] Здравствуйте, Алексей"
    assert message.body_text == "Добрый день, Алексей! Ваш заказ O0000001."
    assert message.body_html == "<p>Заказ <b>O0000001</b></p>"
    assert dispatch_due() == 1
    message.refresh_from_db()
    assert (message.status, message.to, message.transport) == (
        Status.SENT,
        "anna@shop.example",
        "sandbox",
    )


def test_each_press_is_a_new_test_and_a_repeated_press_is_one(frozen_time, template, staff):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)

    first = template_test_send(template=template, user=staff, channel="email")
    second = template_test_send(template=template, user=staff, channel="email")
    again = [
        template_test_send(template=template, user=staff, channel="email", attempt="press-1")
        for _ in range(2)
    ]

    assert first.pk != second.pk
    assert again[0].pk == again[1].pk
    assert Message.objects.count() == 3


def test_other_channels_go_to_the_customer_record_with_the_staff_email(
    frozen_time, template, staff
):
    ChannelConfig.objects.create(channel="telegram", transport="sandbox", active=True)
    with pytest.raises(TestSendError, match="Telegram"):
        template_test_send(template=template, user=staff, channel="telegram")
    CustomerFactory(email="ANNA@shop.example", telegram_chat_id="777")

    message = template_test_send(template=template, user=staff, channel="telegram")

    # The messenger variant, never the email body.
    assert (message.to, message.body_text, message.body_html) == (
        "777",
        "Заказ O0000001 в пути",
        "",
    )
    assert dispatch_due() == 1


@pytest.mark.parametrize(
    ("email", "configured", "error"),
    [
        ("", True, "no email address"),
        ("anna@shop.example", False, "not set up"),
    ],
    ids=["no-email", "channel-not-set-up"],
)
def test_a_test_that_cannot_go_says_why(frozen_time, template, email, configured, error):
    if configured:
        ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    user = UserFactory(username="boris", email=email)

    with pytest.raises(TestSendError, match=error):
        template_test_send(template=template, user=user, channel="email")

    assert not Message.objects.exists()


def test_a_template_that_does_not_render_is_reported(frozen_time, staff):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    broken = Template.objects.create(
        slug="broken", name="Сломанный", channel="email", body_text="{{ customer.__class__ }}"
    )

    with pytest.raises(TestSendError, match="does not render"):
        template_test_send(template=broken, user=staff, channel="email")
    ChannelConfig.objects.create(channel="sms", transport="sandbox", active=True)
    CustomerFactory(email=staff.email, phone="+79160000001")
    with pytest.raises(TestSendError, match="no text for SMS"):
        template_test_send(template=broken, user=staff, channel="sms")
