"""The journey step `club_invite`: a qualifying customer gets the template's message with the
club's join address, once; others are skipped; a missing club is a problem before launch and
when the step runs."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from lifelong import clock
from lifelong.community.models import ClubInvite
from lifelong.community.services import club_invite_url
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.journeys.definition import definition_parse
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import JourneyStatus, StepRun
from lifelong.journeys.problems import definition_problems
from lifelong.journeys.services import enrollment_start, journey_create, journey_status_set
from lifelong.loyalty.tiers import tier_set_manual
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.messaging.templating.validation import template_validate

INVITE = {
    "id": "invite",
    "type": "club_invite",
    "club": 0,  # set per test
    "template": "club-welcome",
    "channel": "email",
}


def _definition(club_id: int) -> dict[str, Any]:
    return {
        "trigger": {"kind": "manual"},
        "start": "invite",
        "nodes": [{**INVITE, "club": club_id}],
    }


@pytest.fixture
def shop(db):
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    Template.objects.create(
        slug="club-welcome",
        name="В клуб",
        channel="email",
        subject="Приглашаем в клуб",
        body_text="{{ customer.first_name }}, ждём вас в «{{ club.name }}»: {{ club_invite_url }}",
    )


def _customer(ladder, *, top: bool):
    customer = CustomerFactory.create()
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    if top:
        tier_set_manual(
            customer_id=customer.pk,
            tier=ladder["guru"],
            until=clock.now().replace(year=clock.now().year + 1),
            actor=None,
            reason="VIP",
        )
    return customer


def test_a_qualifying_customer_is_invited_once_with_the_join_address(
    frozen_time, shop, club, ladder
):
    journey = journey_create(name="Клуб", slug="club", definition=_definition(club.pk))
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    anna, boris = _customer(ladder, top=True), _customer(ladder, top=False)
    for customer in (anna, boris):
        enrollment_start(journey=journey, customer=customer)

    advance_due()
    advance_due()

    (message,) = Message.objects.all()
    invite = ClubInvite.objects.get()
    assert (message.customer_id, invite.customer_id, invite.source) == (anna.pk, anna.pk, "journey")
    assert message.body_text == f"Анна, ждём вас в «Клуб Гуру»: {club_invite_url(invite=invite)}"
    outcomes = dict(StepRun.objects.values_list("enrollment__customer_id", "outcome"))
    assert outcomes[anna.pk] == "queued on email"
    assert outcomes[boris.pk].startswith("skipped: not admitted")


def test_a_missing_or_switched_off_club_is_a_problem(frozen_time, shop, club, ladder):
    with translation.override("en"):
        missing = definition_problems(definition_parse(_definition(club.pk + 100)))
        assert [p.message for p in missing] == [
            f"There is no club number {club.pk + 100}, or it is switched off."
        ]
        assert definition_problems(definition_parse(_definition(club.pk))) == []

    club.active = False
    club.save()
    journey = journey_create(name="Клуб", slug="club", definition=_definition(club.pk))
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    enrollment_start(journey=journey, customer=_customer(ladder, top=True))
    advance_due()

    run = StepRun.objects.get()
    assert (run.outcome, run.problem) == ("problem: club switched off", True)
    assert not Message.objects.exists()


def test_a_template_may_use_the_club_variables(db):
    body = "Ждём вас в «{{ club.name }}»: {{ club_invite_url }} (или {{ club.url }})"
    assert template_validate(subject="В клуб", body_text=body, body_html="") == []
