"""Merging two customers moves their messages, push subscriptions, opt-outs and journeys."""

from __future__ import annotations

import pytest

from lifelong.customers.services import customer_merge
from lifelong.factories import CustomerFactory
from lifelong.journeys.models import Enrollment, EnrollmentStatus, JourneyStatus
from lifelong.journeys.services import enrollment_start, journey_create, journey_status_set
from lifelong.messaging.models import Message, PushSubscription, Topic, TopicOptOut
from lifelong.messaging.services import message_enqueue

WAIT = {
    "trigger": {"kind": "manual"},
    "start": "pause",
    "nodes": [{"id": "pause", "type": "wait", "days": 3}],
}


@pytest.mark.django_db
def test_merge_moves_messaging_and_journeys(owner, frozen_time):
    primary, duplicate = CustomerFactory.create(), CustomerFactory.create()
    shared, offers = (
        Topic.objects.create(slug="news", name="Новости"),
        Topic.objects.create(slug="offers", name="Акции"),
    )
    for customer in (primary, duplicate):
        TopicOptOut.objects.create(customer=customer, topic=shared)
    TopicOptOut.objects.create(customer=duplicate, topic=offers)
    PushSubscription.objects.create(
        customer=duplicate, endpoint="https://push.example/1", p256dh="k", auth="a"
    )
    message, _ = message_enqueue(
        customer=duplicate, dedupe_key="m1", channel="email", purpose="transactional", text="Hi"
    )
    both, only_duplicate = (
        journey_create(name=name, slug=name, definition=WAIT) for name in ("both", "dup")
    )
    for journey in (both, only_duplicate):
        journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    enrollment_start(journey=both, customer=primary)
    clash = enrollment_start(journey=both, customer=duplicate)
    moved = enrollment_start(journey=only_duplicate, customer=duplicate)
    assert clash is not None and moved is not None

    customer_merge(primary=primary, duplicate=duplicate, actor=owner)

    assert Message.objects.get(pk=message.pk).customer_id == primary.pk
    assert PushSubscription.objects.get().customer_id == primary.pk
    assert set(TopicOptOut.objects.values_list("customer_id", "topic__slug")) == {
        (primary.pk, "news"),
        (primary.pk, "offers"),
    }
    assert Enrollment.objects.get(pk=moved.pk).customer_id == primary.pk
    clash.refresh_from_db()
    assert clash.customer_id == duplicate.pk and clash.status == EnrollmentStatus.CANCELLED
    assert Enrollment.objects.filter(customer=primary, journey=both).count() == 1
