"""The lift's counts from the database: who is a member, who is matched, what each did.

One small shop whose every figure is worked out by hand in the comments, on SQLite and
PostgreSQL alike, and a query count that does not grow with the members.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong import clock
from lifelong.community.lift_query import community_lift, lift_strata, week_start
from lifelong.community.models import Club, ClubKind, ClubMember, EntryRule, MemberStatus
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
LOST, OLD = "lost", "1-2y"


@pytest.fixture
def club():
    return Club.objects.create(
        title="Клуб знатоков", kind=ClubKind.TELEGRAM_GROUP, chat_id="-1001", entry=EntryRule.STAFF
    )


def _customer(anchor: dt.datetime, *, history=(400, 100), orders=()):
    """A customer with orders `history` days before the anchor, and `orders` (days after
    the anchor, total) after it; every order before the anchor is the same 1 000 ₽."""
    customer = CustomerFactory.create()
    for days in history:
        OrderFactory.create(customer=customer, placed_at=anchor - days * DAY, total=Decimal(1000))
    for days, total in orders:
        OrderFactory.create(customer=customer, placed_at=anchor + days * DAY, total=Decimal(total))
    return customer


def _join(club, customer, at: dt.datetime) -> None:
    ClubMember.objects.create(
        club=club, customer=customer, status=MemberStatus.JOINED, joined_at=at
    )


def _tier_changed(customer, at: dt.datetime, old: str, new: str) -> None:
    Event.objects.create(
        customer=customer,
        type="tier_changed",
        occurred_at=at,
        properties={"from": old, "to": new, "direction": "up"},
    )


def test_members_are_counted_from_joining_and_matched_on_the_key_at_their_cohorts_start(
    frozen_time, club
):
    now = clock.now()
    anchor = week_start(now - 200 * DAY)
    # Members of the anchor's week. A buys ten days after joining; B bought the day before
    # joining and nothing after: that purchase is not the club's.
    a = _customer(anchor, orders=[(12, 1000)])
    b = _customer(anchor, orders=[(2, 700)])
    _join(club, a, anchor + 2 * DAY)
    _join(club, b, anchor + 3 * DAY)
    # Non-members. C buys on day 5; D only on day 100 (after the window) and is lapsed at its
    # end (190 days of silence, past the 180-day sleeping threshold); E has been silent for
    # 300 days; F buys on day 50 and joins a month ago: a non-member for this cohort.
    _customer(anchor, orders=[(5, 500)])
    _customer(anchor, orders=[(100, 900)])
    _customer(anchor, history=(400, 300))
    f = _customer(anchor, orders=[(50, 2000)])
    _join(club, f, now - 30 * DAY)
    # Tiers at the anchor: G held gold since before it; H, a member, was gold at the anchor
    # and went down to silver later.
    g = _customer(anchor)
    _tier_changed(g, anchor - 50 * DAY, "", "gold")
    h = _customer(anchor, orders=[(20, 3000)])
    _tier_changed(h, anchor + 60 * DAY, "gold", "silver")
    _join(club, h, anchor + 4 * DAY)
    # Someone who joined before the anchor is neither side of this cohort.
    early = _customer(anchor, orders=[(1, 5000)])
    _join(club, early, anchor - 300 * DAY)

    strata, in_progress, no_history = lift_strata(now)

    # F's cohort is still inside its 90 days. The early member's own cohort is closed and
    # counted too, but everyone's first order was then only 100 days old: another tenure
    # ("3-12m"), so the strata below hold this cohort alone.
    assert in_progress == 1 and no_history == 0
    assert strata[("", LOST, "3-12m")][0].n == 1
    plain = strata[("", LOST, OLD)]
    members, controls = plain
    assert (members.n, members.repeat, members.lapsed) == (2, 1, 0)
    assert (members.spend, members.spend_sq) == (1000.0, 1000.0**2)
    assert (controls.n, controls.repeat, controls.lapsed) == (4, 2, 2)
    assert (controls.spend, controls.spend_sq) == (2500.0, 500.0**2 + 2000.0**2)
    gold_members, gold_controls = strata[("gold", LOST, OLD)]
    assert (gold_members.n, gold_members.repeat, gold_members.spend) == (1, 1, 3000.0)
    assert (gold_controls.n, gold_controls.repeat) == (1, 0)


def test_a_member_without_an_order_before_joining_is_counted_apart(frozen_time, club):
    now = clock.now()
    anchor = week_start(now - 200 * DAY)
    newcomer = _customer(anchor, history=(), orders=[(10, 900)])
    _join(club, newcomer, anchor + DAY)
    _customer(anchor)

    lift = community_lift(now)

    assert (lift.members, lift.in_progress, lift.no_history) == (0, 0, 1)


def test_cohorts_still_inside_their_window_are_in_progress_only(frozen_time, club):
    now = clock.now()
    for days in (10, 40, 80):
        customer = _customer(now - days * DAY)
        _join(club, customer, now - days * DAY)
    _customer(now)

    lift = community_lift(now)

    assert lift.in_progress == 3
    assert lift.members == 0 and lift.repeat is None


def _queries(now: dt.datetime) -> int:
    with CaptureQueriesContext(connection) as queries:
        community_lift(now)
    return len(queries)


def test_the_query_count_does_not_grow_with_members_or_cohorts(frozen_time, club):
    now = clock.now()
    start = week_start(now - 300 * DAY)
    for week in range(2):
        _join(club, _customer(start + week * 7 * DAY, orders=[(3, 800)]), start + week * 7 * DAY)
    _customer(start)
    community_lift(now)  # the lifecycle rules' row is created on first use
    few = _queries(now)
    for week in range(2, 12):
        for _ in range(3):
            moment = start + week * 7 * DAY + DAY
            _join(club, _customer(moment, orders=[(3, 800)]), moment)
    assert _queries(now) == few
