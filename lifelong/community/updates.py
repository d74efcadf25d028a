"""The bot's updates from club chats: joins and leaves, the bot's own rights, activity.

Telegram delivers an update until it gets a 2xx, and may deliver one twice. Each update's id
is claimed (`ClubUpdate`) in the same transaction as everything it writes, so a redelivered
update changes nothing; updates for chats that are not clubs are acknowledged and dropped.

- chat_member: someone came in or went out. A join through one of our links names the link,
  and the link names the customer; without it we match the Telegram user to a customer whose
  linked chat is theirs (a private chat's id is the user's id). Event community_joined; a
  leave writes community_left, a removal by a chat admin community_removed. The bot's own
  removals (ban + unban) arrive here too and change nothing: the sweep recorded them.
- my_chat_member: the bot was made an admin, lost its rights, or was removed.
- message: one more message (a reply when it answers another member's message) on the
  member's day, and the event community_post with the club, never the text; the text is
  kept only when the club's owner turned `keep_texts` on. A message dated before the member
  left or was removed (a late delivery) does not bring them back.
- message_reaction: reactions a member added. message_reaction_count: a channel's anonymous
  reactions, on the club's anonymous row of the day (see `_reaction_count`).

`member_in`, `member_out` and `member_posted` are shared with VK conversations
(`community.vk_updates`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest

from lifelong import clock
from lifelong.community import telegram
from lifelong.community.models import (
    TELEGRAM_KINDS,
    BotStatus,
    Club,
    ClubActivity,
    ClubInvite,
    ClubMember,
    ClubText,
    ClubUpdate,
    MemberStatus,
    RemovalReason,
)
from lifelong.customers.models import Customer
from lifelong.events.services import event_record

log = logging.getLogger(__name__)

SOURCE = "telegram"
CLUB_CHATS = ("group", "supergroup", "channel")
COMMUNITY_UPDATES = (
    "chat_member",
    "my_chat_member",
    "message",
    "edited_message",
    "message_reaction",
    "message_reaction_count",
)
# What makes a message a post (service messages about joins, pins or titles are not).
POST_FIELDS = (
    "text",
    "caption",
    "photo",
    "video",
    "video_note",
    "voice",
    "audio",
    "document",
    "animation",
    "sticker",
    "poll",
    "location",
    "contact",
)


def is_club_update(update: dict[str, Any]) -> bool:
    """True for an update about a group, supergroup or channel (not a private chat)."""
    for kind in COMMUNITY_UPDATES:
        body = update.get(kind)
        if isinstance(body, dict):
            chat = body.get("chat")
            return isinstance(chat, dict) and chat.get("type") in CLUB_CHATS
    return False


def telegram_update_receive(*, update: dict[str, Any]) -> bool:
    """Apply one club update once; False when it is not about a club chat at all (the
    caller's private-chat handling goes on). True also for a replay or an unknown chat."""
    if not is_club_update(update):
        return False
    kind = next(k for k in COMMUNITY_UPDATES if isinstance(update.get(k), dict))
    body: dict[str, Any] = update[kind]
    chat_id = str(body["chat"].get("id"))
    club = Club.objects.filter(kind__in=TELEGRAM_KINDS, chat_id=chat_id).first()
    if club is None:
        log.info("club_update_unknown_chat", extra={"kind": kind})
        return True
    update_id = update.get("update_id")
    if not isinstance(update_id, int):
        return True
    with transaction.atomic():
        try:
            with transaction.atomic():
                ClubUpdate.objects.create(source=SOURCE, update_id=update_id)
        except IntegrityError:
            return True  # applied before
        at = _when(body.get("date"))
        if kind == "chat_member":
            _chat_member(club, body, at=at, update_id=update_id)
        elif kind == "my_chat_member":
            _my_chat_member(club, body, at=at)
        elif kind == "message":
            _message(club, body, at=at, update_id=update_id)
        elif kind == "message_reaction":
            _reaction(club, body, at=at)
        elif kind == "message_reaction_count":
            _reaction_count(club, body, at=at)
        # edited_message: an edit is not a new post; claimed only so it is acknowledged.
    return True


def _when(stamp: object) -> dt.datetime:
    if isinstance(stamp, int) and stamp > 0:
        return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)
    return clock.now()


