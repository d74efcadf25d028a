"""Message nodes run for a whole group: a fixed number of statements however large the group,
one customer's failing render holds back no one else, and the rows written (outbox messages,
survey invites, club invites, ledger postings) are those of the one-customer steps."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong import clock
from lifelong.community.models import ClubInvite
from lifelong.community.services import club_invite_url
from lifelong.community.tests.clubs_setup import club_make, ladder_make
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Invite, SurveyKind
from lifelong.feedback.survey_editor import survey_save
from lifelong.journeys.engine import advance_due
from lifelong.journeys.library import library_install
from lifelong.journeys.models import Enrollment, JourneyStatus, StepRun
from lifelong.journeys.services import enrollment_start, journey_create, journey_status_set
from lifelong.loyalty.models import Transaction
from lifelong.loyalty.tests.helpers import assert_consistent, balances
from lifelong.loyalty.tiers import tier_set_manual
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.messaging.services import message_enqueue

pytestmark = pytest.mark.django_db

SEND_THEN_WAIT = [
    {"id": "mail", "type": "send", "template": "share", "next": "pause"},
    {"id": "pause", "type": "wait", "days": 1},
]


def _journey(nodes: list[dict[str, Any]], slug: str = "welcome"):
    journey = journey_create(
        name=slug,
        slug=slug,
        definition={"trigger": {"kind": "manual"}, "start": nodes[0]["id"], "nodes": nodes},
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def _customer(**attributes: Any) -> Customer:
    customer = CustomerFactory.create(attributes=attributes)
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    return customer


@pytest.fixture
def mail(db):
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    # Dividing by the customer's attribute fails for a customer whose attribute is 0.
    Template.objects.create(
        slug="share",
        name="Доля",
        channel="email",
        subject="Ваша доля",
        body_text="Каждому по {{ 12 // customer.attributes.share }} баллов.",
    )


def test_a_send_group_takes_the_same_statements_for_10_and_for_30(mail, frozen_time):
    counts = []
    # The first run creates the rows read on first use (the sending policy): not counted.
    # Up to 30: SQLite takes 999 parameters a statement, and Django splits a bulk insert of
    # more than about 38 messages in two there (one on PostgreSQL however many).
    for size in (1, 10, 30):
        journey = _journey(SEND_THEN_WAIT, slug=f"send-{size}")
        for _ in range(size):
            enrollment_start(journey=journey, customer=_customer(share=3))
        with CaptureQueriesContext(connection) as queries:
            assert advance_due() == size * 2
        counts.append(len(queries))
        journey_status_set(journey=journey, status=JourneyStatus.PAUSED)
    assert counts[1] == counts[2]
    assert Message.objects.count() == 41


def test_a_failing_render_and_a_message_queued_before_hold_back_no_one(mail, frozen_time):
    journey = _journey(SEND_THEN_WAIT)
    customers = [_customer(share=4) for _ in range(9)]
    broken, queued = customers[2], customers[6]
    Customer.objects.filter(pk=broken.pk).update(attributes={"share": 0})
    enrollments = {c.pk: enrollment_start(journey=journey, customer=c) for c in customers}
    # The step's message is in the outbox already (a crash after the outbox, say): the step
    # finds it there and queues no second one.
    key = f"j{enrollments[queued.pk].pk}:mail:1"
    message_enqueue(customer=queued, dedupe_key=key, channel="email", text="раньше")

    advance_due()

    for customer in customers:
        enrollment = Enrollment.objects.get(pk=enrollments[customer.pk].pk)
        if customer == broken:
            assert (enrollment.current_node, enrollment.exit_reason) == (
                "mail",
                "step failed; retrying",
            )
            assert enrollment.next_run_at > clock.now()
        else:
            assert (enrollment.current_node, enrollment.waiting) == ("pause", True)
    outcomes = Counter(StepRun.objects.values_list("outcome", flat=True))
    assert outcomes == {"queued on email": 8, "waiting": 8}
    assert set(Message.objects.values_list("customer_id", flat=True)) == {
        c.pk for c in customers if c != broken
    }
    assert Message.objects.get(customer=queued).body_text == "раньше"

    Customer.objects.filter(pk=broken.pk).update(attributes={"share": 3})
    frozen_time.shift(dt.timedelta(hours=1, seconds=1))
    advance_due()
    assert Message.objects.get(customer=broken).body_text == "Каждому по 4 баллов."
    assert Message.objects.count() == len(customers)


def test_grouped_points_club_and_survey_steps_write_one_row_each_per_step(frozen_time, db):
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    ladder = ladder_make()
    club = club_make(ladder["guru"])
    Template.objects.create(
        slug="club-welcome",
        name="В клуб",
        channel="email",
        subject="Приглашаем в клуб",
        body_text="Ждём вас в «{{ club.name }}»: {{ club_invite_url }}",
    )
    library_install("nps-after-delivery")  # the survey's template
    survey = survey_save(
        survey=None,
        values={"name": "NPS", "kind": SurveyKind.NPS, "language": "ru", "throttle_days": 90},
        questions=[],
        actor=None,
    )
    journey = _journey(
        [
            {
                "id": "gift",
                "type": "award_points",
                "points": 50,
                "reason": "знакомство",
                "next": "club",
            },
            {
                "id": "club",
                "type": "club_invite",
                "club": club.pk,
                "template": "club-welcome",
                "channel": "email",
                "next": "ask",
            },
            {
                "id": "ask",
                "type": "survey",
                "survey": survey.pk,
                "template": "nps-after-delivery",
                "channel": "preferred",
                "next": "pause",
            },
            {"id": "pause", "type": "wait", "days": 1},
        ],
        slug="grouped",
    )
    customers = [_customer() for _ in range(6)]
    admitted = customers[::2]
    for customer in admitted:
        tier_set_manual(
            customer_id=customer.pk,
            tier=ladder["guru"],
            until=clock.now() + dt.timedelta(days=365),
            actor=None,
            reason="VIP",
        )
    enrollments = {c.pk: enrollment_start(journey=journey, customer=c) for c in customers}

    advance_due()
    advance_due()  # nothing is due: nothing more is written

    for customer in customers:
        enrollment = enrollments[customer.pk]
        steps = dict(
            StepRun.objects.filter(enrollment=enrollment).values_list("node_id", "outcome")
        )
        assert steps == {
            "gift": "50 points",
            "club": "queued on email"
            if customer in admitted
            else "skipped: not admitted to the club or already in it",
            "ask": "survey queued on email",
            "pause": "waiting",
        }
        award = Transaction.objects.get(customer=customer)
        assert (award.key, award.enrollment_id, award.node_id, award.comment) == (
            f"journey:j{enrollment.pk}:gift:1",
            enrollment.pk,
            "gift",
            "знакомство",
        )
        assert balances(customer) == (50, 0, 0)
        invite = Invite.objects.get(customer=customer)
        assert (invite.enrollment_id, invite.node, invite.channel) == (
            enrollment.pk,
            "ask",
            "email",
        )
        assert (
            invite.dedupe_key
            == f"survey_invite:{survey.pk}:{customer.pk}:journey:j{enrollment.pk}:ask:1"
        )
        messages = dict(
            Message.objects.filter(customer=customer).values_list("dedupe_key", "node_id")
        )
        expected = {invite.dedupe_key: "ask"}
        if customer in admitted:
            club_invite = ClubInvite.objects.get(customer=customer, club=club)
            expected[f"j{enrollment.pk}:club:1"] = "club"
            text = Message.objects.get(dedupe_key=f"j{enrollment.pk}:club:1").body_text
            assert f"Ждём вас в «Клуб Гуру»: {club_invite_url(invite=club_invite)}" in text
        else:
            assert not ClubInvite.objects.filter(customer=customer).exists()
        assert messages == expected
    assert_consistent()


def test_a_survey_group_takes_the_same_statements_for_10_and_for_30(frozen_time, db):
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    library_install("nps-after-delivery")  # the survey's template
    counts = []
    for size in (1, 10, 30):  # the first run creates the rows read on first use
        survey = survey_save(
            survey=None,
            values={"name": f"CSAT {size}", "kind": SurveyKind.CSAT, "language": "ru"},
            questions=[],
            actor=None,
        )
        journey = _journey(
            [
                {
                    "id": "ask",
                    "type": "survey",
                    "survey": survey.pk,
                    "template": "nps-after-delivery",
                    "channel": "email",
                    "next": "pause",
                },
                {"id": "pause", "type": "wait", "days": 1},
            ],
            slug=f"ask-{size}",
        )
        for _ in range(size):
            enrollment_start(journey=journey, customer=_customer())
        with CaptureQueriesContext(connection) as queries:
            assert advance_due() == size * 2
        counts.append(len(queries))
        journey_status_set(journey=journey, status=JourneyStatus.PAUSED)
        assert Invite.objects.filter(survey=survey).count() == size
        assert Message.objects.filter(node_id="ask", journey_id=journey.pk).count() == size
    assert counts[1] == counts[2]
