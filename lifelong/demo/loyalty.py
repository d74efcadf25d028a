"""The demo's loyalty programme: «Прана» runs it with sensible settings and earning rules.

The owner switches it on through the staff services (`programme_update`,
`earning_rule_save`: validated and audited, as on the settings page) at the moment the
programme started in the demo's history, with its tiers and referrals;
demo/loyalty_history.py then replays it from there through the real sweeps. This module also
plans the actions that earn points besides purchases: detailed reviews, answered surveys,
completed profiles, activity in the club, and the friends who came with a code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import F

from lifelong.accounts.models import User
from lifelong.customers.models import Customer
from lifelong.customers.services import customer_manager_set
from lifelong.demo.catalogue import COURSES, ITEMS
from lifelong.demo.dice import Dice
from lifelong.demo.moments import later
from lifelong.demo.people import Person
from lifelong.events.models import Event
from lifelong.loyalty.earning import CURSOR
from lifelong.loyalty.editing import earning_rule_save, programme_update
from lifelong.loyalty.models import (
    Cursor,
    DebtPolicy,
    EarningRule,
    Programme,
    RateMode,
    ReferralCondition,
    ReferralSettings,
    Rounding,
    RuleKind,
    Tier,
)
from lifelong.loyalty.referrals import CURSOR as REFERRALS_CURSOR
from lifelong.loyalty.referrals import referral_code_get, referral_settings_update
from lifelong.loyalty.tier_editor import tier_save

SOURCE = "api"  # the shop's site sends reviews, surveys and profile changes as they happen

PROGRAMME: dict[str, Any] = {
    "enabled": True,
    "name_one": "балл",
    "name_few": "балла",
    "name_many": "баллов",
    "rounding": Rounding.DOWN,
    "point_value": Decimal("1"),
    "pending_days": 14,  # the return window
    "expiry_months": 6,
    "max_share_percent": 30,
    "debt_policy": DebtPolicy.DEBT,
}

PURCHASE_PERCENT = Decimal(5)
RULES: tuple[dict[str, Any], ...] = (
    {
        "kind": RuleKind.PURCHASE,
        "name": "Покупки: 5 % суммы баллами",
        "mode": RateMode.PERCENT,
        "rate": PURCHASE_PERCENT,
    },
    {
        "kind": RuleKind.CATEGORY,
        "name": "Онлайн-курсы: двойные баллы",
        "category": COURSES.name,
        "multiplier": Decimal(2),
    },
    {
        "kind": RuleKind.PRODUCT,
        "name": "Пробковый коврик: в полтора раза больше баллов",
        "sku": "PRANA-MAT-CORK",
        "multiplier": Decimal("1.5"),
    },
    {
        "kind": RuleKind.EVENT,
        "name": "Подробный отзыв о покупке",
        "event_type": "review_posted",
        "points": 50,
        "status_points": 50,
        "cap_count": 3,
        "cap_days": 30,
    },
    {
        "kind": RuleKind.EVENT,
        "name": "Ответ на опрос",
        "event_type": "survey_answered",
        "points": 30,
        "status_points": 30,
        "cap_count": 1,
        "cap_days": 30,
    },
    {
        "kind": RuleKind.EVENT,
        "name": "Заполненный профиль",
        "event_type": "profile_completed",
        "points": 100,
        "status_points": 0,
        "cap_count": 1,
        "cap_days": 3650,
    },
    {
        "kind": RuleKind.EVENT,
        "name": "Активность в клубе",
        "event_type": "community_post",
        "points": 0,
        "status_points": 10,
        "cap_count": 8,
        "cap_days": 30,
    },
)
# Living names and privileges rather than discounts; any threshold met over the last 12
# months qualifies (status points, or spend, or orders), set so that about a third of the
# customers buying this year are above the entry level and a few per cent are Гуру.
TIERS: tuple[dict[str, Any], ...] = (
    {
        "slug": "novichok",
        "name": "Новичок",
        "colour": "#8fae8b",
        "position": 1,
        "privileges": ["birthday_gift"],
    },
    {
        "slug": "znatok",
        "name": "Знаток",
        "colour": "#4f9d69",
        "position": 2,
        "min_status_points": 600,
        "min_spend": Decimal(12000),
        "min_orders": 3,
        "privileges": ["birthday_gift", "early_access"],
    },
    {
        "slug": "ekspert",
        "name": "Эксперт",
        "colour": "#2f6f8f",
        "position": 3,
        "min_status_points": 1500,
        "min_spend": Decimal(30000),
        "min_orders": 6,
        "earn_multiplier": Decimal("1.1"),
        "privileges": ["birthday_gift", "early_access", "reservations", "free_express_delivery"],
    },
    {
        "slug": "guru",
        "name": "Гуру",
        "colour": "#b8860b",
        "position": 4,
        "min_status_points": 4000,
        "min_spend": Decimal(80000),
        "min_orders": 10,
        "earn_multiplier": Decimal("1.2"),
        "privileges": [
            "birthday_gift",
            "early_access",
            "reservations",
            "free_express_delivery",
            "personal_manager",
            "closed_community",
        ],
    },
)
REFERRALS: dict[str, Any] = {
    "enabled": True,
    "referrer_points": 300,
    "friend_points": 200,
    "condition": ReferralCondition.RETURN_WINDOW,
    "min_order_total": Decimal(1500),
    "limit_count": 5,
    "limit_days": 30,
    "shop_url": "https://prana.example/",
}
FRIENDS_PER_REFERRER = 3  # on average: a few customers bring most of the friends
# What the ready birthday journey gives (journeys.library, node "gift"); the history posts
# the same gift for the birthdays before the demo's journeys went live.
BIRTHDAY_POINTS = 100
BIRTHDAY_REASON = "birthday"

REVIEW_SHARE = 0.08  # of delivered orders
SURVEY_SHARE = 0.05  # of delivered orders: the post-purchase survey
PROFILE_SHARE = 0.4  # of customers with a birthday on file
CLUB_SHARE = 0.25  # of orders with an online course: posts in the club in the weeks after
_CLUB_SKUS = {i.sku for i in ITEMS if i.category == COURSES}
_SURVEY_QUESTIONS = ("Как вам покупка?", "Порекомендуете ли вы «Прану» друзьям?")


def programme_switch_on(*, owner: User) -> Programme:
    """Switch the programme on now (the caller sets the clock) with the demo's earning rules
    and tiers.

    A rebuilt demo starts its programme again: the earlier build's start and the earning
    sweep's cursor go (the demo's ledger was erased with its customers), so the sweep reads
    the log from now on, as it would in a shop switching the programme on."""
    Programme.current()
    Programme.objects.update(enabled=False, started_at=None)
    Cursor.objects.filter(name=CURSOR).delete()
    programme = programme_update(values=PROGRAMME, actor=owner)
    existing = {(r.kind, r.name): r for r in EarningRule.objects.all()}
    for values in RULES:
        rule = existing.get((values["kind"], values["name"]))
        earning_rule_save(rule=rule, values={"active": True, **values}, actor=owner)
    tiers = {t.slug: t for t in Tier.objects.all()}
    # Positions are unique: move the existing ones out of the way before setting them again.
    Tier.objects.filter(slug__in=[t["slug"] for t in TIERS]).update(position=F("position") + 1000)
    for values in TIERS:
        tier_save(tier=tiers.get(values["slug"]), values={"active": True, **values}, actor=owner)
    return programme


def referrals_switch_on(
    dice: Dice,
    *,
    owner: User,
    people: list[Person],
    customer_ids: dict[int, int],
    started: dt.datetime,
) -> int:
    """Switch referrals on now and give the customers who came from a friend (people's
    source "friend", signed up since) a referrer's code, as the shop sends it with the
    profile (the `referral_code` attribute): the referral sweep attributes each at the
    friend's first paid order and decides it after the return window. Returns how many."""
    ReferralSettings.current()
    ReferralSettings.objects.update(enabled=False, started_at=None)
    Cursor.objects.filter(name=REFERRALS_CURSOR).delete()
    referral_settings_update(values=REFERRALS, actor=owner)
    buyers = [p for p in people if not p.is_lead]
    friends = [p for p in buyers if p.source == "friend" and p.created_at > started]
    earlier = [p for p in buyers if p.created_at <= started]
    if not friends or not earlier:
        return 0
    pool = sorted(
        {dice.pick(earlier).index for _ in range(max(1, len(friends) // FRIENDS_PER_REFERRER))}
    )
    codes: dict[int, str] = {}
    named = []
    for friend in friends:
        referrer = customer_ids[dice.pick(pool)]
        if referrer not in codes:
            codes[referrer] = referral_code_get(customer_id=referrer).code
        attributes = {**friend.attributes, "referral_code": codes[referrer]}
        named.append(Customer(pk=customer_ids[friend.index], attributes=attributes))
    Customer.objects.bulk_update(named, ["attributes"], batch_size=500)
    return len(named)


def managers_assign(*, owner: User, manager: User) -> int:
    """The customers whose tier opens a personal manager get one (audited, as on the card);
    returns how many."""
    tiers = [t.pk for t in Tier.objects.filter(active=True) if "personal_manager" in t.privileges]
    assigned = 0
    for customer in Customer.objects.filter(loyalty_tier__tier_id__in=tiers).order_by("pk"):
        assigned += customer_manager_set(customer=customer, manager=manager, actor=owner)
    return assigned


@dataclass(frozen=True)
class Gift:
    """A birthday gift due at `at` to a customer."""

    customer_id: int
    at: dt.datetime


def actions_plan(
    dice: Dice,
    *,
    order_events: list[Event],
    people: list[Person],
    customer_ids: dict[int, int],
    end: dt.datetime,
) -> list[Event]:
    """Reviews and surveys after deliveries, completed profiles, posts in the club."""
    events: list[Event] = []
    for order in order_events:
        if order.type != "order_delivered":
            continue
        props = order.properties
        delivered = order.occurred_at
        if dice.chance(REVIEW_SHARE):
            at = later(dice, delivered, low_hours=24, high_hours=24 * 20)
            review = {
                "order": props["external_id"],
                "sku": props["skus"][0],
                "rating": dice.pick((4, 5, 5, 5)),
                "words": dice.between(60, 400),
            }
            events.append(_event(order.customer_id, "review_posted", review, at))
        if dice.chance(SURVEY_SHARE):
            at = later(dice, delivered, low_hours=48, high_hours=24 * 10)
            answer = {"question": dice.pick(_SURVEY_QUESTIONS), "score": dice.between(6, 10)}
            events.append(_event(order.customer_id, "survey_answered", answer, at))
        if _CLUB_SKUS & set(props["skus"]) and dice.chance(CLUB_SHARE):
            at = delivered
            for _ in range(dice.between(1, 3)):
                at = later(dice, at, low_hours=12, high_hours=24 * 10)
                post = {"topic": dice.pick(("практика", "вопрос", "отчёт"))}
                events.append(_event(order.customer_id, "community_post", post, at))
    for person in people:
        if person.birthday and not person.is_lead and dice.chance(PROFILE_SHARE):
            at = later(dice, person.created_at, low_hours=1, high_hours=24 * 60)
            filled = {"fields": ["birthday", "phone", "city"]}
            events.append(_event(customer_ids[person.index], "profile_completed", filled, at))
    return [e for e in events if e.occurred_at <= end]


def _event(
    customer_id: int | None, type: str, properties: dict[str, Any], at: dt.datetime
) -> Event:
    return Event(
        customer_id=customer_id,
        type=type,
        properties=properties,
        occurred_at=at,
        received_at=at,
        source=SOURCE,
    )


def birthdays_plan(
    *,
    people: list[Person],
    customer_ids: dict[int, int],
    order_events: list[Event],
    start: dt.datetime,
    end: dt.datetime,
) -> list[Gift]:
    """The birthdays between `start` and `end` (at 10:00 UTC) of the customers who paid an
    order in the year before: the birthday journey greets everyone, but the history keeps to
    the members who were buying, as the demo's shop sent its gifts before the journeys."""
    paid: dict[int, list[dt.datetime]] = {}
    for event in order_events:
        if event.type == "order_paid" and event.customer_id is not None:
            paid.setdefault(event.customer_id, []).append(event.occurred_at)
    gifts = []
    for person in people:
        customer_id = customer_ids[person.index]
        if person.birthday is None or customer_id not in paid:
            continue
        for year in range(start.year, end.year + 1):
            day = person.birthday
            if day.month == 2 and day.day == 29:
                day = day.replace(day=28)
            at = dt.datetime(year, day.month, day.day, 10, tzinfo=dt.UTC)
            year_before = at - dt.timedelta(days=365)
            if start < at <= end and any(year_before < p <= at for p in paid[customer_id]):
                gifts.append(Gift(customer_id, at))
    gifts.sort(key=lambda g: (g.at, g.customer_id))
    return gifts
