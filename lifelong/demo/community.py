"""The demo's club: «Прана» keeps a Telegram group for its top tier, Гуру.

Everything goes through the paths a real shop's club takes, in the order time ran:
- the bot is made an admin of the group (its `my_chat_member` update);
- a customer who reached Гуру gets a single-use invite link a few days later (the row the
  invite service keeps; the demo has no bot to ask Telegram for the link, so it is made up in
  Telegram's format) and most come in through it: `chat_member` updates, matched to the
  customer by the link. The more engaged ones (who ordered again within 90 days) join more
  often, as happens in real shops, so the Community page's lift panel has figures to show;
- members write, reply and react on their days over the last weeks (`message` and
  `message_reaction` updates: counts only, the club keeps no texts), a few leave on their own;
- one member's tier went down, and after the club's grace period the removal service took
  them out and queued the club's polite message in the outbox.

Deterministic for a seed and an end moment. Activity is played for the last five weeks only:
about a thousand updates for the full-size demo, each its own transaction as in production.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lifelong import clock
from lifelong.commerce.models import Order
from lifelong.community.models import (
    Club,
    ClubInvite,
    ClubKind,
    ClubMember,
    ClubUpdate,
    EntryRule,
    InviteSource,
    RemovalReason,
)
from lifelong.community.services import club_member_remove
from lifelong.community.updates import telegram_update_receive
from lifelong.customers.models import Customer
from lifelong.demo.dice import Dice
from lifelong.events.models import Event
from lifelong.loyalty.models import CustomerTier, Tier

TOP_TIER = "guru"
CHAT_ID = -1001987654321
BOT_ID = 7000000001
TITLE = "Клуб «Праны»: Гуру"
REMOVAL_TEXT = (
    "Здравствуйте! Клуб «Праны» — для покупателей уровня «Гуру», а сейчас ваш уровень "
    "сменился, поэтому мы вывели вас из чата. Спасибо, что были с нами! Когда уровень "
    "вернётся, будем рады видеть вас в клубе снова."
)
INVITE_TEXT = (
    "Вы теперь «Гуру» — добро пожаловать в закрытый клуб «Праны»: ранний доступ к новинкам, "
    "разговоры о практике и команда магазина рядом."
)
DAY = dt.timedelta(days=1)
ACTIVE_DAYS = dt.timedelta(days=35)
REACTIONS = ("👍", "❤", "🔥", "🙏")
# The demo's update ids start here, far above any a real bot has seen, so a rebuild can
# forget the previous build's (a replayed id is ignored, as Telegram's redeliveries are).
FIRST_UPDATE_ID = 9_000_000_000


@dataclass(frozen=True)
class _Update:
    at: dt.datetime
    body: dict[str, Any]  # the update without its id: one kind and its body


def _first_reached(tier: str, end: dt.datetime) -> dict[int, dt.datetime]:
    """Customer id -> the first time they reached `tier`, from the tier sweep's events."""
    reached: dict[int, dt.datetime] = {}
    events = (
        Event.objects.filter(type="tier_changed", properties__to=tier, occurred_at__lt=end)
        .order_by("occurred_at", "pk")
        .values_list("customer_id", "occurred_at")
    )
    for customer_id, at in events:
        reached.setdefault(customer_id, at)
    return reached


def _went_down(tier: str) -> dict[int, dt.datetime]:
    """Customer id -> the last time they went down from `tier`."""
    return dict(
        Event.objects.filter(
            type="tier_changed", properties__from=tier, properties__direction="down"
        )
        .order_by("occurred_at", "pk")
        .values_list("customer_id", "occurred_at")
    )


def _stamp(at: dt.datetime) -> int:
    return int(at.timestamp())


def _user(customer: Customer) -> dict[str, Any]:
    user_id = int(customer.telegram_chat_id) if customer.telegram_chat_id.isdigit() else None
    return {
        # A customer without a linked chat still has a Telegram account; the invite link
        # names them, so their id is whatever Telegram says (made up from the record here).
        "id": user_id or 5_000_000_000 + customer.pk,
        "is_bot": False,
        "first_name": customer.first_name,
    }


