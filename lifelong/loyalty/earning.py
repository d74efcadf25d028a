"""Earning: the sweep that reads the event log once, in id order, and posts points.

Every way a fact arrives (API, webhook, CSV import, the demo) writes its events, so the
ingestion paths know nothing of points. The sweep reads a batch of the event types it
cares about after its cursor, locks the customers' accounts in one statement, plans every
posting in memory and writes them all with a few bulk statements:

- `order_paid` / `order_delivered`: the order's earn, once (key `earn:order:<id>`, posted
  with no entries when it earns nothing, so the decision is never taken again);
- `order_cancelled` / `order_refunded`: take back all of the earn and give back all of the
  burn (key `reverse:order:<id>`);
- `order_refund` / `order_returned`: the share refunded so far (key `refund:<refund id>`);
- any type an event rule names: its award, within the rule's cap and cooldown
  (key `award:<event id>:<rule id>`; see `award_allowed`).

Dates come from the event (a lot's pending period and expiry count from `occurred_at`) and
caps count earlier awards by `occurred_at`, so reading the same stream again, or from
scratch, posts the same points: every key is posted once. Purchases made before the
programme started earn nothing. An event that cannot be posted is set aside (`events.SetAsideEvent`)
so the log keeps moving, as the journey reactor does.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Max, Prefetch

from lifelong.commerce.models import Order, OrderLine, Refund
from lifelong.events.models import Event
from lifelong.events.set_aside import event_alone, set_aside_event
from lifelong.loyalty.ledger import Book, book_lock_many, ledger_write, posted_keys
from lifelong.loyalty.models import (
    Cursor,
    EarningRule,
    Programme,
    RateMode,
    Rounding,
    RuleKind,
    Transaction,
    TxKind,
)
from lifelong.loyalty.refunds import (
    WHOLE,
    earn_lines,
    order_reverse,
    orders_burned,
    refunds_share,
)
from lifelong.loyalty.services import award_post
from lifelong.loyalty.tiers import tiers_current

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
CURSOR = "earning"
# Under which name this sweep's set-aside events are kept (events.SetAsideEvent.reactor).
SET_ASIDE = "loyalty.earning"
EARN_EVENTS = ("order_paid", "order_delivered")
REVERSE_EVENTS = ("order_cancelled", "order_refunded")
REFUND_EVENTS = ("order_refund", "order_returned")
ORDER_EVENTS = (*EARN_EVENTS, *REVERSE_EVENTS, *REFUND_EVENTS)


class Rules:
    """The active earning rules, read once per batch."""

    def __init__(self) -> None:
        rules = list(EarningRule.objects.filter(active=True))
        self.purchase = next((r for r in rules if r.kind == RuleKind.PURCHASE), None)
        self.by_category = _largest(r for r in rules if r.kind == RuleKind.CATEGORY)
        self.by_sku = _largest(r for r in rules if r.kind == RuleKind.PRODUCT)
        self.events: dict[str, list[EarningRule]] = {}
        for rule in rules:
            if rule.kind == RuleKind.EVENT:
                self.events.setdefault(rule.event_type, []).append(rule)

    def multiplier(self, line: OrderLine) -> Decimal:
        """The largest multiplier of the line's product or category rule (1 without one)."""
        category = line.product.category if line.product else ""
        rules = (self.by_sku.get(line.sku), self.by_category.get(category))
        return max((r.multiplier for r in rules if r), default=Decimal(1))


def _largest(rules: Iterable[EarningRule]) -> dict[str, EarningRule]:
    best: dict[str, EarningRule] = {}
    for rule in rules:
        name = rule.sku or rule.category
        if name not in best or rule.multiplier > best[name].multiplier:
            best[name] = rule
    return best


def order_points(
    *,
    order: Order,
    lines: list[OrderLine],
    burned: int,
    rules: Rules,
    programme: Programme,
    tier_multiplier: Decimal = Decimal(1),
) -> int:
    """The points an order earns: money actually paid (its total less the points spent on it,
    at their value), split over the lines by their totals, each part at the base rate times
    its product's or category's multiplier, all times the customer's tier multiplier; summed,
    then rounded once by the programme's rule.
    """
    rule = rules.purchase
    if rule is None:
        return 0
    paid = max(Decimal(0), order.total - burned * programme.point_value)
    lines_total = sum((line.total for line in lines), Decimal(0))
    parts = (
        [(paid * line.total / lines_total, rules.multiplier(line)) for line in lines]
        if lines_total > 0
        else [(paid, Decimal(1))]
    )
    if rule.mode == RateMode.PERCENT:
        per_rouble = rule.rate / 100 / programme.point_value
    else:
        per_rouble = rule.rate / rule.per_roubles
    exact = tier_multiplier * sum(
        (money * per_rouble * multiplier for money, multiplier in parts), Decimal(0)
    )
    rounding = ROUND_HALF_UP if programme.rounding == Rounding.NEAREST else ROUND_DOWN
    return int(exact.quantize(Decimal(1), rounding=rounding))


