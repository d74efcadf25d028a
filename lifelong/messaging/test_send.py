"""“Send a test to me”: a template, rendered for a made-up customer, sent to the staff member.

The test goes through the outbox like any message (a transactional row with its own dedupe
key, delivered by `dispatch_due` through the channel's real transport), so what arrives is
what a customer would get. It is rendered on the sample customer of template checks, never
on a real one: a real customer's unsubscribe link in a staff mailbox would unsubscribe them.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.messaging.services import MessagingError, address_of, message_enqueue
from lifelong.messaging.templating import TemplateRenderError, fields_render, sample_context
from lifelong.messaging.templating.context import brand_context
from lifelong.messaging.variants import variant_for


class TestSendError(MessagingError):
    """A test that cannot be sent: no address for the staff member, channel not set up, ..."""

    __test__ = False  # not a pytest class, whatever its name


def staff_address(user: User, channel: str) -> str:
    """Where a test for `user` goes on `channel`, or "" when Lifelong knows no address.

    Email: the staff account's own email. Other channels: the address of the customer
    record that carries the same email (a staff member who linked their Telegram, phone
    or push subscription as a customer of the shop gets tests there).
    """
    email = (user.email or "").strip()
    if channel == Channel.EMAIL or not email:
        return email if channel == Channel.EMAIL else ""
    customer = Customer.objects.live().filter(email__iexact=email).order_by("pk").first()
    return address_of(customer, channel) if customer is not None else ""


def preview_context(channel: str) -> dict[str, Any]:
    """The sample customer of template checks, with the channel's real brand voice and a
    cart of two items (so a designed product list shows in a test)."""
    context = sample_context()
    context["channel"] = channel
    context["brand"] = brand_context(channel, context)
    product = context["last_order"]["products"][0]
    context["cart"] = {
        "products": [
            product,
            {
                **product,
                "name": "Блок для йоги",
                "sku": "BLOCK-1",
                "price": Decimal("790.00"),
                "total": Decimal("790.00"),
            },
        ],
        "total": product["total"] + Decimal("790.00"),
    }
    return context


def template_test_send(
    *, template: Template, user: User, channel: str, attempt: str = ""
) -> Message:
    """Queue a test of `template` on `channel` to `user` themselves; returns the outbox row.

    `attempt` names one press of the button (a form's nonce): a repeated POST of the same
    press queues nothing new. Without it every call is a new test. Raises `TestSendError`
    with a message for the staff member when the test cannot go.
    """
    if channel not in Channel.values:
        raise TestSendError(_("Unknown channel."), field="channel")
    label = Channel(channel).label
    if not ChannelConfig.objects.filter(channel=channel, active=True).exists():
        raise TestSendError(
            _("%(channel)s is not set up yet: set it up under Channels first.")
            % {"channel": label},
            field="channel",
        )
    to = staff_address(user, channel)
    if not to:
        if channel == Channel.EMAIL:
            problem = _("Your account has no email address: add one on your account page.")
        else:
            problem = _(
                "Lifelong knows no %(channel)s address of yours. Tests on %(channel)s go to "
                "the customer with your account's email: link %(channel)s there."
            ) % {"channel": label}
        raise TestSendError(problem, field="channel")
    context = preview_context(channel)
    variant = variant_for(template, channel)
    if variant is None:
        raise TestSendError(
            _("The template has no text for %(channel)s.") % {"channel": label}, field="template"
        )
    try:
        rendered = fields_render(
            subject=variant.subject, text=variant.text, html=variant.html, context=context
        )
    except TemplateRenderError as exc:
        raise TestSendError(
            _("The template does not render: %(error)s") % {"error": exc}, field="template"
        ) from exc
    payload: dict[str, str] = {}
    if template.sender_manager and channel == Channel.EMAIL and context["manager"]["name"]:
        payload["from_name"] = context["manager"]["name"]
    key = attempt or uuid.uuid4().hex
    # One transaction: a dispatcher never sees the row before its address is on it (the
    # dispatcher fills `to` from the customer, and a test has none).
    with transaction.atomic():
        message, created = message_enqueue(
            customer=None,
            dedupe_key=f"template-test:{template.pk}:{user.pk}:{channel}:{key}"[:200],
            channel=channel,
            purpose=Purpose.TRANSACTIONAL,
            subject=_("[Test] %(subject)s") % {"subject": rendered.subject or template.name},
            text=rendered.text,
            html=rendered.html,
            payload=payload,
        )
        if created:
            message.to = to
            message.save(update_fields=["to"])
    return message
