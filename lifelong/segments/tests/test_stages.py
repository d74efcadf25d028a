"""Lifecycle stages: the rules, transitions history, events and set-based cost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong.customers.services import customer_merge
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.segments.models import CustomerState, LifecycleRules, Stage, StageChange
from lifelong.segments.services import stages_refresh
from lifelong.segments.tests.helpers import buyer

pytestmark = pytest.mark.django_db


def stage_of(customer) -> str:
    return CustomerState.objects.get(customer=customer).stage


@pytest.mark.parametrize(
    ("days_ago", "expected"),
    [
        ((), Stage.LEAD),
        ((10,), Stage.NEW),
        ((119,), Stage.NEW),  # one-order customers: at risk after k x default gap = 120 days
        ((130,), Stage.AT_RISK),
        ((200,), Stage.SLEEPING),
        ((400,), Stage.CHURNED),
        ((40, 10), Stage.REPEAT),
        ((30, 20), Stage.REPEAT),  # own gap 10, silence 20 = 2 x gap: not yet
        ((30, 21), Stage.AT_RISK),  # own gap 9, silence 21 > 18
        ((10, 10), Stage.REPEAT),  # gap 0 counts as the 7-day minimum: at risk after 14
        ((15, 15), Stage.AT_RISK),
        ((45, 35, 25, 15, 5), Stage.LOYAL),
        ((65, 55, 45, 35, 25), Stage.AT_RISK),  # loyal by count, but silent 2.5 x own gap
        ((340, 280, 220, 160, 100), Stage.REPEAT),  # gap 60: not at risk, too old for loyal
    ],
)
def test_stage_rules(frozen_time, days_ago, expected):
    customer = buyer(*days_ago)
    stages_refresh()
    assert stage_of(customer) == expected


def test_rules_come_from_the_settings_row(frozen_time):
    customer = buyer(25, 15, 5)
    LifecycleRules.objects.update_or_create(pk=1, defaults={"loyal_min_orders": 3})
    stages_refresh()
    assert stage_of(customer) == Stage.LOYAL


def test_transitions_are_recorded_once_and_first_classification_is_silent(frozen_time):
    customer = buyer(10)
    assert stages_refresh() == 1
    first = StageChange.objects.get(customer=customer)
    assert (first.from_stage, first.to_stage) == ("", Stage.NEW)
    assert not Event.objects.filter(type="stage_changed").exists()

    assert stages_refresh() == 0  # nothing moved, nothing written

    frozen_time.shift(dt.timedelta(days=115))
    assert stages_refresh() == 1
    state = CustomerState.objects.get(customer=customer)
    assert state.stage == Stage.AT_RISK
    # At risk since the day the silence passed 2 x 60 days, not the day the sweep noticed.
    assert state.stage_since == first.at - dt.timedelta(days=10) + dt.timedelta(days=120)
    event = Event.objects.get(type="stage_changed")
    assert event.customer_id == customer.pk
    assert event.properties == {"from": "new", "to": "at_risk"}
    assert list(
        StageChange.objects.filter(customer=customer)
        .order_by("at")
        .values_list("from_stage", "to_stage")
    ) == [("", "new"), ("new", "at_risk")]


def test_merged_customers_lose_their_state(frozen_time, owner):
    primary, duplicate = buyer(10), buyer(20)
    stages_refresh()
    customer_merge(primary=primary, duplicate=duplicate, actor=owner)
    stages_refresh()
    assert not CustomerState.objects.filter(customer=duplicate).exists()
    assert stage_of(primary) == Stage.REPEAT


@pytest.mark.parametrize("customers", [10, 100])
def test_refresh_query_count_does_not_grow(frozen_time, django_assert_max_num_queries, customers):
    # At most 7 stages, so at most 7 UPDATEs per chunk: the bound holds for any size.
    for i in range(customers):
        buyer(*[i % 400 + 1] * (i % 3), total=Decimal(100 + i)) if i % 3 else CustomerFactory()
    with django_assert_max_num_queries(20):
        stages_refresh()
    frozen_time.shift(dt.timedelta(days=90))
    with django_assert_max_num_queries(20):
        stages_refresh()
