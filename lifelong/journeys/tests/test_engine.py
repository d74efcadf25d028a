"""The journey engine through services and sweeps: triggers, nodes, goals, holdout, versions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from lifelong.commerce.services import order_upsert
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.journeys.dates import journeys_enroll_by_date
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import Enrollment, EnrollmentStatus, JourneyStatus, StepRun
from lifelong.journeys.reactor import journeys_react
from lifelong.journeys.services import (
    enrollment_start,
    journey_create,
    journey_status_set,
    journey_version_save,
)
from lifelong.loyalty.models import Transaction
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.messaging.services import message_engagement_record

THANKS = {"id": "thanks", "type": "send", "template": "thanks", "next": "pause"}


def _definition(nodes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "trigger": {"kind": "order_placed"},
        "start": nodes[0]["id"] if nodes else None,
        "nodes": nodes,
        **extra,
    }


def _journey(nodes: list[dict[str, Any]], slug: str = "j", **extra: Any):
    journey = journey_create(name="Путь", slug=slug, definition=_definition(nodes, **extra))
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


@pytest.fixture
def sandbox(db):
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    Template.objects.create(
        slug="thanks", name="Спасибо", channel="email", subject="Спасибо!", body_text="Спасибо!"
    )


def _customer(**kwargs: Any) -> Customer:
    customer = CustomerFactory.create(**kwargs)
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    return customer


def _order(customer: Customer, external_id: str, total: str = "1000") -> None:
    from lifelong import clock

    order_upsert(
        external_id=external_id,
        customer=customer,
        total=Decimal(total),
        placed_at=clock.now(),
    )


def _tick() -> None:
    journeys_react()
    advance_due()
    dispatch_due()
    journeys_react()


@pytest.mark.django_db
def test_order_trigger_sends_waits_and_sends_again(sandbox, frozen_time):
    _journey(
        [
            THANKS,
            {"id": "pause", "type": "wait", "days": 3, "next": "again"},
            {"id": "again", "type": "send", "template": "thanks"},
        ]
    )
    journeys_react()  # the reactor starts at the end of the log
    customer = _customer()
    _order(customer, "A-1")
    _tick()
    enrollment = Enrollment.objects.get()
    assert enrollment.current_node == "pause" and enrollment.waiting
    assert Message.objects.filter(status="sent").count() == 1
    frozen_time.shift(dt.timedelta(days=2, hours=23))
    _tick()
    assert Message.objects.count() == 1
    frozen_time.shift(dt.timedelta(hours=1))
    _tick()
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert Message.objects.filter(status="sent").count() == 2
    assert list(StepRun.objects.order_by("id").values_list("node_id", "visit")) == [
        ("thanks", 1),
        ("pause", 1),
        ("again", 1),
    ]


@pytest.mark.django_db
def test_history_older_than_the_reactor_never_enrolls(sandbox, frozen_time):
    customer = _customer()
    _order(customer, "OLD-1")
    _journey([THANKS | {"next": None}])
    _tick()
    assert not Enrollment.objects.exists()


@pytest.mark.django_db
def test_wait_for_event_branches_on_this_journeys_opened_message(sandbox, frozen_time):
    _journey(
        [
            THANKS | {"next": "watch"},
            {
                "id": "watch",
                "type": "wait_event",
                "events": ["message_opened"],
                "timeout_hours": 72,
                "on_event": "opened",
                "on_timeout": "silent",
            },
            {"id": "opened", "type": "tag", "tag": "opened"},
            {"id": "silent", "type": "tag", "tag": "silent"},
        ]
    )
    journeys_react()
    reader, sleeper = _customer(), _customer()
    _order(reader, "R-1")
    _order(sleeper, "S-1")
    _tick()
    frozen_time.shift(dt.timedelta(hours=5))
    message_engagement_record(message=Message.objects.get(customer=reader), kind="opened")
    _tick()
    assert list(reader.tags.values_list("name", flat=True)) == ["opened"]
    assert not sleeper.tags.exists()
    frozen_time.shift(dt.timedelta(hours=68))
    _tick()
    assert list(sleeper.tags.values_list("name", flat=True)) == ["silent"]


@pytest.mark.django_db
def test_goal_ends_the_enrollment_and_holdout_gets_nothing(sandbox, frozen_time):
    _journey(
        [THANKS | {"next": "pause"}, {"id": "pause", "type": "wait", "days": 10}],
        goal={"event": "order_placed", "within_days": 30},
        holdout_percent=50,
    )
    journeys_react()
    customers = [_customer() for _ in range(30)]
    for n, customer in enumerate(customers):
        _order(customer, f"F-{n}")
    _tick()
    treated = Enrollment.objects.filter(holdout=False)
    held = Enrollment.objects.filter(holdout=True)
    assert treated.exists() and held.exists()
    assert Message.objects.filter(customer__in=[e.customer_id for e in held]).count() == 0
    assert Message.objects.count() == treated.count()

    frozen_time.shift(dt.timedelta(days=5))
    for enrollment in [treated.first(), held.first()]:
        assert enrollment is not None
        _order(Customer.objects.get(pk=enrollment.customer_id), f"G-{enrollment.pk}")
    _tick()
    converted = Enrollment.objects.filter(status=EnrollmentStatus.CONVERTED)
    assert converted.count() == 2
    assert {e.holdout for e in converted} == {True, False}
    # The order that started the journey is not its goal.
    assert Enrollment.objects.filter(goal_met_at__isnull=False).count() == 2

    frozen_time.shift(dt.timedelta(days=31))
    _tick()
    assert not Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE).exists()


@pytest.mark.django_db
def test_running_enrollments_stay_on_their_version(sandbox, frozen_time):
    journey = _journey(
        [
            {"id": "pause", "type": "wait", "days": 1, "next": "tag_v1"},
            {"id": "tag_v1", "type": "tag", "tag": "v1"},
        ]
    )
    journeys_react()
    early = _customer()
    _order(early, "E-1")
    _tick()
    journey_version_save(
        journey=journey,
        definition=_definition(
            [
                {"id": "pause", "type": "wait", "days": 1, "next": "tag_v2"},
                {"id": "tag_v2", "type": "tag", "tag": "v2"},
            ]
        ),
    )
    late = _customer()
    _order(late, "L-1")
    _tick()
    frozen_time.shift(dt.timedelta(days=1, seconds=1))
    _tick()
    assert list(early.tags.values_list("name", flat=True)) == ["v1"]
    assert list(late.tags.values_list("name", flat=True)) == ["v2"]


@pytest.mark.django_db
def test_paused_journey_holds_its_enrollments_until_resumed(sandbox, frozen_time):
    journey = _journey([{"id": "tag", "type": "tag", "tag": "done"}])
    customer = _customer()
    enrollment_start(journey=journey, customer=customer)
    journey_status_set(journey=journey, status=JourneyStatus.PAUSED)
    advance_due()
    assert not customer.tags.exists()
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    advance_due()
    assert list(customer.tags.values_list("name", flat=True)) == ["done"]


@pytest.mark.django_db
def test_archive_cancels_running_enrollments(sandbox, frozen_time):
    journey = _journey([{"id": "pause", "type": "wait", "days": 3}])
    enrollment = enrollment_start(journey=journey, customer=_customer())
    journey_status_set(journey=journey, status=JourneyStatus.ARCHIVED)
    assert enrollment is not None
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.CANCELLED


@pytest.mark.django_db
def test_reentry_once_per_order_and_after_days(sandbox, frozen_time):
    once = _journey([{"id": "t", "type": "tag", "tag": "x"}], slug="once")
    per_order = _journey(
        [{"id": "t", "type": "tag", "tag": "x"}], slug="per-order", reentry={"policy": "per_order"}
    )
    later = _journey(
        [{"id": "t", "type": "tag", "tag": "x"}],
        slug="later",
        reentry={"policy": "after_days", "days": 10},
    )
    journeys_react()
    customer = _customer()
    _order(customer, "O-1")
    _order(customer, "O-2")
    journeys_react()
    frozen_time.shift(dt.timedelta(days=11))
    _order(customer, "O-3")
    journeys_react()
    assert once.enrollments.count() == 1
    assert per_order.enrollments.count() == 3
    assert later.enrollments.count() == 2


@pytest.mark.django_db
def test_condition_and_split_route_customers(sandbox, frozen_time):
    journey = _journey(
        [
            {
                "id": "vip",
                "type": "condition",
                "rule": {"op": "and", "rules": [{"kind": "tag", "tag": "vip"}]},
                "yes": "tag_vip",
                "no": "ab",
            },
            {"id": "tag_vip", "type": "tag", "tag": "got_vip"},
            {
                "id": "ab",
                "type": "split",
                "branches": [{"weight": 1, "next": "a"}, {"weight": 1, "next": "b"}],
            },
            {"id": "a", "type": "tag", "tag": "a"},
            {"id": "b", "type": "tag", "tag": "b"},
        ]
    )
    vip = _customer()
    from lifelong.customers.services import customer_tags_add

    customer_tags_add(customer=vip, names=["vip"])
    others = [_customer() for _ in range(40)]
    for customer in [vip, *others]:
        enrollment_start(journey=journey, customer=customer)
    advance_due()
    assert set(vip.tags.values_list("name", flat=True)) == {"vip", "got_vip"}
    branch_a = sum(c.tags.filter(name="a").exists() for c in others)
    assert 8 <= branch_a <= 32  # both branches are used
    assert sum(c.tags.filter(name="b").exists() for c in others) == 40 - branch_a


@pytest.mark.django_db
def test_cart_abandoned_runs_only_without_an_order(sandbox, frozen_time):
    _journey(
        [THANKS | {"next": None}],
        trigger={"kind": "cart_abandoned", "hours": 4},
    )
    journeys_react()
    buyer, leaver = _customer(), _customer()
    for customer in (buyer, leaver):
        event_record(customer=customer, type="cart_updated", properties={"cart": ["MAT-1"]})
    _tick()
    frozen_time.shift(dt.timedelta(hours=1))
    _order(buyer, "B-1")
    frozen_time.shift(dt.timedelta(hours=3, seconds=1))
    _tick()
    assert list(Message.objects.values_list("customer_id", flat=True)) == [leaver.pk]


@pytest.mark.django_db
def test_birthday_trigger_enrolls_once_a_year(sandbox, frozen_time):
    journey = _journey([{"id": "gift", "type": "award_points", "points": 100}])
    journey_version_save(
        journey=journey,
        definition=_definition(
            [{"id": "gift", "type": "award_points", "points": 100}],
            trigger={"kind": "birthday"},
        ),
    )
    hero = _customer(birthday=dt.date(1990, 3, 2))
    _customer(birthday=dt.date(1990, 7, 1))
    assert journeys_enroll_by_date() == 1
    assert journeys_enroll_by_date() == 0
    advance_due()
    advance_due()
    assert hero.points_account.available == 100
    assert Transaction.objects.filter(customer=hero, enrollment_id__isnull=False).count() == 1


@pytest.mark.django_db
def test_a_failing_step_rolls_back_alone_and_retries(sandbox, frozen_time):
    journey = _journey(
        [THANKS | {"next": "hook"}, {"id": "hook", "type": "task", "title": "Позвонить"}]
    )
    good, bad = _customer(), _customer()
    for customer in (good, bad):
        enrollment_start(journey=journey, customer=customer)
    # A broken template makes each send step fail; nothing of the step may remain.
    Template.objects.filter(slug="thanks").update(body_text="{{ broken")
    advance_due()
    assert not StepRun.objects.exists()
    assert not Message.objects.exists()
    assert set(Enrollment.objects.values_list("exit_reason", flat=True)) == {
        "step failed; retrying"
    }
    Template.objects.filter(slug="thanks").update(body_text="Спасибо!")
    frozen_time.shift(dt.timedelta(hours=1))
    advance_due()
    assert StepRun.objects.count() == 4
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_condition_on_segment_membership(sandbox, frozen_time):
    from lifelong.segments.models import Segment, SegmentMembership

    segment = Segment.objects.create(name="Коврики", rules={"op": "and", "rules": []})
    journey = _journey(
        [
            {"id": "member", "type": "condition", "in_segment": segment.pk, "yes": "in"},
            {"id": "in", "type": "tag", "tag": "member"},
        ]
    )
    inside, outside = _customer(), _customer()
    SegmentMembership.objects.create(segment=segment, customer=inside)
    for customer in (inside, outside):
        enrollment_start(journey=journey, customer=customer)
    advance_due()
    assert list(inside.tags.values_list("name", flat=True)) == ["member"]
    assert not outside.tags.exists()
