"""Each goal figure against its definition (lifelong.team.metrics), at a frozen time, and the
progress rule's bounds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.feedback.inbox import review_record
from lifelong.feedback.models import Survey, SurveyKind
from lifelong.feedback.tests.test_insights import answers
from lifelong.followups.models import Task, TaskStatus
from lifelong.team import metrics
from lifelong.team.metrics import Window, figures, progress, reached
from lifelong.team.models import Metric
from lifelong.team.periods import period_bounds, periods_back
from lifelong.team.tests.conftest import MARCH, at, first_reply, said, task

pytestmark = pytest.mark.django_db


def march() -> Window:
    return Window(start=MARCH[0], end=MARCH[1], now=clock.now())


def one(metric: str, user) -> metrics.Figure:
    return figures(metric, march(), {user.pk: [user.pk]})[user.pk]


def test_tasks_on_time_count_only_tasks_due_so_far(olga, frozen_time):
    day = dt.date(2026, 3, 1)
    task(olga, due=at(day, 10), done=at(day, 9))  # on time
    task(olga, due=at(day, 10), done=at(day, 11))  # late
    task(olga, due=at(day, 8))  # open past its due time: counts against
    task(olga, due=at(dt.date(2026, 3, 5)))  # not due yet: not counted
    task(olga, due=at(day, 9), status=TaskStatus.CANCELLED)
    task(olga, due=at(dt.date(2026, 2, 27)), done=at(dt.date(2026, 2, 26)))  # February
    count = one(Metric.TASKS_ON_TIME, olga)
    share = one(Metric.TASKS_ON_TIME_SHARE, olga)
    assert (count.value, count.parts.n, count.parts.hits) == (1.0, 3, 1)
    assert share.value == pytest.approx(100 / 3)
    assert not share.complete


def test_first_response_is_the_median_of_first_replies_credited_to_their_author(
    olga, ivan, frozen_time
):
    day = dt.date(2026, 3, 1)
    for hours in (1, 3, 8):
        first_reply(olga, opened=at(day, 8), replied=at(day, 8 + hours))
    later = first_reply(ivan, opened=at(day, 8), replied=at(day, 9))
    # A second reply in the same conversation is not a first response.
    first_reply(olga, opened=at(day, 8), replied=at(day, 20)).__class__.objects.create(
        conversation=later.conversation,
        author=olga,
        signer="Ольга",
        text="Ещё",
        channel="telegram",
        dedupe_key="again",
        created_at=at(day, 21),
    )
    # Opened in February, first answered in March: counted in March.
    first_reply(ivan, opened=at(dt.date(2026, 2, 27)), replied=at(day, 9))
    assert one(Metric.FIRST_RESPONSE, olga).value == 5.5  # (1, 3, 8, 12) -> 5.5
    assert one(Metric.FIRST_RESPONSE, ivan).parts.samples == (1.0, 45.0)


def test_next_step_is_the_share_of_managed_customers_with_a_task_open_now(olga, frozen_time):
    stepped, finished, idle = (CustomerFactory.create(personal_manager=olga) for _ in range(3))
    CustomerFactory.create()  # someone else's customer
    now = clock.now()
    task(olga, customer=stepped, due=now + dt.timedelta(days=2), created=now - dt.timedelta(1))
    task(olga, customer=finished, due=now, done=now - dt.timedelta(hours=1))
    figure = one(Metric.NEXT_STEP, olga)
    assert (figure.parts.n, figure.parts.hits) == (3, 1)
    assert idle.tasks.count() == 0


def test_retention_counts_customers_active_before_the_period_who_bought_again(olga, frozen_time):
    again, gone, new, lapsed = (CustomerFactory.create(personal_manager=olga) for _ in range(4))
    OrderFactory.create(customer=again, placed_at=at(dt.date(2025, 6, 1)))
    OrderFactory.create(customer=again, placed_at=at(dt.date(2026, 3, 1)))
    OrderFactory.create(customer=gone, placed_at=at(dt.date(2025, 5, 1)))
    OrderFactory.create(customer=gone, placed_at=at(dt.date(2026, 3, 1)), status="cancelled")
    OrderFactory.create(customer=new, placed_at=at(dt.date(2026, 3, 1)))
    OrderFactory.create(customer=lapsed, placed_at=at(dt.date(2024, 12, 1)))
    figure = one(Metric.RETENTION, olga)
    assert (figure.parts.n, figure.parts.hits, figure.value) == (2, 1, 50.0)
    assert not figure.complete  # March runs: the share can still rise


def test_nps_of_managed_customers_needs_enough_answers(olga, frozen_time):
    survey = Survey.objects.create(name="NPS", kind=SurveyKind.NPS)
    customer = CustomerFactory.create(personal_manager=olga)
    answers(survey, CustomerFactory.create(), [0] * 20, at(dt.date(2026, 3, 1)))  # not hers
    answers(survey, customer, [10, 10, 9, 8, 3], at(dt.date(2026, 3, 1)))
    assert one(Metric.NPS, olga).value is None  # 5 answers: too few
    answers(survey, customer, [10, 7, 7, 7, 6], at(dt.date(2026, 3, 1)))
    figure = one(Metric.NPS, olga)
    assert (figure.parts.n, figure.parts.hits, figure.parts.misses) == (10, 4, 2)
    assert figure.value == 20.0


def test_reviews_collected_from_managed_customers(olga, frozen_time):
    mine = CustomerFactory.create(personal_manager=olga)
    for n, customer in enumerate([mine, mine, CustomerFactory.create()]):
        review_record(
            source="yandex_maps",
            external_id=f"y-{n}",
            customer=customer,
            text="Хороший магазин",
            rating=5,
            published_at=at(dt.date(2026, 3, 1)),
        )
    assert one(Metric.REVIEWS, olga).value == 2.0


def test_praise_counts_positive_items_naming_the_member(olga, ivan, frozen_time):
    day = dt.date(2026, 3, 1)
    said("Спасибо Ольге, всё быстро объяснила!", when=at(day))
    said("Ольга нагрубила по телефону, ужасно", when=at(day))
    said("Огромное спасибо Ольге и Ивану, очень помогли", when=at(day))
    said("Спасибо Ольге за подарок!", when=at(dt.date(2026, 2, 20)))
    assert one(Metric.PRAISE, olga).value == 2.0
    assert one(Metric.PRAISE, ivan).value == 1.0


def test_a_team_pools_its_members_parts(olga, ivan, frozen_time):
    day = dt.date(2026, 3, 1)
    task(olga, due=at(day, 10), done=at(day, 9))
    task(ivan, due=at(day, 10))
    first_reply(olga, opened=at(day, 8), replied=at(day, 9))
    first_reply(ivan, opened=at(day, 8), replied=at(day, 11))
    first_reply(ivan, opened=at(day, 8), replied=at(day, 12))
    groups = {"team": [olga.pk, ivan.pk], "olga": [olga.pk]}
    share = figures(Metric.TASKS_ON_TIME_SHARE, march(), groups)
    assert share["team"].value == 50.0 and share["olga"].value == 100.0
    assert figures(Metric.FIRST_RESPONSE, march(), groups)["team"].value == 3.0


@pytest.mark.parametrize("metric", Metric.values)
def test_one_query_per_figure_whatever_the_number_of_staff(metric, frozen_time):
    few = [UserFactory.create().pk for _ in range(2)]
    many = few + [UserFactory.create().pk for _ in range(20)]
    for users in (few, many):
        with CaptureQueriesContext(connection) as queries:
            figures(metric, march(), {user: [user] for user in users} | {"all": users})
        assert len(queries) == 1


def test_periods():
    assert period_bounds("month", dt.date(2026, 2, 14)) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 28),
    )
    assert period_bounds("quarter", dt.date(2026, 11, 2)) == (
        dt.date(2026, 10, 1),
        dt.date(2026, 12, 31),
    )
    assert periods_back("month", today=dt.date(2026, 1, 10), count=3)[0] == (
        dt.date(2025, 11, 1),
        dt.date(2025, 11, 30),
    )


values = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))


@given(metric=st.sampled_from(Metric.values), value=values, target=st.floats(-100, 1e6))
def test_progress_stays_between_zero_and_one_and_is_one_exactly_when_reached(metric, value, target):
    share = progress(metric, value, target)
    assert 0.0 <= share <= 1.0
    assert (share == 1.0) == reached(metric, value, target)


task_plan = st.lists(
    st.tuples(
        st.booleans(),  # whose: Ольга or Иван
        st.integers(-40 * 24, 20 * 24),  # due, hours from the frozen now
        st.one_of(st.none(), st.integers(-72, 72)),  # done, hours from the due time
    ),
    max_size=12,
)


@hsettings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=task_plan)
def test_tasks_on_time_match_a_direct_count_and_a_team_is_its_members_sum(
    olga, ivan, frozen_time, plan
):
    Task.objects.all().delete()
    now = clock.now()
    window = march()
    expected = {olga.pk: [0, 0], ivan.pk: [0, 0]}
    for hers, due_hours, done_hours in plan:
        user = olga if hers else ivan
        due = now + dt.timedelta(hours=due_hours)
        done = due + dt.timedelta(hours=done_hours) if done_hours is not None else None
        if done is not None and done > now:
            done = None  # nothing is done in the future
        task(user, due=due, done=done)
        if window.since <= due < now:
            expected[user.pk][0] += 1
            expected[user.pk][1] += int(done is not None and done <= due)
    groups = {olga.pk: [olga.pk], ivan.pk: [ivan.pk], "team": [olga.pk, ivan.pk]}
    found = figures(Metric.TASKS_ON_TIME_SHARE, window, groups)
    for user, (n, hits) in expected.items():
        assert (found[user].parts.n, found[user].parts.hits) == (n, hits)
        assert found[user].value == (100 * hits / n if n else None)
    team = found["team"].parts
    assert (team.n, team.hits) == tuple(map(sum, zip(*expected.values(), strict=True)))
    assert team.hits <= team.n
