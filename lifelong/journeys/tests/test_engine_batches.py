"""The set-based engine's batches: one failing enrollment is set apart while the rest move on,
and two workers at once never run one enrollment's step twice."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections

from lifelong import clock
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import Enrollment, JourneyStatus, StepRun
from lifelong.journeys.services import enrollment_start, journey_create, journey_status_set
from lifelong.messaging.models import ChannelConfig, Message, Template

CHAIN = [
    {"id": "hello", "type": "tag", "tag": "welcome", "next": "mail"},
    {"id": "mail", "type": "send", "template": "share", "next": "offer"},
    {"id": "offer", "type": "attribute", "key": "offer", "value": "pickup", "next": "pause"},
    {"id": "pause", "type": "wait", "days": 1},
]


def _journey(nodes: list[dict[str, Any]]):
    journey = journey_create(
        name="Знакомство",
        slug="welcome",
        definition={"trigger": {"kind": "manual"}, "start": nodes[0]["id"], "nodes": nodes},
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def _customer(share: int) -> Customer:
    customer = CustomerFactory.create(attributes={"share": share})
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    return customer


@pytest.fixture
def mail(db):
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    # Dividing by the customer's attribute fails for the customer whose attribute is 0.
    Template.objects.create(
        slug="share",
        name="Доля",
        channel="email",
        subject="Ваша доля",
        body_text="Каждому по {{ 12 // customer.attributes.share }} баллов.",
    )


@pytest.mark.django_db
def test_a_failing_template_and_a_colliding_step_hold_back_no_one_else(mail, frozen_time):
    journey = _journey(CHAIN)
    customers = [_customer(share=1) for _ in range(6)]
    broken, collided = customers[1], customers[4]
    Customer.objects.filter(pk=broken.pk).update(attributes={"share": 0})
    enrollments = {c.pk: enrollment_start(journey=journey, customer=c) for c in customers}
    # A step record already there for the first step's first visit (a step that collides).
    StepRun.objects.create(enrollment=enrollments[collided.pk], node_id="hello", visit=1)

    advance_due()

    others = [c for c in customers if c not in (broken, collided)]
    steps = Counter(StepRun.objects.values_list("enrollment__customer_id", flat=True))
    for customer in others:
        enrollment = Enrollment.objects.get(pk=enrollments[customer.pk].pk)
        assert (enrollment.current_node, enrollment.waiting) == ("pause", True)
        assert steps[customer.pk] == 4
        assert Customer.objects.get(pk=customer.pk).attributes["offer"] == "pickup"
    assert set(Message.objects.values_list("customer_id", flat=True)) == {c.pk for c in others}
    # The broken one keeps the step it finished (tagged, recorded) and retries the mail.
    stuck = Enrollment.objects.get(pk=enrollments[broken.pk].pk)
    assert (stuck.current_node, stuck.exit_reason) == ("mail", "step failed; retrying")
    assert stuck.next_run_at > clock.now()
    assert steps[broken.pk] == 1
    assert list(broken.tags.values_list("name", flat=True)) == ["welcome"]
    assert "offer" not in Customer.objects.get(pk=broken.pk).attributes
    # The colliding one wrote nothing new and retries its first step.
    clash = Enrollment.objects.get(pk=enrollments[collided.pk].pk)
    assert (clash.current_node, clash.exit_reason) == ("hello", "step failed; retrying")
    assert steps[collided.pk] == 1
    assert not collided.tags.exists()

    # Fixed, an hour on: both catch up, and nobody else runs a step again.
    Customer.objects.filter(pk=broken.pk).update(attributes={"share": 2})
    StepRun.objects.filter(enrollment__customer=collided).delete()
    frozen_time.shift(dt.timedelta(hours=1, seconds=1))
    advance_due()
    steps = Counter(StepRun.objects.values_list("enrollment__customer_id", flat=True))
    assert all(steps[c.pk] == 4 for c in customers)
    assert Message.objects.count() == len(customers)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_run_a_step_twice(mail):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; SKIP LOCKED needs PostgreSQL")
    journey = _journey(CHAIN)
    customers = [_customer(share=3) for _ in range(60)]
    for customer in customers:
        enrollment_start(journey=journey, customer=customer)
    barrier = threading.Barrier(2)
    ran: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            ran.append(advance_due(batch_size=7))
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    keys = list(StepRun.objects.values_list("enrollment_id", "node_id", "visit"))
    assert len(keys) == len(set(keys)) == 4 * len(customers) == sum(ran)
    assert not Enrollment.objects.exclude(exit_reason="").exists()
    assert Message.objects.count() == len(customers)
    assert set(Enrollment.objects.values_list("current_node", "waiting")) == {("pause", True)}