def _chat() -> dict[str, Any]:
    return {"id": CHAT_ID, "type": "supergroup", "title": TITLE}


def _join(customer: Customer, link: str, at: dt.datetime) -> _Update:
    return _member_change(
        customer, at, "left", "member", {"invite_link": link, "creates_join_request": False}
    )


def _leave(customer: Customer, at: dt.datetime) -> _Update:
    return _member_change(customer, at, "member", "left", None)


def _member_change(
    customer: Customer, at: dt.datetime, old: str, new: str, invite_link: dict[str, Any] | None
) -> _Update:
    """A chat_member update as Telegram sends it: the member's status from `old` to `new`."""
    user = _user(customer)
    change: dict[str, Any] = {
        "chat": _chat(),
        "from": user,
        "date": _stamp(at),
        "old_chat_member": {"user": user, "status": old},
        "new_chat_member": {"user": user, "status": new},
    }
    if invite_link is not None:
        change["invite_link"] = invite_link
    return _Update(at, {"chat_member": change})


def _post(customer: Customer, at: dt.datetime, message_id: int, reply_to: int | None) -> _Update:
    body: dict[str, Any] = {
        "message_id": message_id,
        "chat": _chat(),
        "from": _user(customer),
        "date": _stamp(at),
        "text": "…",  # never kept: the club counts messages, not their words
    }
    if reply_to is not None:
        body["reply_to_message"] = {"message_id": reply_to, "chat": _chat(), "date": _stamp(at)}
    return _Update(at, {"message": body})


def _react(customer: Customer, at: dt.datetime, message_id: int, emoji: str) -> _Update:
    return _Update(
        at,
        {
            "message_reaction": {
                "chat": _chat(),
                "message_id": message_id,
                "user": _user(customer),
                "date": _stamp(at),
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": emoji}],
            }
        },
    )


def _activity(
    dice: Dice, customer: Customer, start: dt.datetime, stop: dt.datetime, ids: Iterator[int]
) -> list[_Update]:
    """A member's messages, replies and reactions between joining and `stop`: some members
    write every week, most now and then, a few only read."""
    weekly = dice.pick((0.0, 0.3, 0.8, 1.5, 3.0))
    updates: list[_Update] = []
    at = start + dt.timedelta(hours=dice.between(2, 60))
    while weekly and at < stop:
        message_id = next(ids)
        reply_to = message_id - dice.between(1, 5) if dice.chance(0.4) and message_id > 10 else None
        updates.append(_post(customer, at, message_id, reply_to))
        if dice.chance(0.3):
            updates.append(
                _react(
                    customer,
                    at + dt.timedelta(minutes=dice.between(1, 300)),
                    max(1, message_id - 1),
                    dice.pick(REACTIONS),
                )
            )
        at += dt.timedelta(hours=dice.exponential(168 / weekly) + 1)
    return updates


