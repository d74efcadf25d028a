"""Linking a customer to their Telegram chat through the bot's start link.

The customer opens https://t.me/<bot>?start=<token>; Telegram then sends the bot
"/start <token>" from their chat. Telegram allows 1-64 characters of A-Za-z0-9_- in a
start parameter, so the token is "<customer id>_<16 characters of an HMAC>" rather than a
Django signed value. It does not expire: the link may be printed on a receipt.
"""

from __future__ import annotations

import base64
import re

from django.db import transaction
from django.utils.crypto import constant_time_compare, salted_hmac

from lifelong import clock
from lifelong.customers.models import Channel, Customer
from lifelong.events.services import event_record
from lifelong.messaging.channels.http import hook_settings
from lifelong.messaging.models import Suppression

_SALT = "lifelong.telegram.link"
_TOKEN = re.compile(r"^(\d{1,20})_([A-Za-z0-9_-]{16})$")


def _signature(customer_id: int) -> str:
    digest = salted_hmac(_SALT, str(customer_id), algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode()[:16]


def telegram_link_token(customer_id: int) -> str:
    return f"{customer_id}_{_signature(customer_id)}"


def telegram_token_read(token: str) -> int | None:
    """The customer id a start token names, or None for a forged or malformed one."""
    match = _TOKEN.match(token.strip())
    if match is None:
        return None
    customer_id = int(match.group(1))
    if not constant_time_compare(match.group(2), _signature(customer_id)):
        return None
    return customer_id


def telegram_link_url(customer: Customer) -> str:
    """The customer's personal link to the bot; "" while Telegram is not set up."""
    settings = hook_settings(Channel.TELEGRAM, "telegram")
    username = str((settings or {}).get("bot_username") or "").lstrip("@")
    if not username:
        return ""
    return f"https://t.me/{username}?start={telegram_link_token(customer.pk)}"


@transaction.atomic
def telegram_chat_link(*, token: str, chat_id: str, update_id: int) -> Customer | None:
    """Attach the chat to the customer the token names; None for a bad or stale token.

    A chat belongs to one customer: whoever held it before loses it. Pressing Start again
    after blocking the bot proves the chat is open, so its suppression is lifted.
    """
    customer_id = telegram_token_read(token)
    if customer_id is None:
        return None
    customer = Customer.objects.live().filter(pk=customer_id).first()
    if customer is None:
        return None
    Customer.objects.filter(telegram_chat_id=chat_id).exclude(pk=customer.pk).update(
        telegram_chat_id=""
    )
    Suppression.objects.filter(channel=Channel.TELEGRAM, address=chat_id).delete()
    if customer.telegram_chat_id != chat_id:
        customer.telegram_chat_id, customer.updated_at = chat_id, clock.now()
        customer.save(update_fields=["telegram_chat_id", "updated_at"])
    event_record(
        customer=customer,
        type="telegram_linked",
        properties={"chat_id": chat_id},
        source="telegram",
        idempotency_key=f"telegram:update:{update_id}",
    )
    return customer
