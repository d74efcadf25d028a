"""RFM quintile scores, the named RFM segments, loyal types and revenue concentration.

Scores are quintiles over the live customers with at least one counted order:
score = (RANK() - 1) * 5 / N + 1 with RANK ordered from worst to best. That is the
NTILE(5) bucket of the customer's position, except that tied values share the bucket
of the first of them, so equal behaviour always gets an equal score and the result
does not depend on row ids or on the order the database returns rows in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from django.db.models import (
    Avg,
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
from lifelong.commerce.services import COUNTED
from lifelong.customers.models import Customer
from lifelong.segments.models import LifecycleRules, LoyalType, RfmSegment

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
    return Customer.objects.filter(merged_into__isnull=True, orders_count__gt=0)


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


def discount_shares_queryset() -> QuerySet[Order, dict[str, Any]]:
    """Share of each buyer's counted orders that carried a discount: cid, share.

    A GROUP BY over the orders table rather than a subquery per customer: one
    sequential pass beats a million index probes into scattered order rows.
    """
    return (
        Order.objects.filter(COUNTED)
        .order_by()
        .values("customer_id")
        .annotate(
            cid=F("customer_id"),
            share=Avg(
                Case(
                    When(discount__gt=0, then=Value(1.0)),
                    default=Value(0.0),
                    output_field=FloatField(),
                )
            ),
        )
        .values("cid", "share")
    )


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
