"""The Telegram Bot API calls clubs make, with the bot set up on the Telegram channel.

Each call is one POST {base_url}/bot<token>/<method> with a JSON body, through the same
outbound client as the channel transport (public addresses only, unless the operator allows a
network). Telegram answers {"ok": true, "result": ...} or {"ok": false, "error_code",
"description"}; a refusal raises `BotApiError` with Telegram's own words, which staff see.
Never called inside a transaction (a retried transaction would call twice): callers run
these after commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lifelong.customers.models import Channel
from lifelong.messaging.channels.base import TransportError
from lifelong.messaging.channels.http import READ_TIMEOUT, http_request
from lifelong.messaging.channels.telegram.transport import TELEGRAM_URL, telegram_error
from lifelong.messaging.models import ChannelConfig

# The statuses of a chat member who is in the chat (a restricted one only with is_member).
IN_CHAT = ("creator", "administrator", "member")
# Update kinds a club needs that Telegram leaves out unless setWebhook's allowed_updates names
# them (an empty list means "the default": everything but these).
OPT_IN_UPDATES = ("chat_member", "message_reaction", "message_reaction_count")


class BotApiError(Exception):
    """A Bot API call that did not succeed (not set up, refused, or unreachable)."""


def _config() -> dict[str, Any]:
    row = ChannelConfig.objects.filter(
        channel=Channel.TELEGRAM, transport="telegram", active=True
    ).first()
    config = row.config if row is not None and isinstance(row.config, dict) else {}
    if not config.get("bot_token"):
        raise BotApiError("Telegram is not set up: add the bot's token on the channels page.")
    return config


def bot_user_id() -> int | None:
    """The bot's own user id: the number before the colon of its token."""
    try:
        token = str(_config()["bot_token"])
    except BotApiError:
        return None
    head = token.partition(":")[0]
    return int(head) if head.isdigit() else None


def call(method: str, body: dict[str, Any]) -> Any:
    """One Bot API method; returns its `result`."""
    config = _config()
    base = str(config.get("base_url") or TELEGRAM_URL).rstrip("/")
    try:
        response = http_request(
            "POST",
            f"{base}/bot{config['bot_token']}/{method}",
            json=body,
            timeout=float(config.get("timeout") or READ_TIMEOUT),
            label="Telegram",
        )
        answer = response.json()
        if not isinstance(answer, dict):
            raise BotApiError(f"Telegram: unreadable answer (HTTP {response.status})")
        if answer.get("ok") is not True:
            raise BotApiError(str(telegram_error(answer, response.status)))
    except TransportError as exc:
        raise BotApiError(str(exc)) from exc
    return answer.get("result")


def invite_link_create(*, chat_id: str, name: str, expires_at: dt.datetime) -> str:
    """A link that lets one person in, once, until `expires_at`."""
    result = call(
        "createChatInviteLink",
        {
            "chat_id": chat_id,
            "name": name[:32],
            "expire_date": int(expires_at.timestamp()),
            "member_limit": 1,
        },
    )
    link = result.get("invite_link") if isinstance(result, dict) else None
    if not isinstance(link, str) or not link:
        raise BotApiError("Telegram: the answer has no invite link")
    return link


def invite_link_revoke(*, chat_id: str, link: str) -> None:
    call("revokeChatInviteLink", {"chat_id": chat_id, "invite_link": link})


def member_remove(*, chat_id: str, user_id: int) -> None:
    """Take a person out of the chat without banning them for good: a ban removes them, the
    unban right after (only if banned) lets them come back later with a new invite."""
    call("banChatMember", {"chat_id": chat_id, "user_id": user_id})
    call("unbanChatMember", {"chat_id": chat_id, "user_id": user_id, "only_if_banned": True})


def bot_rights(*, chat_id: str) -> dict[str, Any]:
    """The bot's own membership of the chat (getChatMember): its status and rights."""
    user_id = bot_user_id()
    if user_id is None:
        raise BotApiError("Telegram: the bot token does not start with the bot's id")
    result = call("getChatMember", {"chat_id": chat_id, "user_id": user_id})
    if not isinstance(result, dict):
        raise BotApiError("Telegram: unreadable chat member")
    return result


def updates_missing() -> list[str]:
    """The opt-in update kinds the bot's webhook does not receive (getWebhookInfo)."""
    result = call("getWebhookInfo", {})
    allowed = result.get("allowed_updates") if isinstance(result, dict) else None
    allowed = allowed if isinstance(allowed, list) else []
    return [kind for kind in OPT_IN_UPDATES if kind not in allowed]