def demo_club_write(*, seed: int, end: dt.datetime) -> Club | None:
    """The «Прана» club, its members, their activity, one removal; None without a top tier."""
    tier = Tier.objects.filter(slug=TOP_TIER, active=True).first()
    if tier is None:
        return None
    dice = Dice(np.random.default_rng([seed, 15]))
    # A rebuild replaces the previous demo's club (its members went with their customers).
    Club.objects.filter(kind=ClubKind.TELEGRAM_GROUP, chat_id=str(CHAT_ID)).delete()
    ClubUpdate.objects.filter(update_id__gte=FIRST_UPDATE_ID).delete()
    started = end - dt.timedelta(days=300)
    club = Club.objects.create(
        title=TITLE,
        kind=ClubKind.TELEGRAM_GROUP,
        chat_id=str(CHAT_ID),
        entry=EntryRule.TIER,
        tier=tier,
        grace_days=14,
        invite_text=INVITE_TEXT,
        removal_text=REMOVAL_TEXT,
        created_at=started,
        updated_at=started,
    )
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "Прана"}
    updates = [
        _Update(
            started,
            {
                "my_chat_member": {
                    "chat": _chat(),
                    "from": {"id": 1, "is_bot": False, "first_name": "Анна"},
                    "date": _stamp(started),
                    "old_chat_member": {"user": bot, "status": "member"},
                    "new_chat_member": {
                        "user": bot,
                        "status": "administrator",
                        "can_invite_users": True,
                        "can_restrict_members": True,
                    },
                }
            },
        )
    ]
    reached = _first_reached(TOP_TIER, end)
    down = _went_down(TOP_TIER)
    holders = set(
        CustomerTier.objects.filter(tier=tier, customer_id__in=reached).values_list(
            "customer_id", flat=True
        )
    )
    customers = Customer.objects.in_bulk(list(reached))
    ordered_again = _ordered_within_90_days(reached)
    message_ids = itertools.count(1)
    removed: tuple[Customer, dt.datetime] | None = None
    for customer_id in sorted(reached):
        customer = customers[customer_id]
        invited = max(reached[customer_id], started) + dt.timedelta(days=dice.between(1, 6))
        dropped = down.get(customer_id)
        # The one member to be removed: in the club before their tier went down.
        will_be_removed = (
            removed is None
            and dropped is not None
            and invited < dropped - 2 * DAY
            and dropped + dt.timedelta(days=club.grace_days + 1) < end
        )
        if not (customer_id in holders or will_be_removed):
            continue
        joins = dice.chance(0.8 if ordered_again.get(customer_id) else 0.45)
        if invited >= end - DAY or not (joins or will_be_removed):
            continue
        # Some open their invitation at once, others weeks later; the single-use Telegram
        # link is made when they open it and expires `invite_days` after that.
        opened = invited + dt.timedelta(hours=dice.between(1, 24 * 40))
        if will_be_removed:
            assert dropped is not None
            opened = min(opened, dropped - DAY)
        joined = opened + dt.timedelta(minutes=dice.between(2, 90))
        if joined >= end:
            continue
        link = f"https://t.me/+{dice.between(10**11, 10**12 - 1):x}demo"
        ClubInvite.objects.create(
            club=club,
            customer=customer,
            link=link,
            source=InviteSource.JOURNEY,
            created_at=invited,
            expires_at=opened + dt.timedelta(days=club.invite_days),
            used_at=None,
        )
        updates.append(_join(customer, link, joined))
        stop = end
        if will_be_removed:
            assert dropped is not None
            stop = dropped
            # The sweep runs all day; the demo's removal falls on the shop's morning.
            due = (dropped + dt.timedelta(days=club.grace_days + 1)).replace(hour=7, minute=10)
            removed = (customer, due)
        elif dice.chance(0.06):
            stop = joined + dt.timedelta(days=dice.between(10, 120))
            if stop < end:
                updates.append(_leave(customer, stop))
            stop = min(stop, end)
        # Activity of the last weeks only: enough for this month's most active members and
        # the club's recent days, and it keeps the build quick (each update is a transaction).
        updates.extend(_activity(dice, customer, max(joined, end - ACTIVE_DAYS), stop, message_ids))
    updates.sort(key=lambda u: u.at)
    for update_id, update in enumerate(updates, start=FIRST_UPDATE_ID):
        with clock.rewound(update.at):
            telegram_update_receive(update={"update_id": update_id, **update.body})
    if removed is not None:
        _remove(club, *removed)
    return club


def _ordered_within_90_days(reached: dict[int, dt.datetime]) -> dict[int, bool]:
    """Whether each customer ordered again within 90 days of reaching the tier (one query)."""
    bought: dict[int, bool] = {}
    for customer_id, placed_at in (
        Order.objects.filter(customer_id__in=list(reached))
        .order_by("customer_id", "placed_at")
        .values_list("customer_id", "placed_at")
    ):
        start = reached[customer_id]
        if start < placed_at <= start + 90 * DAY:
            bought[customer_id] = True
    return bought


def _remove(club: Club, customer: Customer, at: dt.datetime) -> None:
    member = ClubMember.objects.select_related("club", "customer").get(club=club, customer=customer)
    # The demo has no Telegram bot to ask for the ban: the service is handed the member
    # without their Telegram id, so it records the removal and queues the message without
    # calling the Bot API (the community tests cover that call against a fake).
    member.user_id = None
    with clock.rewound(at):
        club_member_remove(member=member, reason=RemovalReason.TIER)
