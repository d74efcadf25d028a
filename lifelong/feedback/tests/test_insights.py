"""Insights: the figures against an independent computation, their honesty rules, and query
counts that do not grow with the data."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.feedback import insights
from lifelong.feedback.models import Invite, Response, Survey, SurveyKind
from lifelong.segments.models import Segment, SegmentMembership

MONDAY = dt.date(2026, 3, 2)  # the frozen day (conftest.FROZEN_AT)
_keys = itertools.count()


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    from django.utils import timezone

    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def answers(
    survey: Survey,
    customer: Customer,
    scores: list[int],
    when: dt.datetime,
    *,
    themes: list[str] | None = None,
    comment: str = "",
) -> list[Response]:
    invites = Invite.objects.bulk_create(
        Invite(
            survey=survey,
            customer=customer,
            dedupe_key=f"t:{next(_keys)}",
            created_at=when - dt.timedelta(hours=1),
            expires_at=when + dt.timedelta(days=1),
        )
        for _score in scores
    )
    return Response.objects.bulk_create(
        Response(
            invite=invite,
            survey=survey,
            customer=customer,
            score=score,
            comment=comment,
            themes=themes or [],
            submitted_at=when,
            editable_until=when,
        )
        for invite, score in zip(invites, scores, strict=True)
    )


@pytest.fixture
def nps(db) -> Survey:
    return Survey.objects.create(name="NPS", kind=SurveyKind.NPS)


@pytest.fixture
def customer(db) -> Customer:
    return CustomerFactory.create()


def reference_nps(scores: list[int]) -> float:
    n = len(scores)
    return 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / n


def test_nps_per_week_matches_a_direct_computation(nps, customer, frozen_time):
    last_week = MONDAY - dt.timedelta(days=7)
    scores = [10] * 20 + [8] * 10 + [3] * 12
    answers(nps, customer, scores, at(last_week + dt.timedelta(days=2)))
    answers(nps, customer, [10] * 5, at(last_week - dt.timedelta(days=3)))  # below the base
    answers(nps, customer, [0] * 40, at(MONDAY))  # this week has not ended: not shown
    figures = insights.nps_by_period(period="week", count=4)
    assert [f.start for f in figures] == [MONDAY - dt.timedelta(days=7 * k) for k in (4, 3, 2, 1)]
    latest = figures[-1].estimate
    assert latest.n == 42
    assert latest.value == pytest.approx(reference_nps(scores))
    p, d = 20 / 42, 12 / 42
    half = 1.959964 * math.sqrt((p + d - (p - d) ** 2) / 42) * 100
    assert latest.low == pytest.approx(reference_nps(scores) - half)
    assert latest.high == pytest.approx(reference_nps(scores) + half)
    assert figures[-2].estimate.n == 5 and figures[-2].estimate.value is None


def test_csat_is_the_share_of_fours_and_fives_with_a_wilson_interval(customer, frozen_time):
    csat = Survey.objects.create(name="CSAT", kind=SurveyKind.CSAT)
    answers(csat, customer, [5] * 30 + [4] * 10 + [2] * 10, at(MONDAY - dt.timedelta(days=20)))
    figures = insights.csat_by_period(period="month", count=2)
    assert [f.start for f in figures] == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    estimate = figures[-1].estimate
    assert estimate.n == 50 and estimate.value == pytest.approx(80.0)
    # Wilson's interval for 40 of 50, from SciPy.
    wilson = binomtest(40, 50).proportion_ci(confidence_level=0.95, method="wilson")
    assert estimate.low == pytest.approx(100 * wilson.low, abs=1e-4)
    assert estimate.high == pytest.approx(100 * wilson.high, abs=1e-4)


def test_a_response_rate_waits_until_every_invite_has_run_out(nps, customer, frozen_time):
    week = MONDAY - dt.timedelta(days=7)
    answered = answers(nps, customer, [9] * 12, at(week))
    Invite.objects.bulk_create(
        Invite(
            survey=nps,
            customer=customer,
            dedupe_key=f"open:{i}",
            created_at=at(week),
            expires_at=at(week) + dt.timedelta(days=14),
        )
        for i in range(28)
    )
    rate = insights.response_rates(period="week", count=1)[-1]
    assert (rate.invites, rate.responses, rate.complete, rate.rate) == (40, 12, False, None)
    frozen_time.shift(dt.timedelta(days=8))
    rate = insights.response_rates(period="week", count=2)[0]
    assert rate.start == week and rate.complete and rate.rate == pytest.approx(30.0)
    assert len(answered) == 12


def test_theme_trends_count_responses_and_inbox_items_once(nps, customer, frozen_time):
    from lifelong.feedback.models import Conversation, Item

    this_week, last_week = MONDAY - dt.timedelta(days=7), MONDAY - dt.timedelta(days=14)
    answers(nps, customer, [3] * 4, at(this_week), themes=["delivery", "price"])
    answers(nps, customer, [3] * 1, at(last_week), themes=["delivery"])
    answers(nps, customer, [3] * 6, at(last_week), themes=["support"])
    conversation = Conversation.objects.create(customer=customer)
    Item.objects.create(
        conversation=conversation,
        source="message",
        source_key="m1",
        themes=["delivery"],
        received_at=at(this_week),
    )
    Item.objects.create(  # a survey response is already counted above
        conversation=conversation,
        source="survey",
        source_key="s1",
        themes=["delivery"],
        received_at=at(this_week),
    )
    trends = {t.slug: (t.current, t.previous) for t in insights.theme_trends(start=this_week)}
    assert trends == {"delivery": (5, 1), "price": (4, 0), "support": (0, 6)}


def test_nps_per_segment_tier_and_journey(nps, frozen_time):
    inside, outside = CustomerFactory.create(), CustomerFactory.create()
    segment = Segment.objects.create(name="VIP", rules={})
    SegmentMembership.objects.create(segment=segment, customer=inside)
    answers(nps, inside, [10] * 30 + [0] * 10, at(MONDAY - dt.timedelta(days=3)))
    answers(nps, outside, [0] * 30, at(MONDAY - dt.timedelta(days=3)))
    everyone = Segment.objects.create(name="Все", rules={})
    SegmentMembership.objects.create(segment=everyone, customer=inside)
    SegmentMembership.objects.create(segment=everyone, customer=outside)
    by_segment = insights.nps_by_segment()
    # A customer in two segments counts once in each.
    assert [(g.key, g.estimate.n, g.estimate.value) for g in by_segment] == [
        (everyone.pk, 70, pytest.approx(100 * (30 - 40) / 70)),
        (segment.pk, 40, 50.0),
    ]
    by_journey = insights.nps_by_journey()
    assert [(g.key, g.estimate.n) for g in by_journey] == [(None, 70)]
    by_tier = insights.nps_by_tier()
    assert [(g.key, g.estimate.n) for g in by_tier] == [(None, 70)]


def test_the_weekly_digest_has_the_top_three_themes_with_short_quotes(nps, customer, frozen_time):
    week = MONDAY - dt.timedelta(days=7)
    for slug, count in (("delivery", 6), ("price", 4), ("support", 3), ("website", 2)):
        for part, scores in (("раз", [4] * (count // 2)), ("два", [4] * (count - count // 2))):
            answers(
                nps,
                customer,
                scores,
                at(week),
                themes=[slug],
                comment=f"Про {slug}, {part}: " + "очень долго ждали " * 20,
            )
    answers(nps, customer, [4] * 5, at(week - dt.timedelta(days=7)), themes=["price"])
    digest = insights.weekly_digest()
    assert digest.start == week
    assert [(t.slug, t.current, t.change) for t in digest.themes] == [
        ("delivery", 6, 6),
        ("price", 4, -1),
        ("support", 3, 3),
    ]
    assert all(len(t.quotes) == 2 for t in digest.themes)  # the same comment is quoted once
    assert len(set(digest.themes[0].quotes)) == 2
    assert all(len(q) <= insights.QUOTE_CHARS and q.endswith("…") for q in digest.themes[0].quotes)
    assert [t.slug for t in digest.risen] == ["website"]


def test_query_counts_do_not_grow_with_the_data(nps, customer, frozen_time):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            insights.nps_by_period(count=12)
            insights.csat_by_period(period="month", count=12)
            insights.response_rates(count=12)
            insights.nps_by_segment()
            insights.nps_by_tier()
            insights.nps_by_journey()
            insights.weekly_digest()
        return len(queries)

    answers(nps, customer, [9, 3], at(MONDAY - dt.timedelta(days=3)), themes=["delivery"])
    small = count_queries()
    for week in range(1, 10):
        answers(
            nps,
            CustomerFactory.create(),
            [9, 3, 7] * 15,
            at(MONDAY - dt.timedelta(days=7 * week)),
            themes=["delivery", "price"],
            comment="Курьер опоздал на два часа",
        )
    assert count_queries() == small == 9


@settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    promoters=st.integers(0, 300),
    passives=st.integers(0, 300),
    detractors=st.integers(0, 300),
)
def test_nps_stays_in_range_and_inside_its_interval(promoters, passives, detractors):
    n = promoters + passives + detractors
    estimate = insights.nps_estimate(n=n, promoters=promoters, detractors=detractors)
    if n < insights.MIN_BASE:
        assert estimate.value is None and estimate.low is None
        return
    assert estimate.value is not None and estimate.low is not None and estimate.high is not None
    assert -100 <= estimate.low <= estimate.value <= estimate.high <= 100
    assert estimate.value == pytest.approx(100 * (promoters - detractors) / n)


@given(n=st.integers(0, 2000), data=st.data())
def test_a_wilson_interval_holds_its_share(n, data):
    hits = data.draw(st.integers(0, n))
    estimate = insights.wilson_estimate(n=n, hits=hits)
    if n < insights.MIN_BASE:
        assert estimate.value is None
        return
    assert estimate.low is not None and estimate.high is not None and estimate.value is not None
    assert 0 <= estimate.low <= estimate.value <= estimate.high <= 100


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(0, 60), min_size=1, max_size=40))
def test_only_ended_weeks_are_shown(nps, customer, frozen_time, offsets):
    Response.objects.all().delete()
    for days in offsets:
        answers(nps, customer, [9], clock.now() - dt.timedelta(days=days))
    figures = insights.nps_by_period(period="week", count=10)
    assert all(f.start + dt.timedelta(days=7) <= MONDAY for f in figures)
    counted = sum(f.estimate.n for f in figures)
    first = figures[0].start
    expected = sum(
        1
        for days in offsets
        if at(first, 0) <= clock.now() - dt.timedelta(days=days) < at(MONDAY, 0)
    )
    assert counted == expected
