"""A reply on VK, MAX or WhatsApp becomes one inbox item in the customer's conversation,
linked to the message it answers; the platform's redelivery of the same update adds nothing.
The bodies are the channels' real webhook bytes, built by their hook tests' helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from lifelong import clock
from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Conversation, Item
from lifelong.messaging.models import ChannelConfig, Message, Status
from lifelong.messaging.tests import test_max as max_hooks
from lifelong.messaging.tests import test_vk as vk_hooks
from lifelong.messaging.tests import test_whatsapp as whatsapp_hooks

TEXT = "Курьер опоздал на два часа"


def _vk() -> tuple[dict, Callable]:
    ChannelConfig.objects.create(
        channel=Channel.VK,
        transport="vk",
        config={
            "access_token": vk_hooks.TOKEN,
            "group_id": vk_hooks.GROUP,
            "confirmation": "693d0ba9",
            "secret": vk_hooks.SECRET,
        },
    )
    return {"vk_id": "612444319"}, lambda client: vk_hooks.callback(
        client, vk_hooks.message_new(TEXT)
    )


def _max() -> tuple[dict, Callable]:
    ChannelConfig.objects.create(
        channel=Channel.MAX,
        transport="max",
        config={"access_token": max_hooks.TOKEN, "webhook_secret": max_hooks.SECRET},
    )
    return {"max_chat_id": max_hooks.CHAT}, lambda client: max_hooks.post(
        client, max_hooks.message_created(TEXT)
    )


def _whatsapp() -> tuple[dict, Callable]:
    ChannelConfig.objects.create(
        channel=Channel.WHATSAPP,
        transport="whatsapp",
        config={
            "access_token": whatsapp_hooks.TOKEN,
            "phone_number_id": whatsapp_hooks.PHONE_ID,
            "app_secret": whatsapp_hooks.APP_SECRET,
            "verify_token": whatsapp_hooks.VERIFY,
        },
    )
    value = {
        "contacts": [{"profile": {"name": "Анна"}, "wa_id": "79255070602"}],
        "messages": [
            {
                "from": "79255070602",
                "id": "wamid.incoming1",
                "timestamp": "1772445800",
                "type": "text",
                "text": {"body": TEXT},
            }
        ],
    }
    return {"phone": "+79255070602"}, lambda client: whatsapp_hooks.post(
        client, whatsapp_hooks.notification(value)
    )


@pytest.mark.parametrize(
    ("channel", "setup"),
    [(Channel.VK, _vk), (Channel.MAX, _max), (Channel.WHATSAPP, _whatsapp)],
    ids=["vk", "max", "whatsapp"],
)
def test_a_reply_becomes_one_inbox_item_and_a_replay_adds_nothing(
    frozen_time, db, client, channel, setup
):
    address, deliver = setup()
    customer = CustomerFactory.create(**address)
    CustomerFactory.create()  # someone else: their conversation stays empty
    ours = Message.objects.create(
        customer=customer,
        dedupe_key="order-15-shipped",
        channel=channel,
        purpose=Purpose.TRANSACTIONAL,
        to="x",
        status=Status.SENT,
        sent_at=clock.now() - dt.timedelta(hours=3),
    )

    assert deliver(client).status_code == 200
    assert deliver(client).status_code == 200  # the platform redelivers the same update

    item = Item.objects.get()
    assert (item.text, item.channel, item.message_id) == (TEXT, channel, ours.pk)
    assert "delivery" in item.themes
    conversation = Conversation.objects.get()
    assert (item.conversation_id, conversation.customer_id) == (conversation.pk, customer.pk)
    assert Event.objects.filter(type="message_replied").count() == 1
