"""What the club tests share: a Telegram bot set up against a local Bot API fake, a tier
ladder, a club for its top tier, and Telegram updates as the Bot API sends them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lifelong import clock
from lifelong.community.models import Club, ClubKind, EntryRule
from lifelong.customers.models import Channel
from lifelong.loyalty.models import Programme, Tier
from lifelong.messaging.models import ChannelConfig
from lifelong.messaging.tests.fake_api import FakeApi

BOT_ID = 7012345678
TOKEN = f"{BOT_ID}:AAF-club-test-token_0123456789abcdef"
SECRET = "club-webhook-secret-0123456789"
CHAT = -1001987654321
LINK = "https://t.me/+Zx9club_invite_AAAA"


@pytest.fixture
def loopback_allowed(settings):
    """The Bot API fake listens on 127.0.0.1, which outbound calls refuse unless allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
def api(loopback_allowed):
    with FakeApi() as server:
        server.default.body = {"ok": True, "result": True}
        yield server


def bot_set_up(base_url: str) -> ChannelConfig:
    """The Telegram channel with the bot's token, its webhook secret and the fake's address."""
    return ChannelConfig.objects.create(
        channel=Channel.TELEGRAM,
        transport="telegram",
        config={"bot_token": TOKEN, "webhook_secret": SECRET, "base_url": base_url},
    )


def ladder_make() -> dict[str, Tier]:
    Programme.objects.update_or_create(pk=1, defaults={"enabled": True})
    return {
        "novice": Tier.objects.create(slug="novichok", name="Новичок", position=1),
        "guru": Tier.objects.create(
            slug="guru", name="Гуру", position=3, min_spend=Decimal("50000")
        ),
    }


def club_make(tier: Tier) -> Club:
    return Club.objects.create(
        title="Клуб Гуру",
        kind=ClubKind.TELEGRAM_GROUP,
        chat_id=str(CHAT),
        entry=EntryRule.TIER,
        tier=tier,
        grace_days=14,
        invite_days=7,
    )


@pytest.fixture
def bot(db, api) -> ChannelConfig:
    return bot_set_up(api.url)


@pytest.fixture
def ladder(db) -> dict[str, Tier]:
    return ladder_make()


@pytest.fixture
def club(ladder) -> Club:
    return club_make(ladder["guru"])


def link_created(link: str = LINK) -> dict[str, Any]:
    """createChatInviteLink's answer, as Telegram words it."""
    return {
        "ok": True,
        "result": {
            "invite_link": link,
            "creator": {"id": BOT_ID, "is_bot": True, "first_name": "Прана"},
            "creates_join_request": False,
            "is_primary": False,
            "is_revoked": False,
            "member_limit": 1,
        },
    }


def _chat() -> dict[str, Any]:
    return {"id": CHAT, "title": "Клуб Гуру", "type": "supergroup"}


def _user(user_id: int, name: str = "Анна") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "ru"}


def _stamp() -> int:
    return int(clock.now().timestamp())


def joined(update_id: int, user_id: int, *, link: str | None = LINK) -> dict[str, Any]:
    body: dict[str, Any] = {
        "chat": _chat(),
        "from": _user(user_id),
        "date": _stamp(),
        "old_chat_member": {"user": _user(user_id), "status": "left"},
        "new_chat_member": {"user": _user(user_id), "status": "member"},
    }
    if link:
        body["invite_link"] = {
            "invite_link": link,
            "creator": {"id": BOT_ID, "is_bot": True, "first_name": "Прана"},
            "creates_join_request": False,
            "is_primary": False,
            "is_revoked": False,
            "name": "Lifelong #1",
            "member_limit": 1,
        }
    return {"update_id": update_id, "chat_member": body}


def left(update_id: int, user_id: int, *, by: int | None = None) -> dict[str, Any]:
    actor = by or user_id
    return {
        "update_id": update_id,
        "chat_member": {
            "chat": _chat(),
            "from": _user(actor, "Админ") if by else _user(user_id),
            "date": _stamp(),
            "old_chat_member": {"user": _user(user_id), "status": "member"},
            "new_chat_member": {
                "user": _user(user_id),
                "status": "kicked" if by else "left",
                **({"until_date": 0} if by else {}),
            },
        },
    }


def posted(
    update_id: int, user_id: int, *, message_id: int, text: str = "Всем привет!", reply_to: int = 0
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": _user(user_id),
        "chat": _chat(),
        "date": _stamp(),
        "text": text,
    }
    if reply_to:
        message["reply_to_message"] = {
            "message_id": reply_to,
            "from": _user(user_id + 1, "Мария"),
            "chat": _chat(),
            "date": _stamp() - 60,
            "text": "Что посоветуете?",
        }
    return {"update_id": update_id, "message": message}


def reacted(update_id: int, user_id: int, *, message_id: int, emoji: list[str]) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message_reaction": {
            "chat": _chat(),
            "message_id": message_id,
            "user": _user(user_id),
            "date": _stamp(),
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": e} for e in emoji],
        },
    }


def bot_promoted(update_id: int) -> dict[str, Any]:
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "Прана", "username": "prana_shop_bot"}
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": _chat(),
            "from": _user(5550001, "Владелец"),
            "date": _stamp(),
            "old_chat_member": {"user": bot, "status": "member"},
            "new_chat_member": {
                "user": bot,
                "status": "administrator",
                "can_be_edited": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": True,
                "is_anonymous": False,
            },
        },
    }


def deliver(client: Client, update: dict[str, Any]) -> int:
    """POST an update to the bot's webhook as Telegram does; returns the status code."""
    response = client.post(
        reverse("messaging_hooks:telegram"),
        json.dumps(update),
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    return response.status_code


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)
