"""Synthetic customers for `lifelong simulate` on the demo: they read, click, reply, leave, buy.

Each day runs like a small shop's day in UTC: every sweep at 06:00, then at 10:00 and
18:00 the customers react to what reached them since the last pass, and the journey and
dispatch sweeps follow each pass (and once more at 14:00) so waits wake the same day.

Everything goes through the real services — engagement and replies through messaging,
unsubscribes through consent withdrawal, purchases through `order_upsert` — so journeys
see the same events a live shop would produce. One seeded `random.Random` drives every
choice: the same demo, seed and day count give the same story.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q

from lifelong import clock
from lifelong.commerce.models import Order, OrderLine, OrderStatus
from lifelong.commerce.services import LineInput, order_upsert
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.demo.catalogue import AROMA, CATEGORIES, COURSES, ITEMS, MATS, TEA, Item
from lifelong.demo.feedback import feedback_reactions_apply
from lifelong.demo.loyalty_live import checkout_points, loyalty_reactions_apply
from lifelong.demo.people import CUSTOMER_PREFIX
from lifelong.demo.purchases import ORDER_PREFIX
from lifelong.events.services import event_record
from lifelong.feedback.inbox import inbound_receive
from lifelong.jobs import sweeps
from lifelong.journeys.models import Enrollment, Journey
from lifelong.messaging.models import WEBHOOK, Message
from lifelong.messaging.services import message_engagement_record, message_status_update

# Shares of messages that reach each step (clicks of opens, the rest of the message).
OPEN_RATE: dict[str, float] = {Channel.EMAIL: 0.45, Channel.SMS: 0.0, Channel.PUSH: 0.6}
MESSENGER_OPEN_RATE = 0.9
SMS_CLICK_RATE = 0.08  # SMS has no open tracking: some tap the link
CLICK_RATE = 0.25
REPLY_RATE = 0.03
UNSUBSCRIBE_RATE = 0.005
BUY_AFTER_CLICK = 0.06
DELIVERY_RATE = 0.97
# Carts per day as a share of the shop's usual orders per day; some buy within hours.
CART_SHARE = 0.4
CART_QUICK_BUY = 0.3
# The shop tells Lifelong, per waiting customer, that an item is back (see journeys.library).
BACK_IN_STOCK_DAILY = 2.0
HISTORY_DAYS = 180  # the window the base purchase rate is measured on

# (hour UTC, what runs): "all" every sweep, "react" customers then the journey sweeps.
PASSES: tuple[tuple[int, str], ...] = ((6, "all"), (10, "react"), (14, "light"), (18, "react"))
REACT_PASSES = sum(1 for _hour, what in PASSES if what == "react")
LIGHT_SWEEPS = ("journeys.react", "journeys.advance_due", "messaging.dispatch_due")

REPLIES = (
    "Спасибо!",
    "Спасибо, очень вовремя",
    "А коврик для хатхи какой лучше взять?",
    "Подскажите, когда будет доставка?",
    "Можно поменять размер?",
    "Спасибо, уже заказала",
    "Очень приятно, спасибо за заботу",
    "А есть ли скидка на второй курс?",
)
_WITHDRAW_VIA = {
    Channel.EMAIL: ("unsubscribe_link", "Ссылка «Отписаться» в письме"),
    Channel.SMS: ("sms_stop", "Ответ СТОП на SMS"),
    Channel.TELEGRAM: ("telegram_bot", "/stop"),
}
_ITEMS_BY_CATEGORY = {c.name: [i for i in ITEMS if i.category == c] for c in CATEGORIES}
_ITEMS_BY_SKU = {i.sku: i for i in ITEMS}
# What a message about a journey makes people buy next, by the template's first word.
_NEXT_CATEGORY = {
    "course": (COURSES.name, MATS.name),
    "tool": (TEA.name, AROMA.name),
}


@dataclass
class Audience:
    """The demo's customers and what they did so far in this simulation."""

    rng: random.Random
    customer_ids: list[int]
    daily_orders: float
    since: dt.datetime
    sequence: int
    # Carts whose owners will buy at the next pass: (customer id, skus).
    pending: list[tuple[int, list[str]]] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)
    # Sweeps that failed, by name: each is logged and the day goes on without it.
    failed_sweeps: Counter[str] = field(default_factory=Counter)
    # Its own stream for the loyalty programme, so the journeys' draws stay as they were.
    points_rng: random.Random = field(default_factory=random.Random)
    # And one for feedback: survey answers, messages, reviews, staff replies.
    feedback_rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def load(cls, *, seed: int) -> Audience:
        now = clock.now()
        recent = Order.objects.filter(
            customer__external_id__startswith=CUSTOMER_PREFIX,
            placed_at__gte=now - dt.timedelta(days=HISTORY_DAYS),
        ).count()
        return cls(
            rng=random.Random(seed),
            customer_ids=list(
                Customer.objects.live()
                .filter(external_id__startswith=CUSTOMER_PREFIX)
                .order_by("pk")
                .values_list("pk", flat=True)
            ),
            daily_orders=recent / HISTORY_DAYS,
            # What `lifelong demo` sent just before gets read too.
            since=now - dt.timedelta(days=1),
            sequence=Order.objects.filter(external_id__startswith=f"{ORDER_PREFIX}sim-").count(),
            points_rng=random.Random(seed + 1),
            feedback_rng=random.Random(seed + 2),
        )


