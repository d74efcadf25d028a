"""Dashboard figures that mean what their names say.

The repeat purchase rate is the usual one (two or more orders in the period); the old
figure is named "returning customers" and both carry their definition. Shares over fewer
than MIN_BASE customers are "—", and so is their change.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.analytics.metrics import MIN_BASE, kpis_compute
from lifelong.analytics.rollups import analytics_rollup
from lifelong.commerce.models import OrderStatus
from lifelong.commerce.services import customer_summaries_refresh, refund_record
from lifelong.conftest import client_for
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.web.templatetags.web import money

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
URL = reverse("web:dashboard")


def buy(customer: Customer, days_ago: float) -> None:
    OrderFactory(customer=customer, placed_at=clock.now() - DAY * days_ago, total=Decimal(500))


def tiles(response) -> dict[str, object]:
    return {kpi.key: kpi for kpi in response.context["kpis"]}


@pytest.fixture
def analyst(db):
    return client_for(UserFactory.create(username="analyst", role=Role.ANALYST))


def test_repeat_purchase_rate_counts_two_orders_in_the_period_and_returning_is_named(
    analyst, frozen_time
):
    # 40 buyers this month: 10 came back after an order two months ago (returning, one
    # order in the period) and 4 ordered twice this month (both figures count them).
    for n in range(40):
        customer = CustomerFactory()
        buy(customer, 3 + n % 20)
        if n < 10:
            buy(customer, 70)
        elif n < 14:
            buy(customer, 1)
    customer_summaries_refresh(Customer.objects.values_list("pk", flat=True))
    analytics_rollup()
    response = analyst.get(URL, {"period": 30})
    kpis = tiles(response)
    assert kpis["repeat_rate"].value == "10,0 %"  # 4 of 40
    assert kpis["returning"].value == "35,0 %"  # 14 of 40
    assert kpis["repeat_rate"].label == "Доля повторных покупок"
    assert kpis["returning"].label == "Вернувшиеся покупатели"
    body = response.content.decode()
    # Each tile names its definition on hover and in the list under the tiles.
    for kpi in kpis.values():
        assert kpi.definition
        assert f'title="{kpi.definition}"' in body
        assert f"<dd>{kpi.definition}</dd>" in body
    assert "двумя или более заказами" in kpis["repeat_rate"].definition


def test_a_previous_period_with_one_buyer_shows_no_retention_churn_or_change(
    analyst, frozen_time, django_assert_max_num_queries
):
    # A month ago a single buyer; this month 40, the old one among them.
    old = CustomerFactory()
    buy(old, 45)
    buy(old, 5)
    for n in range(39):
        buy(CustomerFactory(), 1 + n % 25)
    customer_summaries_refresh(Customer.objects.values_list("pk", flat=True))
    analytics_rollup()
    with django_assert_max_num_queries(11):
        response = analyst.get(URL, {"period": 30})
    kpis = tiles(response)
    for key in ("retention", "churn"):
        assert (kpis[key].value, kpis[key].change, kpis[key].trend) == ("—", "—", "")
        assert str(MIN_BASE) in kpis[key].too_few
    # The shares of this month's 40 buyers stand; their change against one buyer does not.
    assert kpis["returning"].value == "2,5 %"
    assert kpis["returning"].change == "—"
    assert kpis["repeat_revenue_share"].change == "—"
    assert kpis["active_customers"].value == "40"
    body = response.content.decode()
    assert not re.search(r"kpi-change good[^>]*>[^<]*п\. п\.", body)
    assert "Не показываем, пока покупателей меньше 30" in body


@given(
    windows=st.lists(
        st.integers(min_value=0, max_value=200).flatmap(
            lambda active: st.fixed_dictionaries(
                {
                    "active": st.just(active),
                    "repeat": st.integers(0, active),
                    "multi": st.integers(0, active),
                    "retained": st.integers(0, active),
                    "orders": st.integers(active, active * 3),
                    "revenue": st.just("1000.00"),
                    "repeat_revenue": st.just("100.00"),
                }
            )
        ),
        min_size=3,
        max_size=3,
    )
)
def test_no_share_of_customers_is_shown_over_fewer_than_the_minimum_base(windows):
    # Retained customers bought in both windows: no more than either window's buyers.
    for window, earlier in itertools.pairwise(windows):
        window["retained"] = min(window["retained"], earlier["active"])
    kpis = {k.key: k for k in kpis_compute({"windows": windows})}
    cur, prev, before = windows
    for key in ("repeat_rate", "returning", "repeat_revenue_share"):
        assert (kpis[key].value is None) == (cur["active"] < MIN_BASE)
        assert (kpis[key].previous is None) == (prev["active"] < MIN_BASE)
    assert (kpis["retention"].value is None) == (prev["active"] < MIN_BASE)
    assert (kpis["retention"].previous is None) == (before["active"] < MIN_BASE)
    for kpi in kpis.values():
        if kpi.value is None or kpi.previous is None:
            assert kpi.change is None and kpi.improved is None
        if kpi.kind == "rate" and kpi.value is not None:
            assert 0.0 <= kpi.value <= 1.0
    if kpis["retention"].value is not None:
        assert kpis["retention"].value + kpis["churn"].value == pytest.approx(1.0)


def test_returns_and_refusals_per_period_with_the_current_one_flagged(
    analyst, frozen_time, django_assert_max_num_queries
):
    # This month: 40 orders; 4 cancelled, 3 with goods back, 1 refunded in full, 2 partly
    # refunded in money only. The month before: 30 orders, 3 cancelled, 1 with goods back.
    def orders(count: int, first_day: int) -> list:
        return [
            OrderFactory(
                customer=CustomerFactory(),
                placed_at=clock.now() - DAY * (first_day + n % 25),
                total=Decimal(1000),
            )
            for n in range(count)
        ]

    now_orders, old_orders = orders(40, 1), orders(30, 32)
    for order in now_orders[:4] + old_orders[:3]:
        order.status = OrderStatus.CANCELLED
        order.save(update_fields=["status"])
    refunds = [
        *((o, Decimal(400), True) for o in now_orders[4:7]),
        (now_orders[7], Decimal(1000), False),
        *((o, Decimal(100), False) for o in now_orders[8:10]),
        (old_orders[3], Decimal(1000), True),
    ]
    for n, (order, amount, goods_back) in enumerate(refunds):
        refund_record(external_id=f"r{n}", order=order, amount=amount, is_return=goods_back)
    customer_summaries_refresh(Customer.objects.values_list("pk", flat=True))
    analytics_rollup()
    with django_assert_max_num_queries(11):
        response = analyst.get(URL, {"period": 30})
    current, previous = response.context["returns"]
    assert current["partial"] and not previous["partial"]
    assert (current["orders"], current["cancelled"], current["returned"]) == ("40", "4", "4")
    assert current["cancelled_rate"] == "10,0 %"
    assert current["returned_rate"] == "11,1 %"  # 4 of the 36 not cancelled
    assert current["refunded"] == money(Decimal(3 * 400 + 1000 + 2 * 100))
    assert (previous["orders"], previous["cancelled"], previous["returned"]) == ("30", "3", "1")
    # 27 orders not cancelled: below the minimum base, no share of them.
    assert previous["cancelled_rate"] == "10,0 %" and previous["returned_rate"] == "—"
    body = response.content.decode()
    assert "Возвраты и отказы" in body and 'class="partial"' in body and "ещё не всё" in body
