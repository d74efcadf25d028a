"""VK Callback API events from club conversations: joins and leaves, and activity.

VK sends a conversation's messages as `message_new` events with the conversation's peer id
(2000000000 + its chat id); the community sees them when it is in the conversation with access
to its messages. VK repeats an event until it gets "ok" and names each one by `event_id`: the
id is claimed (`ClubUpdate`, source "vk") in the same transaction as everything it writes, so a
replayed event changes nothing. Conversations that are not clubs are acknowledged and dropped.

- action chat_invite_user (someone added `member_id`; added by themselves when they return),
  chat_invite_user_by_link (`from_id` came in through the conversation's link): a join,
  matched to the customer whose vk_id is the user's; event community_joined.
- action chat_kick_user: `member_id` left (when it is `from_id`) or a conversation admin
  removed them (community_removed, reason chat_admin); our community's own removals
  (`from_id` is a community) change nothing: the removal service recorded them.
- any other message with text or attachments: one more message (a reply when it answers
  another message) on the member's day and community_post, never the text; the text is kept
  only while the club keeps texts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from django.db import IntegrityError, transaction

from lifelong import clock
from lifelong.community.models import Club, ClubKind, ClubUpdate
from lifelong.community.updates import member_in, member_out, member_posted
from lifelong.community.vk import CHAT_PEER_BASE

log = logging.getLogger(__name__)

SOURCE = "vk"
JOINS = ("chat_invite_user", "chat_invite_user_by_link")


def is_conversation_event(event: dict[str, Any]) -> bool:
    """True for a message_new event from a conversation (not a private message)."""
    message = _message(event)
    peer_id = message.get("peer_id") if message else None
    return isinstance(peer_id, int) and peer_id >= CHAT_PEER_BASE


def _message(event: dict[str, Any]) -> dict[str, Any] | None:
    if event.get("type") != "message_new":
        return None
    payload = event.get("object")
    message = payload.get("message") if isinstance(payload, dict) else None
    return message if isinstance(message, dict) else None


def vk_event_receive(*, event: dict[str, Any]) -> bool:
    """Apply one conversation event once; False when it is not from a conversation (the
    caller's private-message handling goes on). True also for a replay or an unknown one."""
    if not is_conversation_event(event):
        return False
    message = _message(event)
    assert message is not None  # is_conversation_event read it
    club = Club.objects.filter(kind=ClubKind.VK_CHAT, chat_id=str(message["peer_id"])).first()
    if club is None:
        log.info("club_vk_event_unknown_chat")
        return True
    event_key = _event_key(event, message)
    if event_key is None:
        return True
    from_id = message.get("from_id")
    if not isinstance(from_id, int) or message.get("out"):
        return True  # our own message in the conversation
    with transaction.atomic():
        try:
            with transaction.atomic():
                ClubUpdate.objects.create(source=SOURCE, update_id=_update_id(event_key))
        except IntegrityError:
            return True  # applied before
        at = _when(message.get("date"))
        key = f"vk_event:{event_key}"
        action = message.get("action")
        if isinstance(action, dict):
            _action(club, action, from_id=from_id, at=at, key=key)
        elif from_id > 0 and (message.get("text") or message.get("attachments")):
            member_posted(
                club,
                {"id": from_id},
                at=at,
                message_id=message.get("conversation_message_id"),
                text=str(message.get("text") or ""),
                reply=isinstance(message.get("reply_message"), dict),
                key=key,
                source=SOURCE,
            )
    return True


def _event_key(event: dict[str, Any], message: dict[str, Any]) -> str | None:
    """VK's event_id; without one, the message's own number in its conversation."""
    event_id = event.get("event_id")
    if isinstance(event_id, str) and event_id:
        return event_id[:100]
    number = message.get("conversation_message_id")
    return f"{message['peer_id']}:{number}" if isinstance(number, int) else None


def _update_id(event_key: str) -> int:
    # event_id is a hex string, ClubUpdate keeps integers: 60 bits of its hash (a collision
    # between two events of the kept week is out of reach).
    return int(hashlib.sha256(event_key.encode()).hexdigest()[:15], 16)


def _when(stamp: object) -> dt.datetime:
    if isinstance(stamp, int) and stamp > 0:
        return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)
    return clock.now()


def _action(club: Club, action: dict[str, Any], *, from_id: int, at: dt.datetime, key: str) -> None:
    kind = action.get("type")
    member_id = action.get("member_id")
    if kind in JOINS:
        user_id = member_id if kind == "chat_invite_user" else from_id
        if isinstance(user_id, int) and user_id > 0:  # a negative id is a community (a bot)
            member_in(club, {"id": user_id}, invite=None, at=at, key=key, source=SOURCE)
    elif kind == "chat_kick_user":
        if not isinstance(member_id, int) or member_id <= 0 or from_id < 0:
            return  # a bot went out, or our community's own removal: recorded when made
        member_out(club, member_id, removed=member_id != from_id, at=at, key=key, source=SOURCE)