def _in_chat(state: object) -> bool:
    if not isinstance(state, dict):
        return False
    status = state.get("status")
    return status in telegram.IN_CHAT or (status == "restricted" and bool(state.get("is_member")))


def _user(body: dict[str, Any], key: str = "from") -> dict[str, Any] | None:
    user = body.get(key)
    return user if isinstance(user, dict) and isinstance(user.get("id"), int) else None


def _name(user: dict[str, Any]) -> str:
    name = " ".join(str(user.get(k) or "") for k in ("first_name", "last_name")).strip()
    if user.get("username"):
        name = f"{name} @{user['username']}".strip()
    return name[:200]


def member_for(
    club: Club, user: dict[str, Any], *, customer: Customer | None, at: dt.datetime
) -> ClubMember:
    """The member row for a Telegram (or VK) user, matched to a customer when we know one.

    Found by the user id first, then by the customer (an invited customer's row has no user
    id yet); a customer whose chat is linked is matched even without our link.
    """
    user_id = user["id"]
    if customer is None:
        # A private chat's id is the Telegram user's id; a customer's vk_id is the VK user's.
        linked = {"telegram_chat_id" if club.on_telegram else "vk_id": str(user_id)}
        customer = Customer.objects.live().filter(**linked).order_by("pk").first()
    member = ClubMember.objects.select_for_update().filter(club=club, user_id=user_id).first()
    by_customer = None
    if customer is not None:
        by_customer = (
            ClubMember.objects.select_for_update().filter(club=club, customer=customer).first()
        )
    if member is None and by_customer is not None:
        member = by_customer
    elif member is not None and member.customer_id is None and customer is not None:
        if by_customer is None:
            member.customer = customer
        elif by_customer.pk != member.pk:
            # The invited row wins; the unmatched row keeps only its counted history.
            ClubMember.objects.filter(pk=member.pk).update(user_id=None)
            member = by_customer
    if member is None:
        # First seen in the chat (writing, reacting or joining): in it since then.
        member = ClubMember.objects.create(
            club=club,
            customer=customer,
            user_id=user_id,
            status=MemberStatus.JOINED,
            joined_at=at,
            created_at=at,
        )
    member.user_id = user_id
    member.name = _name(user) or member.name
    member.updated_at = clock.now()
    member.save(update_fields=["customer", "user_id", "name", "updated_at"])
    return member


def _chat_member(club: Club, body: dict[str, Any], *, at: dt.datetime, update_id: int) -> None:
    new, old = body.get("new_chat_member"), body.get("old_chat_member")
    user = _user(new if isinstance(new, dict) else {}, "user")
    if user is None or user.get("is_bot"):
        return
    was_in, is_in = _in_chat(old), _in_chat(new)
    if was_in == is_in:
        return
    if is_in:
        _joined(club, body, user, at=at, update_id=update_id)
        return
    actor = _user(body)
    kicked = isinstance(new, dict) and new.get("status") == "kicked"
    by_someone_else = actor is not None and actor["id"] != user["id"]
    if (kicked or by_someone_else) and actor is not None and actor["id"] == telegram.bot_user_id():
        return  # the bot's own removal: the service records it
    member_out(
        club,
        user["id"],
        removed=kicked or by_someone_else,
        at=at,
        key=f"telegram_update:{update_id}",
        source=SOURCE,
    )


