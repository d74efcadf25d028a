"""The loyalty programme in `lifelong simulate`: customers pay with points at checkout, write
reviews, answer surveys, post in the club, now and then cancel an order or return a line.

Checkout goes through the hold services the checkout API uses: the points are reserved
before the shop sends the order, then confirmed, sometimes for less; some customers leave
the cart and their hold times out. Cancellations and returns go through the commerce
services as a shop's integration would send them. The sweeps that `simulate` runs every
morning do the rest: earning (and taking back what was refunded), releasing pending points,
expiry, voiding timed-out holds, tier reviews. With the programme off, nothing here runs.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import Count

from lifelong import clock
from lifelong.commerce.models import Order, OrderStatus
from lifelong.commerce.services import RefundLineInput, order_upsert, refund_record
from lifelong.customers.models import Customer
from lifelong.demo.loyalty import SOURCE
from lifelong.demo.purchases import ORDER_PREFIX, REFUND_PREFIX
from lifelong.events.services import event_record
from lifelong.lib.errors import DomainError
from lifelong.loyalty.holds import hold_confirm, hold_reserve
from lifelong.loyalty.ledger import balance_of
from lifelong.loyalty.models import Programme, Transaction

CHECKOUT_SHARE = 0.35  # of purchases by customers with at least BURN_MIN available
BURN_MIN = 150
CONFIRM_LESS_SHARE = 0.15
HOLD_TIMEOUT = 900
# Per day, across the shop.
ABANDONED_DAILY = 1.0  # a hold reserved for a cart that is never paid: it times out
REVIEWS_DAILY = 2.0
SURVEYS_DAILY = 1.0
CLUB_DAILY = 2.0
CANCELS_DAILY = 0.3  # of the orders paid during the simulation
RETURNS_DAILY = 0.3  # of orders paid within the return window
RECENT = dt.timedelta(days=14)
T = TypeVar("T")


def checkout_points(
    rng: random.Random, *, customer_id: int, order_external_id: str, total: Decimal
) -> int:
    """Before the order is sent: perhaps pay part of it with points; how many were spent."""
    programme = Programme.current()
    account = balance_of(customer_id)
    if not programme.enabled or account is None or account.available < BURN_MIN:
        return 0
    if rng.random() >= CHECKOUT_SHARE:
        return 0
    cap = int(total * programme.max_share_percent / 100 / programme.point_value)
    points = min(account.available, cap)
    if points < 1:
        return 0
    try:
        hold = hold_reserve(
            customer_id=customer_id,
            order_external_id=order_external_id,
            points=points,
            timeout_seconds=HOLD_TIMEOUT,
        )
    except DomainError:
        return 0
    if points > 1 and rng.random() < CONFIRM_LESS_SHARE:
        points = rng.randint(1, points - 1)
    hold_confirm(hold_id=hold.pk, points=points)
    return points


def loyalty_reactions_apply(
    rng: random.Random, *, customer_ids: list[int], share: float, tally: Counter[str]
) -> None:
    """One pass (`share` of a day): abandoned checkouts, reviews, surveys, posts in the
    club, cancellations and returns."""
    if not customer_ids or not Programme.current().enabled:
        return
    now = clock.now()
    for customer_id in _sample(rng, customer_ids, ABANDONED_DAILY * share):
        account = balance_of(customer_id)
        if account is None or account.available < BURN_MIN:
            continue
        try:
            hold_reserve(
                customer_id=customer_id,
                order_external_id=f"{ORDER_PREFIX}cart-{now:%Y%m%d%H}-{customer_id}",
                points=rng.randint(1, account.available),
                timeout_seconds=HOLD_TIMEOUT,
            )
            tally["points_held_abandoned"] += 1
        except DomainError:
            continue
    recent = list(
        Order.objects.filter(
            customer_id__in=customer_ids,
            paid_at__gt=now - RECENT,
            status__in=(OrderStatus.PAID, OrderStatus.DELIVERED),
        )
        .order_by("pk")
        .values_list("pk", "customer_id", "external_id")
    )
    for _pk, customer_id, external_id in _sample(rng, recent, REVIEWS_DAILY * share):
        review = {"order": external_id, "rating": rng.choice((4, 5, 5)), "words": 120}
        _event(customer_id, "review_posted", review)
        tally["reviews"] += 1
    for _pk, customer_id, _external_id in _sample(rng, recent, SURVEYS_DAILY * share):
        _event(customer_id, "survey_answered", {"question": "Как вам покупка?", "score": 9})
        tally["surveys"] += 1
    for customer_id in _sample(rng, customer_ids, CLUB_DAILY * share):
        _event(customer_id, "community_post", {"topic": "практика"})
        tally["club_posts"] += 1
    simulated = [r for r in recent if r[2].startswith(f"{ORDER_PREFIX}sim-")]
    for pk, _customer_id, _external_id in _sample(rng, simulated, CANCELS_DAILY * share):
        _cancel(pk)
        tally["orders_cancelled"] += 1
    for pk, _customer_id, _external_id in _sample(rng, recent, RETURNS_DAILY * share):
        tally["lines_returned"] += _return(pk)


def ledger_report(*, since: dt.datetime) -> dict[str, int]:
    """Ledger transactions posted since `since`, by kind (what `simulate` prints)."""
    rows = (
        Transaction.objects.filter(created_at__gt=since)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {kind: n for kind, n in rows}


def _sample(rng: random.Random, pool: list[T], expected: float) -> list[T]:
    whole = int(expected)
    count = whole + (rng.random() < expected - whole)
    return rng.sample(pool, min(count, len(pool)))


def _event(customer_id: int, type: str, properties: dict[str, Any]) -> None:
    event_record(customer=Customer(pk=customer_id), type=type, properties=properties, source=SOURCE)


def _cancel(order_id: int) -> None:
    """The shop cancels a paid order: the earn is taken back, the points spent come back."""
    order = Order.objects.select_related("customer").get(pk=order_id)
    order_upsert(
        external_id=order.external_id,
        customer=order.customer,
        total=order.total,
        placed_at=order.placed_at,
        status=OrderStatus.CANCELLED,
        paid_at=order.paid_at,
        source="demo",
    )


def _return(order_id: int) -> int:
    """One line of the order comes back: exactly its share of the points goes back too."""
    order = Order.objects.prefetch_related("lines").get(pk=order_id)
    if order.refunded_total:
        return 0
    line = min(order.lines.all(), key=lambda ln: ln.pk, default=None)
    if line is None:
        return 0
    amount = min(line.price, order.total)
    refund_record(
        external_id=f"{REFUND_PREFIX}sim-{order.external_id}",
        order=order,
        amount=amount,
        reason="Не подошёл размер",
        is_return=True,
        lines=[RefundLineInput(sku=line.sku, quantity=1)],
        source="demo",
    )
    return 1
