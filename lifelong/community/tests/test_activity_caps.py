"""Community points cannot be farmed: a thousand chat messages in a minute, from one member or
from many, earn through the real earning sweep exactly what the rule's cooldown and daily cap
allow, and the ledger stays balanced."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.db.models import Count, Sum

from lifelong import clock
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.factories import CustomerFactory
from lifelong.jobs.sweeps import sweep_by_name, sweep_run
from lifelong.loyalty.models import EarningRule, Entry, RuleKind, Transaction, TxKind
from lifelong.loyalty.tests.helpers import assert_consistent, balances, programme_start
from lifelong.loyalty.verify import verify_command

pytestmark = pytest.mark.django_db


def _rule() -> EarningRule:
    # 5 points a message, at most one award per half hour and three a day.
    return EarningRule.objects.create(
        kind=RuleKind.EVENT,
        name="Активность в клубе",
        event_type="community_post",
        points=5,
        status_points=2,
        cap_count=3,
        cap_days=1,
        cooldown_minutes=30,
    )


def _flood(customers, count: int, tag: str) -> None:
    """`count` posts spread over one minute, the members taking turns."""
    now = clock.now()
    events_record(
        Event(
            customer=customers[n % len(customers)],
            type="community_post",
            occurred_at=now + dt.timedelta(milliseconds=60_000 * n // count),
            properties={"club_id": 1},
            idempotency_key=f"{tag}:{n}",
        )
        for n in range(count)
    )


def _earn() -> None:
    assert sweep_run(sweep_by_name("loyalty.earn"))


def _ledger_balanced() -> None:
    assert Entry.objects.aggregate(total=Sum("points"))["total"] == 0
    assert_consistent()
    # What `lifelong loyalty verify` runs and prints.
    out = io.StringIO()
    assert verify_command(out) == 0, out.getvalue()


def test_a_thousand_messages_in_a_minute_earn_once_then_the_cooldown_and_daily_cap_hold(
    frozen_time,
):
    programme_start()
    rule = _rule()
    anna = CustomerFactory.create()

    _flood([anna], 1000, "burst1")
    _earn()
    assert Transaction.objects.filter(rule=rule, kind=TxKind.AWARD).count() == 1
    assert balances(anna) == (5, 0, 2)
    _ledger_balanced()

    # Inside the cooldown: nothing more, however many.
    frozen_time.shift(dt.timedelta(minutes=20))
    _flood([anna], 1000, "burst2")
    _earn()
    assert balances(anna) == (5, 0, 2)

    # Two more bursts, each past the cooldown: the daily cap of three is reached...
    for n in range(2):
        frozen_time.shift(dt.timedelta(minutes=31))
        _flood([anna], 1000, f"burst{3 + n}")
        _earn()
    assert balances(anna) == (15, 0, 6)
    # ...and holds for the rest of the day.
    frozen_time.shift(dt.timedelta(hours=5))
    _flood([anna], 1000, "burst5")
    _earn()
    assert balances(anna) == (15, 0, 6)

    # A day after the first award, room again: one more.
    frozen_time.shift(dt.timedelta(hours=19))
    _flood([anna], 1000, "burst6")
    _earn()
    assert balances(anna) == (20, 0, 8)
    assert Transaction.objects.filter(rule=rule, kind=TxKind.AWARD).count() == 4
    _ledger_balanced()


def test_a_flood_from_many_members_earns_each_of_them_once(frozen_time):
    programme_start()
    rule = _rule()
    members = CustomerFactory.create_batch(40)

    # 4000 posts: two batches of the sweep, each member's posts in both.
    _flood(members, 4000, "flood")
    _earn()

    awarded = dict(
        Transaction.objects.filter(rule=rule, kind=TxKind.AWARD)
        .values_list("customer_id")
        .annotate(n=Count("pk"))
    )
    assert awarded == {m.pk: 1 for m in members}
    assert {balances(m) for m in members} == {(5, 0, 2)}
    _ledger_balanced()