def member_out(
    club: Club, user_id: int, *, removed: bool, at: dt.datetime, key: str, source: str
) -> None:
    """Someone went out of the chat: left on their own, or `removed` by a chat admin. Only a
    member we have as in the chat changes (an earlier removal of ours is already recorded);
    events community_left / community_removed (reason chat_admin) under `key`."""
    member = (
        ClubMember.objects.select_for_update(of=("self",))
        .filter(club=club, user_id=user_id)
        .select_related("customer")
        .first()
    )
    if member is None or member.status != MemberStatus.JOINED:
        return  # never seen, or our own removal already recorded
    if removed:
        member.status, member.removed_at = MemberStatus.REMOVED, at
        member.reason = RemovalReason.CHAT_ADMIN
        event = "community_removed"
    else:
        member.status, member.left_at = MemberStatus.LEFT, at
        event = "community_left"
    member.lapsed_at, member.updated_at = None, clock.now()
    member.save(
        update_fields=["status", "removed_at", "left_at", "reason", "lapsed_at", "updated_at"]
    )
    if member.customer is not None:
        properties: dict[str, Any] = {"club_id": club.pk}
        if member.reason and event == "community_removed":
            properties["reason"] = member.reason
        event_record(
            customer=member.customer,
            type=event,
            properties=properties,
            occurred_at=at,
            source=source,
            idempotency_key=key,
        )


def _joined(
    club: Club, body: dict[str, Any], user: dict[str, Any], *, at: dt.datetime, update_id: int
) -> None:
    link = body.get("invite_link")
    url = link.get("invite_link") if isinstance(link, dict) else None
    invite = None
    if isinstance(url, str) and url:
        invite = (
            ClubInvite.objects.select_for_update()
            .filter(club=club, link=url)
            .select_related("customer")
            .first()
        )
    member_in(club, user, invite=invite, at=at, key=f"telegram_update:{update_id}", source=SOURCE)


def member_in(
    club: Club,
    user: dict[str, Any],
    *,
    invite: ClubInvite | None,
    at: dt.datetime,
    key: str,
    source: str,
) -> None:
    """Someone came into the chat, through `invite` when we know it: the member row is
    matched, marked in the club, and community_joined is recorded under `key`."""
    customer = invite.customer if invite is not None else None
    member = member_for(club, user, customer=customer, at=at)
    if invite is None and member.invite_id is not None and not club.on_telegram:
        # A VK conversation's link is shared: the invitation we made is the one they used.
        invite = ClubInvite.objects.filter(pk=member.invite_id, used_at__isnull=True).first()
    if invite is not None:
        if invite.used_at is None:
            ClubInvite.objects.filter(pk=invite.pk).update(used_at=at)
        member.invite = invite
    member.status, member.joined_at = MemberStatus.JOINED, at
    member.left_at = member.removed_at = member.lapsed_at = None
    member.reason = ""
    member.save(
        update_fields=[
            "invite",
            "status",
            "joined_at",
            "left_at",
            "removed_at",
            "lapsed_at",
            "reason",
        ]
    )
    if member.customer_id is not None:
        event_record(
            customer=member.customer,
            type="community_joined",
            properties={"club_id": club.pk, "via": "invite" if invite else "linked_chat"},
            occurred_at=at,
            source=source,
            idempotency_key=key,
        )


def _my_chat_member(club: Club, body: dict[str, Any], *, at: dt.datetime) -> None:
    new = body.get("new_chat_member")
    state = new if isinstance(new, dict) else {}
    status = state.get("status")
    club.bot_status = (
        BotStatus.ADMIN
        if status in ("administrator", "creator")
        else BotStatus.MEMBER
        if status in ("member", "restricted")
        else BotStatus.GONE
    )
    club.bot_can_invite = status == "creator" or bool(state.get("can_invite_users"))
    club.bot_can_restrict = status == "creator" or bool(state.get("can_restrict_members"))
    club.bot_checked_at = at
    club.save(update_fields=["bot_status", "bot_can_invite", "bot_can_restrict", "bot_checked_at"])


def _message(club: Club, body: dict[str, Any], *, at: dt.datetime, update_id: int) -> None:
    migrated = body.get("migrate_to_chat_id")
    if isinstance(migrated, int):
        # A group became a supergroup and changed its id: the club follows it.
        Club.objects.filter(pk=club.pk).update(chat_id=str(migrated), updated_at=clock.now())
        return
    user = _user(body)
    if user is None or user.get("is_bot") or body.get("sender_chat"):
        return  # a bot, or someone posting as the chat itself (anonymous admins)
    if not any(body.get(field) for field in POST_FIELDS):
        return
    member_posted(
        club,
        user,
        at=at,
        message_id=body.get("message_id"),
        text=str(body.get("text") or body.get("caption") or ""),
        reply=_is_reply(body),
        key=f"telegram_update:{update_id}",
        source=SOURCE,
    )


