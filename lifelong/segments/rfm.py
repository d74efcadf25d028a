"""RFM quintile scores, the named RFM segments, loyal types and revenue concentration.

Scores are quintiles over the live customers with at least one counted order:
score = (RANK() - 1) * 5 / N + 1 with RANK ordered from worst to best. That is the
NTILE(5) bucket of the customer's position, except that tied values share the bucket
of the first of them, so equal behaviour always gets an equal score and the result
does not depend on row ids or on the order the database returns rows in.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OrderBy,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, Rank
from django.db.models.lookups import In

from lifelong.commerce.models import Order
from lifelong.commerce.services import UNCOUNTED_STATUSES
from lifelong.customers.models import Customer
from lifelong.segments.models import CustomerState, LifecycleRules, LoyalType, RfmSegment

S = RfmSegment
# Rows: recency score 5..1; columns: FM = round((F + M) / 2) from 1 to 5.
RFM_GRID: dict[int, tuple[RfmSegment, RfmSegment, RfmSegment, RfmSegment, RfmSegment]] = {
    5: (S.NEW, S.POTENTIAL_LOYALISTS, S.POTENTIAL_LOYALISTS, S.CHAMPIONS, S.CHAMPIONS),
    4: (S.NEW, S.POTENTIAL_LOYALISTS, S.POTENTIAL_LOYALISTS, S.LOYAL, S.CHAMPIONS),
    3: (S.HIBERNATING, S.HIBERNATING, S.POTENTIAL_LOYALISTS, S.LOYAL, S.LOYAL),
    2: (S.LOST, S.HIBERNATING, S.AT_RISK, S.AT_RISK, S.CANT_LOSE),
    1: (S.LOST, S.LOST, S.AT_RISK, S.CANT_LOSE, S.CANT_LOSE),
}


def rfm_segment_of(recency: int, frequency: int, monetary: int) -> RfmSegment:
    """The named segment for three scores (the same table the SQL uses)."""
    return RFM_GRID[recency][(frequency + monetary + 1) // 2 - 1]


def live_buyers() -> QuerySet[Customer]:
    return Customer.objects.live().filter(orders_count__gt=0)


def _quintile(order_by: OrderBy, total: Window) -> ExpressionWrapper:
    return ExpressionWrapper(
        (Window(Rank(), order_by=order_by) - 1) * 5 / total + 1, output_field=IntegerField()
    )


def rfm_scores_queryset() -> QuerySet[Customer, dict[str, Any]]:
    """One row per live buyer: cid, r, f, m and aov (average order value score)."""
    total = Window(Count("pk"))
    average_order = ExpressionWrapper(
        Cast("total_spent", FloatField()) / F("orders_count"), output_field=FloatField()
    )
    return (
        live_buyers()
        .order_by()
        .annotate(
            cid=F("pk"),
            r=_quintile(F("last_order_at").asc(), total),
            f=_quintile(F("orders_count").asc(), total),
            m=_quintile(F("total_spent").asc(), total),
            aov=_quintile(average_order.asc(), total),
        )
        .values("cid", "r", "f", "m", "aov")
    )


def stale_discount_queryset() -> QuerySet[CustomerState, tuple[int, int, Decimal]]:
    """Buyers whose order summary moved since their discount share was computed.

    Rows: (customer id, orders, net spend) as they are now, to be stored as the new basis.
    """
    basis_moved = (
        Q(discount_basis_orders__isnull=True)
        | ~Q(discount_basis_orders=F("customer__orders_count"))
        | ~Q(discount_basis_spent=F("customer__total_spent"))
    )
    return (
        CustomerState.objects.filter(customer__orders_count__gt=0)
        .filter(basis_moved)
        .order_by()
        .values_list("customer_id", "customer__orders_count", "customer__total_spent")
    )


def discount_shares_select(stale: str) -> tuple[str, list[Any]]:
    """SQL: share of counted orders with a discount (cid, share) for the customers in the
    scratch table `stale`. Reached through the (customer, placed_at) index, so a day's
    few changed customers cost a few index probes instead of a pass over every order.
    """
    orders = connection.ops.quote_name(Order._meta.db_table)
    sql = (
        "SELECT o.customer_id AS cid, "  # noqa: S608 - names only
        "AVG(CASE WHEN o.discount > 0 THEN 1.0 ELSE 0.0 END) AS share "
        f"FROM {orders} AS o JOIN {stale} AS t ON t.customer_id = o.customer_id "
        "WHERE o.status NOT IN (%s, %s) GROUP BY o.customer_id"
    )
    return sql, list(UNCOUNTED_STATUSES)


def rfm_segment_expression() -> Case:
    """CASE over the stored scores of a CustomerState row giving its RfmSegment."""
    fm = (F("rfm_frequency") + F("rfm_monetary") + 1) / 2
    whens = []
    for recency, row in RFM_GRID.items():
        for segment in dict.fromkeys(row):
            fms = [i + 1 for i, s in enumerate(row) if s == segment]
            whens.append(When(Q(rfm_recency=recency) & Q(In(fm, fms)), then=Value(segment.value)))
    return Case(*whens, default=Value(""), output_field=CharField())


def loyal_type_expression(rules: LifecycleRules) -> Case:
    """CASE over a CustomerState row: limited, then lazy, then profitable devotees."""
    frequent = Q(rfm_frequency__gte=rules.devotee_min_frequency_score)
    return Case(
        When(
            frequent & Q(discount_share__gte=float(rules.limited_min_discount_share)),
            then=Value(LoyalType.LIMITED.value),
        ),
        When(
            frequent & Q(aov_score__lte=rules.lazy_max_aov_score),
            then=Value(LoyalType.LAZY.value),
        ),
        When(
            frequent & Q(rfm_recency__gte=rules.profitable_min_recency_score),
            then=Value(LoyalType.PROFITABLE.value),
        ),
        default=Value(""),
        output_field=CharField(),
    )


def _spend_sorted() -> np.ndarray:
    """Net spend of every live buyer, ascending (one column, so NumPy is the right tool)."""
    values = live_buyers().order_by().values_list(Cast("total_spent", FloatField()), flat=True)
    return np.sort(np.fromiter(values, dtype=np.float64))


def pareto_share(*, top: float = 0.2) -> float:
    """Share of net revenue that the top `top` fraction of buyers brought (0..1)."""
    spend = _spend_sorted()
    total = float(spend.sum())
    if not total:
        return 0.0
    count = math.ceil(top * len(spend))
    return float(spend[len(spend) - count :].sum()) / total


def lorenz_curve(*, points: int = 21) -> list[tuple[float, float]]:
    """Lorenz curve of net revenue: (share of buyers from the smallest, share of revenue).

    Evenly spaced on the x axis from 0 to 1, ready for a chart; the top-20 % share
    is 1 - y at x = 0.8.
    """
    spend = _spend_sorted()
    xs = np.linspace(0.0, 1.0, points)
    total = float(spend.sum())
    if not total:
        return [(float(x), float(x)) for x in xs]
    cumulative = np.concatenate(([0.0], np.cumsum(spend))) / total
    ys = np.interp(xs * len(spend), np.arange(len(spend) + 1), cumulative)
    return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