class Batch:
    """What a batch of events needs, read in a few queries: their orders with their lines,
    the points spent on each, the buyers' tiers, and which of their earn and award keys are
    not posted yet."""

    def __init__(self, events: list[dict[str, Any]], rules: Rules) -> None:
        ids = {i for e in events if (i := _order_id(e)) is not None}
        lines = OrderLine.objects.select_related("product").order_by("pk")
        self.orders = Order.objects.prefetch_related(Prefetch("lines", queryset=lines)).in_bulk(ids)
        self.burned = orders_burned(self.orders.values())
        earners = [e["customer_id"] for e in events if e["type"] in EARN_EVENTS]
        # The tier the customer holds when the earn is posted (this sweep runs every few
        # seconds, so that is the tier of the purchase).
        self.tiers = tiers_current(customer_ids=earners) if earners else {}
        keys = [f"earn:order:{_order_id(e)}" for e in events if e["type"] in EARN_EVENTS]
        keys += [f"award:{e['pk']}:{r.pk}" for e in events for r in rules.events.get(e["type"], [])]
        self.absent = set(keys) - posted_keys(keys)


def _tier_multiplier(batch: Batch, customer_id: int) -> Decimal:
    tier = batch.tiers.get(customer_id)
    return tier.earn_multiplier if tier is not None else Decimal(1)


def _order_id(event: dict[str, Any]) -> int | None:
    order_id = event["properties"].get("order_id")
    return order_id if event["type"] in ORDER_EVENTS and isinstance(order_id, int) else None


def loyalty_earn(*, batch_size: int = BATCH_SIZE) -> int:
    """Post points for every event not read yet; returns how many events were read."""
    programme = Programme.current()
    if not programme.enabled:
        return 0
    read = 0
    while True:
        count = _earn_batch(batch_size, programme)
        read += count
        if count < batch_size:
            return read


def cursor_start() -> None:
    """Start reading at the end of the log: history predates the programme."""
    Cursor.objects.get_or_create(
        name=CURSOR, defaults={"last_event_id": Event.objects.aggregate(m=Max("pk"))["m"] or 0}
    )


def _earn_batch(batch_size: int, programme: Programme) -> int:
    with transaction.atomic():
        cursor_start()
        cursor = Cursor.objects.select_for_update().get(name=CURSOR)
        rules = Rules()
        events: list[dict[str, Any]] = [
            dict(row)
            for row in Event.objects.filter(
                pk__gt=cursor.last_event_id,
                customer__isnull=False,
                type__in=[*ORDER_EVENTS, *rules.events],
            )
            .order_by("pk")
            .values("pk", "customer_id", "type", "properties", "occurred_at")[:batch_size]
        ]
        if not events:
            return 0
        try:
            with transaction.atomic():
                books = book_lock_many([e["customer_id"] for e in events])
                batch = Batch(events, rules)
                for book in books.values():
                    book.absent = batch.absent
                for event in events:
                    _event_plan(books[event["customer_id"]], event, batch, rules, programme)
                ledger_write(list(books.values()))
        except Exception:
            log.warning("loyalty.earn_batch_failed", exc_info=True)
            for event in events:
                _event_post_alone(event, rules, programme)
        cursor.last_event_id = events[-1]["pk"]
        cursor.save(update_fields=["last_event_id"])
    return len(events)


def _event_post_alone(event: dict[str, Any], rules: Rules, programme: Programme) -> bool:
    """Post one event in a savepoint; on failure set it aside. True when it went through."""

    def post() -> None:
        book = Book.open(customer_id=event["customer_id"])
        _event_plan(book, event, Batch([event], rules), rules, programme)
        ledger_write([book])

    return event_alone(reactor=SET_ASIDE, event_id=event["pk"], work=post)


def set_aside_retry(*, event_id: int) -> bool:
    """Post a set-aside event again; it leaves the list when it goes through."""
    event = set_aside_event(reactor=SET_ASIDE, event_id=event_id)
    if event is None:
        return False
    return _event_post_alone(event, Rules(), Programme.current())


def _event_plan(
    book: Book, event: dict[str, Any], batch: Batch, rules: Rules, programme: Programme
) -> None:
    kind = event["type"]
    order_id = _order_id(event)
    order = batch.orders.get(order_id) if order_id is not None else None
    if order is not None and order.customer_id == book.customer_id:
        _order_event_plan(book, event, order, batch, rules, programme)
    for rule in rules.events.get(kind, []):
        _rule_award_plan(book, event, rule, programme)


