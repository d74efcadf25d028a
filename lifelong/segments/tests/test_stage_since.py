"""A stage's "since" is when the customer's data says it began, not the day of the sweep.

A history imported at once (or the demo's) is classified in one run; each stage then dates
from the moment its rule first held: churned and sleeping from the last order plus their
silence, at risk from the last order plus k x the own gap, new from the first order,
repeat and loyal from the last order, a lead from the record's creation.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.segments.models import CustomerState, Stage
from lifelong.segments.services import stages_refresh
from lifelong.segments.tests.helpers import buyer

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def state_of(customer) -> CustomerState:
    return CustomerState.objects.get(customer=customer)


@pytest.mark.parametrize(
    ("orders", "stage", "since_days_ago"),
    [
        ((500,), Stage.CHURNED, 500 - 365),
        ((700, 200), Stage.SLEEPING, 200 - 180),
        ((150,), Stage.AT_RISK, 150 - 2 * 60),
        ((90, 60, 50), Stage.AT_RISK, 50 - 2 * 20),
        ((40,), Stage.NEW, 40),
        ((40, 12), Stage.REPEAT, 12),
        ((80, 60, 40, 20, 3), Stage.LOYAL, 3),
    ],
)
def test_a_history_classified_at_once_dates_each_stage_from_its_rule(
    frozen_time, orders, stage, since_days_ago
):
    customer = buyer(*orders)
    stages_refresh()
    state = state_of(customer)
    assert state.stage == stage
    assert state.stage_since == clock.now() - DAY * since_days_ago


def test_a_lead_is_one_since_the_record_was_created(frozen_time):
    customer = buyer()
    frozen_time.shift(DAY * 3)
    stages_refresh()
    assert state_of(customer).stage_since == customer.created_at


def test_a_later_stage_never_dates_before_the_one_it_follows(frozen_time):
    customer = buyer(10)
    stages_refresh()
    new_since = state_of(customer).stage_since
    frozen_time.shift(DAY * 400)
    stages_refresh()
    state = state_of(customer)
    assert state.stage == Stage.CHURNED
    assert new_since < state.stage_since == new_since + DAY * 365 <= clock.now()


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=6))
def test_since_is_never_in_the_future_nor_before_the_first_order(frozen_time, gaps):
    days_ago = [sum(gaps[i:]) for i in range(len(gaps))]
    customer = buyer(*days_ago)
    stages_refresh()
    state = state_of(customer)
    assert state.stage_since is not None
    first = clock.now() - DAY * max(days_ago)
    assert first <= state.stage_since <= clock.now()