def member_posted(
    club: Club,
    user: dict[str, Any],
    *,
    at: dt.datetime,
    message_id: object,
    text: str,
    reply: bool,
    key: str,
    source: str,
) -> None:
    """One more message (a reply when `reply`) on the member's day and community_post under
    `key`; the text only while the club keeps texts, never in the event."""
    member = member_for(club, user, customer=None, at=at)
    _back_in(member, at=at)
    _count(club, member, at=at, messages=1, replies=int(reply))
    if club.keep_texts and text and isinstance(message_id, int):
        ClubText.objects.get_or_create(
            club=club,
            message_id=message_id,
            defaults={"member": member, "text": text, "sent_at": at},
        )
    if member.customer_id is not None:
        event_record(
            customer=member.customer,
            type="community_post",
            properties={"club_id": club.pk, "reply": reply},
            occurred_at=at,
            source=source,
            idempotency_key=key,
        )


def _back_in(member: ClubMember, *, at: dt.datetime) -> None:
    """Writing in the chat means they are in it: a member we missed joining (invited, or never
    seen) is in from this message. A message written before their leaving or removal (a late
    delivery) changes nothing: only one written after it says they came back."""
    if member.status == MemberStatus.JOINED:
        return
    out_at = member.removed_at if member.status == MemberStatus.REMOVED else member.left_at
    if out_at is not None and at <= out_at:
        return
    if member.joined_at is None or out_at is not None:
        member.joined_at = at
    member.status, member.lapsed_at = MemberStatus.JOINED, None
    member.left_at = member.removed_at = None
    member.reason = ""
    member.save(
        update_fields=["status", "joined_at", "lapsed_at", "left_at", "removed_at", "reason"]
    )


def _is_reply(body: dict[str, Any]) -> bool:
    answered = body.get("reply_to_message")
    if not isinstance(answered, dict):
        return False
    # In a forum every message of a topic "answers" the topic's first message.
    return not (
        body.get("is_topic_message") and answered.get("message_id") == body.get("message_thread_id")
    )


def _reaction(club: Club, body: dict[str, Any], *, at: dt.datetime) -> None:
    user = _user(body, "user")
    if user is None or user.get("is_bot"):
        return
    old, new = body.get("old_reaction"), body.get("new_reaction")
    old = old if isinstance(old, list) else []
    new = new if isinstance(new, list) else []
    added = [r for r in new if r not in old]
    if not added:
        return
    member = member_for(club, user, customer=None, at=at)
    _count(club, member, at=at, reactions=len(added))


def _reaction_count(club: Club, body: dict[str, Any], *, at: dt.datetime) -> None:
    """A channel's reactions are anonymous and come as the post's running totals: the day's
    anonymous row keeps the highest total seen for any one post, a floor on the day's
    reactions that replays and repeated totals cannot inflate."""
    reactions = body.get("reactions")
    if not isinstance(reactions, list):
        return
    total = sum(
        int(r.get("total_count") or 0)
        for r in reactions
        if isinstance(r, dict) and isinstance(r.get("total_count"), int)
    )
    row, _created = ClubActivity.objects.get_or_create(
        club=club, member=None, day=at.date(), defaults={"last_at": at, "reactions": total}
    )
    ClubActivity.objects.filter(pk=row.pk).update(
        reactions=Greatest(F("reactions"), total), last_at=Greatest(F("last_at"), at)
    )


def _count(
    club: Club,
    member: ClubMember,
    *,
    at: dt.datetime,
    messages: int = 0,
    replies: int = 0,
    reactions: int = 0,
) -> None:
    row, _created = ClubActivity.objects.get_or_create(
        member=member, day=at.date(), defaults={"club": club, "last_at": at}
    )
    ClubActivity.objects.filter(pk=row.pk).update(
        messages=F("messages") + messages,
        replies=F("replies") + replies,
        reactions=F("reactions") + reactions,
        last_at=Greatest(F("last_at"), at),
    )
