"""Community events reach the rest of the product: updates posted to the bot's webhook as
Telegram sends them become community_joined and community_post, and the real sweeps put the
member into a segment whose rule reads community_post and start a journey triggered by
community_joined. Nothing is called directly but the webhook and the sweeps."""

from __future__ import annotations

import pytest

from lifelong.community.tests.clubs_setup import deliver, joined, posted
from lifelong.factories import CustomerFactory
from lifelong.jobs.sweeps import sweep_by_name, sweep_run
from lifelong.journeys.models import Enrollment, JourneyStatus
from lifelong.journeys.services import journey_create, journey_status_set
from lifelong.segments.models import SegmentMembership
from lifelong.segments.services import segment_create

ANNA, BORIS = 289374625, 289374626


def _sweep(*names: str) -> None:
    for name in names:
        assert sweep_run(sweep_by_name(name)), name


@pytest.fixture
def flow(bot, club):
    segment = segment_create(
        name="Пишут в клубе",
        rules={
            "op": "and",
            "rules": [{"kind": "event", "type": "community_post", "within_days": 7}],
        },
    )
    journey = journey_create(
        name="Добро пожаловать в клуб",
        slug="club-welcome",
        definition={
            "trigger": {"kind": "event", "event_type": "community_joined"},
            "start": "tag",
            "nodes": [{"id": "tag", "type": "tag", "tag": "в клубе"}],
        },
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    _sweep("journeys.react")  # the reactor starts reading at the end of the log
    return segment, journey


def test_a_join_starts_a_journey_and_a_message_puts_the_member_in_a_segment(
    frozen_time, flow, client
):
    segment, journey = flow
    anna = CustomerFactory.create(telegram_chat_id=str(ANNA))
    boris = CustomerFactory.create(telegram_chat_id=str(BORIS))
    # Boris joins but never writes; Anna joins and writes.
    updates = [
        joined(9601, ANNA, link=None),
        joined(9602, BORIS, link=None),
        posted(9603, ANNA, message_id=30),
    ]
    for update in updates:
        assert deliver(client, update) == 200

    _sweep("segments.refresh_all", "journeys.react", "journeys.advance_due")

    members = set(
        SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True)
    )
    assert members == {anna.pk}
    enrolled = Enrollment.objects.filter(journey=journey)
    assert sorted(enrolled.values_list("customer_id", flat=True)) == sorted([anna.pk, boris.pk])
    assert set(anna.tags.values_list("name", flat=True)) == {"в клубе"}
    assert set(boris.tags.values_list("name", flat=True)) == {"в клубе"}

    # Telegram delivers the same updates again: no second event, enrollment or membership.
    for update in updates:
        assert deliver(client, update) == 200
    _sweep("segments.refresh_all", "journeys.react", "journeys.advance_due")
    assert enrolled.count() == 2
    assert SegmentMembership.objects.filter(segment=segment).count() == 1
