"""A template that sends as the customer's personal manager: the name in From (over real SMTP
to a local server) and `manager` in the template context."""

from __future__ import annotations

import email
import email.policy
from typing import cast

import pytest

from lifelong.accounts.models import Role
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.templating import message_context, template_validate
from lifelong.messaging.tests.test_email_transport import _config, smtp_server  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def sveta():
    return UserFactory(
        username="sveta", first_name="Светлана", last_name="Котова", role=Role.SUPPORT
    )


def _template(*, sender_manager: bool, channel: str = "email") -> Template:
    return Template.objects.create(
        slug=f"t-{channel}-{sender_manager}",
        name="t",
        channel=channel,
        purpose="transactional",
        subject="Ваш уровень",
        body_text="{{ customer.first_name }}, я на связи. {{ manager.first_name }}",
        short_text="{{ customer.first_name }}, я на связи. {{ manager.first_name }}",
        sender_manager=sender_manager,
    )


def _customer(manager=None) -> Customer:
    return cast(
        Customer,
        CustomerFactory(first_name="Анна", email="anna@example.ru", personal_manager=manager),
    )


def _from(raw: bytes) -> tuple[str, str]:
    [sender] = email.message_from_bytes(raw, policy=email.policy.default)["From"].addresses
    return sender.display_name, sender.addr_spec


def test_from_shows_the_personal_manager_and_the_text_names_them(smtp_server, sveta):  # noqa: F811
    ChannelConfig.objects.create(
        channel="email", transport="smtp", config=_config(smtp_server), active=True
    )
    template = _template(sender_manager=True)
    with_manager, _ = message_enqueue(
        customer=_customer(sveta),
        dedupe_key="a",
        channel="email",
        purpose="transactional",
        template=template,
    )
    without, _ = message_enqueue(
        customer=_customer(),
        dedupe_key="b",
        channel="email",
        purpose="transactional",
        template=template,
    )
    assert with_manager.payload == {"from_name": "Светлана Котова"}
    assert with_manager.body_text == "Анна, я на связи. Светлана"
    assert without.payload == {}
    assert dispatch_due() == 2
    senders = sorted(_from(raw) for raw in smtp_server.messages)
    assert senders == [
        ("Магазин «Ромашка»", "shop@example.ru"),  # the channel's name for the customer without
        ("Светлана Котова", "shop@example.ru"),
    ]
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_only_when_the_template_asks_and_only_for_email(sveta):
    customer = _customer(sveta)
    plain, _ = message_enqueue(
        customer=customer, dedupe_key="c", channel="email", template=_template(sender_manager=False)
    )
    sms, _ = message_enqueue(
        customer=customer,
        dedupe_key="d",
        channel="sms",
        template=_template(sender_manager=True, channel="sms"),
    )
    assert plain.payload == {} and sms.payload == {}


def test_context_has_the_manager_or_empty_strings(sveta):
    assert message_context(customer=_customer(), channel="sms")["manager"] == {
        "name": "",
        "first_name": "",
        "last_name": "",
        "email": "",
    }
    customer = Customer.objects.get(pk=_customer(sveta).pk)
    manager = message_context(customer=customer, channel="telegram")["manager"]
    assert manager["name"] == "Светлана Котова" and manager["first_name"] == "Светлана"


def test_templates_may_use_manager():
    problems = template_validate(
        subject="",
        body_text="С уважением, {{ manager.name }}{% if not manager.name %} команда{% endif %}",
        body_html="",
    )
    assert problems == []
    assert template_validate(subject="", body_text="{{ manager.phone }}", body_html="")