def demo_reactions_apply(audience: Audience) -> None:
    """One pass: reactions to messages sent since the last pass, then purchases and carts."""
    now = clock.now()
    for customer_id, skus in audience.pending:
        _buy(audience, customer_id, skus, why="cart_orders")
    audience.pending = []
    _messages_react(audience, since=audience.since, until=now)
    share = 1 / REACT_PASSES
    for customer_id in _sample(audience, audience.daily_orders * share):
        _buy(audience, customer_id, _basket(audience, customer_id, hint=""), why="base_orders")
    for customer_id in _sample(audience, audience.daily_orders * CART_SHARE * share):
        _cart(audience, customer_id)
    for customer_id in _sample(audience, BACK_IN_STOCK_DAILY * share):
        sku = audience.rng.choice(ITEMS).sku
        event_record(
            customer=Customer(pk=customer_id),
            type="back_in_stock",
            properties={"skus": [sku]},
            source="demo",
        )
        audience.tally["back_in_stock"] += 1
    loyalty_reactions_apply(
        audience.points_rng, customer_ids=audience.customer_ids, share=share, tally=audience.tally
    )
    feedback_reactions_apply(
        audience.feedback_rng,
        customer_ids=audience.customer_ids,
        since=audience.since,
        tally=audience.tally,
    )
    audience.since = now


@dataclass(frozen=True)
class Simulation:
    """What the customers did (`tally`) and how often each failing sweep failed."""

    tally: Counter[str]
    failed_sweeps: Counter[str]


def demo_simulate(
    *, days: int, seed: int = 2024, progress: Callable[[int, dt.datetime], None] | None = None
) -> Simulation:
    """Move the clock `days` days, running the sweeps and the customers' reactions each day."""
    audience = Audience.load(seed=seed)
    now = clock.now()
    day_start = now.replace(hour=PASSES[0][0], minute=0, second=0, microsecond=0)
    if day_start <= now:
        day_start += dt.timedelta(days=1)
    for day in range(days):
        for hour, what in PASSES:
            _advance_to(day_start + dt.timedelta(hours=hour - PASSES[0][0]))
            if what == "all":
                audience.failed_sweeps.update(sweeps.run_all())
                continue
            if what == "react":
                demo_reactions_apply(audience)
            for name in LIGHT_SWEEPS:
                if not sweeps.sweep_run(sweeps.sweep_by_name(name)):
                    audience.failed_sweeps[name] += 1
        if progress is not None:
            progress(day + 1, clock.now())
        day_start += dt.timedelta(days=1)
    _advance_to(day_start)
    return Simulation(tally=audience.tally, failed_sweeps=audience.failed_sweeps)


def _advance_to(moment: dt.datetime) -> None:
    delta = moment - clock.now()
    if delta > dt.timedelta(0):
        clock.advance(delta)


def _sample(audience: Audience, expected: float) -> list[int]:
    whole = int(expected)
    count = whole + (audience.rng.random() < expected - whole)
    return audience.rng.sample(audience.customer_ids, min(count, len(audience.customer_ids)))


def _messages_react(audience: Audience, *, since: dt.datetime, until: dt.datetime) -> None:
    rng, tally = audience.rng, audience.tally
    messages = list(
        Message.objects.filter(
            sent_at__gt=since, sent_at__lte=until, customer__isnull=False, transport="sandbox"
        )
        .exclude(channel=WEBHOOK)
        .select_related("template")
        .order_by("pk")
    )
    contexts = dict(
        Enrollment.objects.filter(
            pk__in={m.enrollment_id for m in messages if m.enrollment_id}
        ).values_list("pk", "context")
    )
    for message in messages:
        assert message.customer_id is not None
        tally["sent"] += 1
        if rng.random() < DELIVERY_RATE:
            message_status_update(
                channel=message.channel, provider_id=message.provider_id, status="delivered"
            )
        opened = rng.random() < OPEN_RATE.get(message.channel, MESSENGER_OPEN_RATE)
        if opened and message_engagement_record(message=message, kind="opened"):
            tally["opened"] += 1
        click_rate = CLICK_RATE if opened else SMS_CLICK_RATE * (message.channel == Channel.SMS)
        clicked = rng.random() < click_rate
        if clicked and message_engagement_record(message=message, kind="clicked"):
            tally["clicked"] += 1
        if not (opened or clicked):
            continue
        if message.channel != Channel.PUSH and rng.random() < REPLY_RATE:
            # Into the conversations inbox too, as a real messenger reply would go.
            tally["replied"] += inbound_receive(
                channel=message.channel, address=message.to, text=rng.choice(REPLIES)
            )
        if message.purpose == Purpose.MARKETING and rng.random() < UNSUBSCRIBE_RATE:
            _unsubscribe(message)
            tally["unsubscribed"] += 1
        if clicked and rng.random() < BUY_AFTER_CLICK:
            context = contexts.get(message.enrollment_id or 0) or {}
            skus = _skus_of(context) or _basket(
                audience,
                message.customer_id,
                hint=message.template.slug if message.template else "",
            )
            _buy(audience, message.customer_id, skus, why="orders_after_click")


