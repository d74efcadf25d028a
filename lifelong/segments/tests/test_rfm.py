"""RFM quintiles, named segments, loyal types and revenue concentration on known data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lifelong.commerce.models import Order, OrderStatus
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.segments.models import CustomerState, LoyalType, RfmSegment
from lifelong.segments.rfm import lorenz_curve, pareto_share, rfm_segment_of
from lifelong.segments.services import rfm_refresh
from lifelong.segments.tests.helpers import buyer

pytestmark = pytest.mark.django_db


def scores(customer) -> tuple:
    state = CustomerState.objects.get(customer=customer)
    return (
        state.rfm_recency,
        state.rfm_frequency,
        state.rfm_monetary,
        state.rfm_segment,
        state.loyal_type,
    )


def test_quintiles_and_named_segments(frozen_time):
    best = buyer(5, 15, 25, 35, 45, total=Decimal("2000"))
    second = buyer(10, 20, 30, 40, total=Decimal("1500"))
    middle = buyer(20, 50, 80, total=Decimal("1000"))
    fading = buyer(100, 200, total=Decimal("800"))
    gone = buyer(300, total=Decimal("500"))
    lead = CustomerFactory()
    rfm_refresh()
    assert scores(best)[:4] == (5, 5, 5, RfmSegment.CHAMPIONS)
    assert scores(second)[:4] == (4, 4, 4, RfmSegment.LOYAL)
    assert scores(middle)[:4] == (3, 3, 3, RfmSegment.POTENTIAL_LOYALISTS)
    assert scores(fading)[:4] == (2, 2, 2, RfmSegment.HIBERNATING)
    assert scores(gone)[:4] == (1, 1, 1, RfmSegment.LOST)
    assert scores(lead) == (None, None, None, "", "")


def test_ties_share_a_score_whatever_the_ids(frozen_time):
    ones = [buyer(10 + i, total=Decimal("500")) for i in range(4)]
    big = buyer(1, 2, total=Decimal("500"))
    rfm_refresh()
    assert {scores(c)[1] for c in ones} == {1}  # four tied one-order buyers: all F = 1
    assert scores(big)[1] == 5
    assert {scores(c)[2] for c in ones} == {1}  # equal spend, equal monetary score


def test_scores_are_cleared_when_orders_are_cancelled(frozen_time):
    from lifelong.commerce.models import Order, OrderStatus
    from lifelong.commerce.services import customer_summaries_refresh

    customer = buyer(10)
    rfm_refresh()
    assert scores(customer)[:3] == (1, 1, 1)  # alone, the only buyer is also the lowest
    Order.objects.filter(customer=customer).update(status=OrderStatus.CANCELLED)
    customer_summaries_refresh([customer.pk])
    rfm_refresh()
    assert scores(customer) == (None, None, None, "", "")


def test_rfm_refresh_writes_only_changes(frozen_time):
    buyer(5, total=Decimal("10"))
    buyer(50, total=Decimal("20"))
    assert rfm_refresh() == 2
    assert rfm_refresh() == 0


@pytest.mark.parametrize(
    ("r", "f", "m", "expected"),
    [
        (5, 5, 4, RfmSegment.CHAMPIONS),
        (5, 1, 1, RfmSegment.NEW),
        (4, 4, 4, RfmSegment.LOYAL),
        (4, 2, 3, RfmSegment.POTENTIAL_LOYALISTS),
        (2, 3, 4, RfmSegment.AT_RISK),
        (1, 5, 5, RfmSegment.CANT_LOSE),
        (2, 5, 5, RfmSegment.CANT_LOSE),
        (3, 1, 2, RfmSegment.HIBERNATING),
        (1, 2, 2, RfmSegment.LOST),
    ],
)
def test_segment_table(r, f, m, expected):
    assert rfm_segment_of(r, f, m) == expected


def test_sql_mapping_matches_the_table(frozen_time):
    """Every (R, F, M) the SQL CASE can see maps like the documented table."""
    customers = [buyer(10) for _ in range(125)]
    states = CustomerState.objects.filter(customer__in=customers)
    rfm_refresh()
    triples = [(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)]
    for state, (r, f, m) in zip(states.order_by("pk"), triples, strict=True):
        state.rfm_recency, state.rfm_frequency, state.rfm_monetary = r, f, m
        state.rfm_segment = ""
    CustomerState.objects.bulk_update(
        list(states), ["rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_segment"]
    )
    from lifelong.segments.rfm import rfm_segment_expression

    states.update(rfm_segment=rfm_segment_expression())
    for state in states.order_by("pk"):
        expected = rfm_segment_of(state.rfm_recency, state.rfm_frequency, state.rfm_monetary)
        assert state.rfm_segment == expected


def test_loyal_types(frozen_time):
    # Seven one-order buyers with a modest basket fill the bottom of the frequency ranking.
    fillers = [buyer(30 + i, total=Decimal("1000")) for i in range(7)]
    limited = buyer(8, 18, 28, 38, total=Decimal("2500"), discount=Decimal("250"))
    lazy = buyer(3, 9, 15, 21, 27, total=Decimal("100"))
    profitable = buyer(1, 11, 21, 31, 41, 51, total=Decimal("3000"))
    rfm_refresh()
    assert scores(limited)[4] == LoyalType.LIMITED
    assert scores(lazy)[4] == LoyalType.LAZY
    assert scores(profitable)[4] == LoyalType.PROFITABLE
    assert {scores(c)[4] for c in fillers} == {""}
    assert CustomerState.objects.get(customer=limited).discount_share == 1.0


def test_discount_share_follows_order_changes(frozen_time):
    deal_hunter = buyer(5, 15, total=Decimal("1000"), discount=Decimal("100"))
    steady = buyer(7, 17, 27, total=Decimal("1000"))
    rfm_refresh()
    assert CustomerState.objects.get(customer=deal_hunter).discount_share == 1.0
    assert CustomerState.objects.get(customer=steady).discount_share == 0.0

    OrderFactory(customer=deal_hunter, total=Decimal("900"))  # full price this time
    customer_summaries_refresh([deal_hunter.pk])
    rfm_refresh()
    assert CustomerState.objects.get(customer=deal_hunter).discount_share == pytest.approx(2 / 3)

    first = Order.objects.filter(customer=deal_hunter).order_by("placed_at").first()
    Order.objects.filter(pk=first.pk).update(status=OrderStatus.CANCELLED)
    customer_summaries_refresh([deal_hunter.pk])
    rfm_refresh()
    assert CustomerState.objects.get(customer=deal_hunter).discount_share == 0.5
    state = CustomerState.objects.get(customer=steady)
    assert (state.discount_basis_orders, state.discount_basis_spent) == (3, Decimal("3000.00"))


def test_pareto_share_and_lorenz_curve(frozen_time):
    for _ in range(8):
        buyer(10, total=Decimal("100"))
    buyer(10, total=Decimal("1000"))
    buyer(10, total=Decimal("9000"))
    CustomerFactory()  # a lead does not dilute the buyers
    assert pareto_share() == pytest.approx(10000 / 10800)
    curve = lorenz_curve(points=11)
    assert curve[0] == (0.0, 0.0)
    assert curve[-1] == (1.0, pytest.approx(1.0))
    ys = [y for _, y in curve]
    assert ys == sorted(ys)
    assert curve[8][0] == pytest.approx(0.8)
    assert 1 - curve[8][1] == pytest.approx(10000 / 10800)


def test_pareto_of_an_empty_shop(db):
    assert pareto_share() == 0.0
    assert lorenz_curve(points=3) == [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)]
