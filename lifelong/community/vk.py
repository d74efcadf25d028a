"""The VK API calls a VK club makes, with the community token of the VK channel.

Each call is one POST {base_url}/method/<method> with form fields (the token in the body, never
the URL), as the channel's transport does. VK answers HTTP 200 either way: {"response": ...} or
{"error": {"error_code", "error_msg"}}; a refusal raises `VkApiError` with VK's own words,
which staff see. Never called inside a transaction: callers run these after commit.
"""

from __future__ import annotations

from typing import Any

from lifelong.customers.models import Channel
from lifelong.messaging.channels.base import TransportError
from lifelong.messaging.channels.http import READ_TIMEOUT, http_request
from lifelong.messaging.channels.vk.transport import VK_URL, VK_VERSION
from lifelong.messaging.models import ChannelConfig

# A conversation's peer id is this plus its chat id (VK's own numbering).
CHAT_PEER_BASE = 2_000_000_000
# 935: the user is not in the conversation (already gone: nothing to do).
NOT_IN_CHAT = 935
# 15 access denied, 925 "You are not admin of this chat": the community lacks the rights.
NO_RIGHTS = {15, 925}


class VkApiError(Exception):
    """A VK API call that did not succeed (not set up, refused, or unreachable)."""

    def __init__(self, text: str, *, code: int | None = None) -> None:
        super().__init__(text)
        self.code = code


def _config() -> dict[str, Any]:
    row = ChannelConfig.objects.filter(channel=Channel.VK, transport="vk", active=True).first()
    config = row.config if row is not None and isinstance(row.config, dict) else {}
    if not config.get("access_token"):
        raise VkApiError("VK is not set up: add the community token on the channels page.")
    return config


def call(method: str, fields: dict[str, Any]) -> Any:
    """One VK API method; returns its `response`."""
    config = _config()
    base = str(config.get("base_url") or VK_URL).rstrip("/")
    try:
        response = http_request(
            "POST",
            f"{base}/method/{method}",
            form={
                "access_token": config["access_token"],
                "v": config.get("api_version") or VK_VERSION,
                **fields,
            },
            timeout=float(config.get("timeout") or READ_TIMEOUT),
            label="VK",
        )
        answer = response.json()
    except (TransportError, ValueError) as exc:
        raise VkApiError(f"VK: {exc}") from exc
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        error = answer["error"]
        code = error.get("error_code")
        raise VkApiError(
            f"VK {code}: {error.get('error_msg', '')}",
            code=code if isinstance(code, int) else None,
        )
    if not isinstance(answer, dict) or "response" not in answer:
        raise VkApiError(f"VK: unreadable answer (HTTP {response.status})")
    return answer["response"]


def member_remove(*, peer_id: str, user_id: int) -> None:
    """Take a person out of the conversation (messages.removeChatUser). They can come back
    later through the conversation's link. Someone no longer in it counts as removed."""
    try:
        call(
            "messages.removeChatUser",
            {"chat_id": int(peer_id) - CHAT_PEER_BASE, "user_id": user_id},
        )
    except VkApiError as exc:
        if exc.code != NOT_IN_CHAT:
            raise


def community_rights(*, peer_id: str) -> str:
    """Whether our community administers the conversation (messages.getConversationsById):
    "administrator", "member" (in it without admin rights) or "left" (VK shows us nothing of
    it). Needs the community id on the VK channel to find us among the admins."""
    group_id = str(_config().get("group_id") or "").strip()
    if not group_id.isdigit():
        raise VkApiError("VK: fill in the community id on the channels page first.")
    result = call("messages.getConversationsById", {"peer_ids": peer_id})
    items = result.get("items") if isinstance(result, dict) else None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return "left"
    settings = items[0].get("chat_settings")
    settings = settings if isinstance(settings, dict) else {}
    admins = settings.get("admin_ids")
    us = -int(group_id)
    if settings.get("owner_id") == us or (isinstance(admins, list) and us in admins):
        return "administrator"
    return "member"