def _order_event_plan(
    book: Book,
    event: dict[str, Any],
    order: Order,
    batch: Batch,
    rules: Rules,
    programme: Programme,
) -> None:
    kind, occurred_at = event["type"], event["occurred_at"]
    if kind in EARN_EVENTS:
        if programme.started_at is not None and occurred_at < programme.started_at:
            return
        lines = list(order.lines.all())
        points = order_points(
            order=order,
            lines=lines,
            burned=batch.burned.get(order.pk, 0),
            rules=rules,
            programme=programme,
            tier_multiplier=_tier_multiplier(batch, book.customer_id),
        )
        # Posted even when it earns nothing: the order's earn is decided once, so reading the
        # log again after a refund has given its burn back cannot earn it anew.
        posting = book.posting(
            key=f"earn:order:{order.pk}",
            kind=TxKind.EARN,
            occurred_at=occurred_at,
            order_id=order.pk,
            rule=rules.purchase,
            event_id=event["pk"],
            lines=earn_lines(
                (line.sku, line.quantity, line.total, rules.multiplier(line)) for line in lines
            )
            or None,
        )
        if posting is not None and points > 0:
            award_post(
                book,
                posting,
                points=points,
                status_points=points,
                programme=programme,
                pending=True,
            )
        return
    # Taking back reads the order's earlier postings: write those planned in this batch first.
    ledger_write([book])
    if kind in REVERSE_EVENTS:
        order_reverse(
            book,
            order=order,
            share=WHOLE,
            key=f"reverse:order:{order.pk}",
            programme=programme,
            event_id=event["pk"],
        )
    else:
        refund = Refund.objects.filter(
            order=order, external_id=str(event["properties"].get("refund_id", ""))
        ).first()
        if refund is None:
            return
        order_reverse(
            book,
            order=order,
            share=refunds_share(order=order, upto_refund_id=refund.pk),
            key=f"refund:{refund.pk}",
            programme=programme,
            refund_id=refund.pk,
            event_id=event["pk"],
        )


def _rule_award_plan(
    book: Book, event: dict[str, Any], rule: EarningRule, programme: Programme
) -> None:
    if not award_allowed(
        rule, event["occurred_at"], _award_times(book, rule, event["occurred_at"])
    ):
        return
    posting = book.posting(
        key=f"award:{event['pk']}:{rule.pk}",
        kind=TxKind.AWARD,
        occurred_at=event["occurred_at"],
        rule=rule,
        event_id=event["pk"],
    )
    if posting is not None:
        award_post(
            book,
            posting,
            points=rule.points,
            status_points=rule.status_points,
            programme=programme,
        )


def award_allowed(rule: EarningRule, moment: dt.datetime, times: list[dt.datetime]) -> bool:
    """Whether one more award of `rule` at `moment` keeps the customer's awards (`times`, the
    moments of the earlier ones) within the rule's cooldown and cap.

    Events may arrive out of order (the shop sends yesterday's review today), so both hold
    on either side of `moment`: no award closer than the cooldown before or after it, and
    every cap period that would contain it (each ending at `moment` or at a later award
    less than a period after it) still has room. That keeps the invariant true for the whole
    history, however the stream is ordered.
    """
    cooldown = dt.timedelta(minutes=rule.cooldown_minutes)
    if cooldown and any(abs(t - moment) < cooldown for t in times):
        return False
    if not (rule.cap_count and rule.cap_days):
        return True
    period = dt.timedelta(days=rule.cap_days)
    ends = [moment, *(t for t in times if moment < t < moment + period)]
    return all(sum(1 for t in times if end - period < t <= end) < rule.cap_count for end in ends)


def award_span(rule: EarningRule) -> dt.timedelta:
    """How far on either side of an award its cooldown and cap periods reach."""
    return max(dt.timedelta(minutes=rule.cooldown_minutes), dt.timedelta(days=rule.cap_days))


def _award_times(book: Book, rule: EarningRule, moment: dt.datetime) -> list[dt.datetime]:
    """The moments of the rule's awards to this customer near `moment`: posted, and planned
    in this batch. No query for a rule without a cooldown or cap."""
    span = award_span(rule)
    if not span:
        return []
    posted = Transaction.objects.filter(
        rule=rule,
        customer_id=book.customer_id,
        kind=TxKind.AWARD,
        occurred_at__gt=moment - span,
        occurred_at__lt=moment + span,
    ).values_list("occurred_at", flat=True)
    planned = [
        p.occurred_at
        for p in book.postings
        if p.reason.get("rule") == rule and abs(p.occurred_at - moment) < span
    ]
    return [*posted, *planned]
