"""The demo's campaigns: two sent in the past through the real engine and dispatcher, with a
holdout (one an A/B test whose winner was picked by clicks), and a monthly digest scheduled.

Each past campaign runs with the clock set back to its morning (`clock.rewound`), so its
recipients, messages, opens and clicks carry real dates and its goal windows have closed by
the demo's end. Some recipients then buy, a little more often than they would have: the
demo's own history is the baseline of every arm, the holdout's too, so the results page has
an effect to measure. `lifelong demo` runs this after `demo_build`, not inside it: a
campaign's arms hash customer ids, which every build renews, so it cannot be part of the
build's "same seed, same data".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import Arm, Campaign, CampaignRecipient, Recurrence
from lifelong.campaigns.services import campaign_create, campaign_schedule
from lifelong.commerce.services import LineInput, order_upsert
from lifelong.customers.models import Customer
from lifelong.demo.catalogue import ITEMS, MATS, TEA, Item
from lifelong.demo.purchases import ORDER_PREFIX
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message, Template
from lifelong.messaging.services import message_engagement_record
from lifelong.segments.models import Segment
from lifelong.segments.services import segment_refresh

STUDENTS = "Ученики курсов без коврика"
TEA_LOVERS = "Чайные души"
MAT_OFFER = "Коврик для занятий — ученикам курсов"
NEW_TEAS = "Новые улуны: какая тема письма лучше"
DIGEST = "Новости «Праны» за месяц"
NAMES = (MAT_OFFER, NEW_TEAS, DIGEST)
# 10:00 in Moscow, the shop's clock: daytime for most customers.
MORNING_UTC = dt.time(7)
GOAL_DAYS = 7
FOOTER = "Это письмо отправил робот «Праны», а отвечаем на ответы мы сами — пишите."

TEMPLATES: dict[str, dict[str, Any]] = {
    "demo-campaign-mat": {
        "name": "Коврик ученикам курсов",
        "subject": "{{ customer.first_name }}, коврик, на котором удобно заниматься по курсу",
        "body_text": (
            "Здравствуйте, {{ customer.first_name }}!\n\n"
            "Вы занимаетесь по нашему онлайн-курсу, а коврика у нас ещё не брали. "
            "Мы подобрали три, на которых удобно делать все асаны курса: «Прана Про» 6 мм "
            "для мягкости, пробковый — чтобы не скользили ладони, и дорожный — если "
            "занимаетесь в поездках.\n\n" + FOOTER
        ),
        "short_text": (
            "{{ customer.first_name }}, подобрали три коврика для занятий по курсу: "
            "мягкий, пробковый и дорожный. Загляните в «Прану»!"
        ),
    },
    "demo-campaign-teas-a": {
        "name": "Новые улуны — тема «Новинки»",
        "subject": "Новинки: три улуна из Фуцзяни",
        "body_text": (
            "Здравствуйте, {{ customer.first_name }}!\n\n"
            "К нам приехали три улуна из Фуцзяни: цветочный Те Гуань Инь, медовый Да Хун Пао "
            "и молочный. Заваривайте по 20 секунд — и каждый раз вкус будет новым.\n\n" + FOOTER
        ),
        "short_text": "Новинки в «Пране»: три улуна из Фуцзяни. Загляните!",
    },
    "demo-campaign-teas-b": {
        "name": "Новые улуны — тема с именем",
        "subject": "{{ customer.first_name }}, ваш чай закончился? У нас три новых улуна",
        "body_text": (
            "Здравствуйте, {{ customer.first_name }}!\n\n"
            "Вы брали у нас чай — а к нам как раз приехали три улуна из Фуцзяни: цветочный, "
            "медовый и молочный. Если запас на исходе, самое время попробовать новый.\n\n" + FOOTER
        ),
        "short_text": (
            "{{ customer.first_name }}, у нас три новых улуна из Фуцзяни — "
            "самое время пополнить запас."
        ),
    },
    "demo-campaign-digest": {
        "name": "Дайджест месяца",
        "subject": "{{ customer.first_name }}, новости «Праны» за месяц",
        "body_text": (
            "Здравствуйте, {{ customer.first_name }}!\n\n"
            "Коротко о месяце в «Пране»: что нового на полках, какие курсы начинаются и что "
            "спрашивали другие покупатели.\n\n" + FOOTER
        ),
        "short_text": "Новости «Праны» за месяц: новинки, курсы и ответы на ваши вопросы.",
    },
}


MAT_ITEMS = [item for item in ITEMS if item.category == MATS]
TEA_ITEMS = [item for item in ITEMS if item.category == TEA]


def demo_campaigns_write(*, owner: User | None, seed: int = 42) -> None:
    """The demo's campaigns, ending now: replaces an earlier build's."""
    rng = random.Random(seed)
    end = clock.now()
    Campaign.objects.filter(name__in=NAMES).delete()
    templates = {
        slug: Template.objects.update_or_create(
            slug=slug, defaults={"channel": "email", "purpose": "marketing", **values}
        )[0]
        for slug, values in TEMPLATES.items()
    }
    students = Segment.objects.get(name=STUDENTS)
    tea_lovers = Segment.objects.get(name=TEA_LOVERS)
    for segment in (students, tea_lovers):
        segment_refresh(segment=segment)

    _sent(
        rng,
        code="mat",
        owner=owner,
        end=end,
        reaction=Reaction(clicks={Arm.A: 0.12}, buy=0.12, items=MAT_ITEMS),
        at=_morning(end - dt.timedelta(days=24)),
        values={
            "name": MAT_OFFER,
            "description": "Разовая рассылка с контрольной группой 20 %.",
            "segment": students,
            "template": templates["demo-campaign-mat"],
            "holdout_percent": 20,
        },
    )
    _sent(
        rng,
        code="teas",
        owner=owner,
        end=end,
        reaction=Reaction(clicks={Arm.A: 0.08, Arm.B: 0.2}, buy=0.1, items=TEA_ITEMS),
        at=_morning(end - dt.timedelta(days=13)),
        values={
            "name": NEW_TEAS,
            "description": "A/B-тест темы письма на трети аудитории; победитель — по переходам.",
            "segment": tea_lovers,
            "template": templates["demo-campaign-teas-a"],
            "template_b": templates["demo-campaign-teas-b"],
            "holdout_percent": 10,
            "ab_sample_percent": 30,
            "ab_metric": "clicked",
            "ab_wait_hours": 4,
        },
    )
    digest = campaign_create(
        values={
            "name": DIGEST,
            "description": "Каждый первый понедельник месяца, всем, кто согласен на рассылку.",
            "rules": {"op": "and", "rules": []},
            "template": templates["demo-campaign-digest"],
            "holdout_percent": 5,
            "recurrence": Recurrence.MONTHLY,
            "weekday": 0,
            "nth": 1,
            "send_time": dt.time(10),
            "window_start": dt.time(10),
            "window_end": dt.time(20),
            "per_minute": 600,
        },
        actor=owner,
    )
    campaign_schedule(campaign=digest, actor=owner)


def _morning(day: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(day.date(), MORNING_UTC, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class Reaction:
    """How recipients take a campaign: the share who click (per arm; about half of the others
    open), and the share who buy one of `items` in the goal window on top of the history."""

    clicks: dict[str, float]
    buy: float
    items: list[Item]


def _sent(
    rng: random.Random,
    *,
    code: str,
    owner: User | None,
    end: dt.datetime,
    at: dt.datetime,
    values: dict[str, Any],
    reaction: Reaction,
) -> Campaign:
    """Create, schedule and send a campaign at `at` through the engine and the dispatcher;
    its recipients open, click and buy as `reaction` says."""
    with clock.rewound(at):
        campaign = campaign_create(
            values={"goal_days": GOAL_DAYS, "goal_event": "order_placed", **values}, actor=owner
        )
        campaign_schedule(campaign=campaign, actor=owner)
        campaigns_due()
        dispatch_due()
        _engage(rng, campaign, reaction.clicks)
        if campaign.is_ab:
            # The winner is picked after the wait, then goes to the rest of the audience.
            clock.advance(dt.timedelta(hours=campaign.ab_wait_hours, minutes=5))
            campaigns_due()
            dispatch_due()
            _engage(rng, campaign, {Arm.REST: max(reaction.clicks.values())})
        # The next day: those a quiet hour or a cap held back go out, and are read in turn.
        clock.advance(dt.timedelta(days=1))
        next_day = clock.now()
        dispatch_due()
        campaigns_due()  # with nothing left due in the outbox, the campaign is sent
        later = {**reaction.clicks, Arm.REST: max(reaction.clicks.values())}
        _engage(rng, campaign, later, since=next_day)
    _buy(rng, campaign, code=code, reaction=reaction, end=end)
    return campaign


def _engage(
    rng: random.Random,
    campaign: Campaign,
    clicks: dict[str, float],
    *,
    since: dt.datetime | None = None,
) -> None:
    """Of the messages sent (since `since`), a share is clicked and about half opened."""
    for arm, share in clicks.items():
        ids = CampaignRecipient.objects.filter(
            campaign=campaign, arm=arm, message_id__isnull=False
        ).values("message_id")
        unread = Message.objects.filter(pk__in=ids, sent_at__isnull=False, opened_at__isnull=True)
        if since is not None:
            unread = unread.filter(sent_at__gte=since)
        for message in unread.order_by("pk"):
            roll = rng.random()
            if roll < share:
                message_engagement_record(message=message, kind="clicked")
            elif roll < 0.5:
                message_engagement_record(message=message, kind="opened")


def _buy(
    rng: random.Random, campaign: Campaign, *, code: str, reaction: Reaction, end: dt.datetime
) -> None:
    """Some who got the message buy within the goal window (the holdout buys only what the
    history has them buy anyway)."""
    recipients = (
        CampaignRecipient.objects.filter(campaign=campaign, message_id__isnull=False)
        .exclude(arm=Arm.HOLDOUT)
        .order_by("pk")
        .values_list("customer_id", "decided_at")
    )
    buyers = [(c, at) for c, at in recipients if rng.random() < reaction.buy]
    customers = Customer.objects.in_bulk([c for c, _at in buyers])
    for customer_id, decided_at in buyers:
        item = rng.choice(reaction.items)
        placed_at = decided_at + dt.timedelta(hours=rng.randint(2, 24 * (GOAL_DAYS - 1)))
        if placed_at >= end:
            continue
        customer = customers[customer_id]
        order_upsert(
            # The demo's prefix: a rebuild wipes them with the rest of its orders.
            external_id=f"{ORDER_PREFIX}-{code}-{customer.external_id}",
            customer=customer,
            total=item.price,
            placed_at=placed_at,
            lines=[LineInput(sku=item.sku, quantity=1, price=item.price, name=item.name)],
            source="demo",
        )
