"""Model scores are money the product computes: a forecast larger than its column holds is
kept as the largest amount there, instead of failing the CLV sweep for every customer
(PostgreSQL) or storing a value no page can read back (SQLite)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from lifelong import clock
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.segments.models import CustomerState
from lifelong.segments.scoring import clv_scores_refresh
from lifelong.segments.tests.test_scoring import shop

pytestmark = pytest.mark.django_db

LARGEST = Decimal("999999999999.99")


def test_a_forecast_beyond_the_column_is_kept_as_the_largest_amount(frozen_time):
    shop(np.random.default_rng(3), customers=15)
    # Twelve large orders in three weeks: spend within its column, a forecast far beyond.
    whale = CustomerFactory.create()
    for n in range(12):
        OrderFactory(
            customer=whale,
            placed_at=clock.now() - dt.timedelta(days=3 + 2 * n),
            total=Decimal("80000000000.00"),
        )
    customer_summaries_refresh([whale.pk])
    assert Customer.objects.get(pk=whale.pk).total_spent == Decimal("960000000000.00")

    fit = clv_scores_refresh()

    assert fit is not None and not fit.problem
    state = CustomerState.objects.get(customer=whale)
    assert (state.predicted_clv, state.loyalty_value) == (LARGEST, LARGEST)
    others = CustomerState.objects.exclude(customer=whale).filter(predicted_clv__isnull=False)
    assert others.count() == 15
    assert all(Decimal(0) <= s.predicted_clv < LARGEST for s in others)