def _unsubscribe(message: Message) -> None:
    assert message.customer_id is not None
    source, form = _WITHDRAW_VIA.get(Channel(message.channel), ("preferences", "Настройки"))
    consent_record(
        customer=Customer.objects.get(pk=message.customer_id),
        channel=message.channel,
        purpose=Purpose.MARKETING,
        granted=False,
        source=source,
        form=form,
    )


def _skus_of(context: dict[str, object]) -> list[str]:
    """What the journey was about: a product to restock, a cart, an item back in stock."""
    if isinstance(context.get("sku"), str):
        return [str(context["sku"])]
    cart = context.get("cart")
    skus = cart.get("skus") if isinstance(cart, dict) else context.get("skus")
    return [s for s in skus if s in _ITEMS_BY_SKU] if isinstance(skus, list) else []


def _basket(audience: Audience, customer_id: int, *, hint: str) -> list[str]:
    """One or two items of a category that fits the message, or the customer's own taste."""
    rng = audience.rng
    categories: Sequence[str] = _NEXT_CATEGORY.get(hint.split("-")[0], ())
    if not categories and rng.random() < 0.5:
        categories = _last_categories(customer_id)
    if not categories:
        categories = rng.choices(
            [c.name for c in CATEGORIES], weights=[c.popularity for c in CATEGORIES]
        )
    category = rng.choice(list(categories))
    items = _ITEMS_BY_CATEGORY.get(category) or list(ITEMS)
    return [item.sku for item in rng.sample(items, min(len(items), rng.choice((1, 1, 2))))]


def _last_categories(customer_id: int) -> list[str]:
    last = Order.objects.filter(customer_id=customer_id).order_by("-placed_at").first()
    if last is None:
        return []
    return [
        c
        for c in OrderLine.objects.filter(order=last).values_list("product__category", flat=True)
        if c in _ITEMS_BY_CATEGORY
    ]


def _buy(audience: Audience, customer_id: int, skus: list[str], *, why: str) -> None:
    items: list[Item] = [_ITEMS_BY_SKU[s] for s in skus if s in _ITEMS_BY_SKU]
    if not items:
        return
    audience.sequence += 1
    now = clock.now()
    lines = [LineInput(sku=i.sku, quantity=1, price=i.price, name=i.name) for i in items]
    external_id = f"{ORDER_PREFIX}sim-{audience.sequence:06d}"
    total = sum((i.price for i in items), Decimal(0))
    if checkout_points(
        audience.points_rng, customer_id=customer_id, order_external_id=external_id, total=total
    ):
        audience.tally["paid_with_points"] += 1
    order_upsert(
        external_id=external_id,
        customer=Customer.objects.get(pk=customer_id),
        total=total,
        placed_at=now,
        status=OrderStatus.PAID,
        paid_at=now,
        channel="site",
        lines=lines,
        source="demo",
    )
    audience.tally[why] += 1


def _cart(audience: Audience, customer_id: int) -> None:
    skus = _basket(audience, customer_id, hint="")
    total = sum((_ITEMS_BY_SKU[s].price for s in skus), Decimal(0))
    event_record(
        customer=Customer(pk=customer_id),
        type="cart_updated",
        properties={"skus": skus, "cart": {"skus": skus, "total": str(total)}},
        source="demo",
    )
    audience.tally["carts"] += 1
    if audience.rng.random() < CART_QUICK_BUY:
        audience.pending.append((customer_id, skus))


def journeys_report() -> list[dict[str, object]]:
    """Per journey: entered, holdout, converted (treated and holdout), messages and reactions."""
    rows = []
    for journey in Journey.objects.order_by("pk"):
        enrollments = Enrollment.objects.filter(journey=journey).aggregate(
            entered=Count("pk"),
            held_out=Count("pk", filter=Q(holdout=True)),
            converted=Count("pk", filter=Q(holdout=False, goal_met_at__isnull=False)),
            held_out_converted=Count("pk", filter=Q(holdout=True, goal_met_at__isnull=False)),
        )
        messages = Message.objects.filter(journey_id=journey.pk).aggregate(
            queued=Count("pk"),
            sent=Count("pk", filter=Q(sent_at__isnull=False)),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
        )
        rows.append({"journey": journey.slug, **enrollments, **messages})
    return rows
