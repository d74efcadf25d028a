"""The ready "welcome to the tier" journey: a step up is welcomed once, with what the tier opens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from lifelong.customers.models import Customer
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.journeys.engine import advance_due
from lifelong.journeys.library import library_install
from lifelong.journeys.models import Enrollment, Journey, JourneyStatus
from lifelong.journeys.reactor import journeys_react
from lifelong.journeys.services import holdout_assign, journey_status_set
from lifelong.loyalty.models import Tier
from lifelong.messaging.models import ChannelConfig, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def journey(frozen_time) -> Journey:
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    Tier.objects.create(slug="novichok", name="Новичок", position=1)
    Tier.objects.create(
        slug="znatok",
        name="Знаток",
        position=2,
        min_orders=2,
        privileges=["early_access", "free_express_delivery"],
    )
    Tier.objects.create(slug="ekspert", name="Эксперт", position=3, min_orders=5)
    installed = library_install("tier-welcome")
    journey_status_set(journey=installed, status=JourneyStatus.ACTIVE)
    return installed


def _member(journey: Journey, **fields: Any) -> Customer:
    assert journey.current_version is not None
    percent = journey.current_version.parsed().holdout_percent
    customer = CustomerFactory.create(**fields)
    while holdout_assign(journey_id=journey.pk, customer_id=customer.pk, percent=percent):
        customer = CustomerFactory.create(**fields)
    return customer


def _changed(customer: Customer, to: str, direction: str, n: int) -> None:
    event_record(
        customer=customer,
        type="tier_changed",
        properties={"from": "novichok", "to": to, "direction": direction},
        source="loyalty",
        idempotency_key=f"tier_changed:{customer.pk}:{n}",
    )


def _run() -> None:
    journeys_react()
    advance_due()


def test_a_step_up_gets_one_letter_naming_the_tier_and_its_privileges(journey):
    anna = _member(journey, language="ru")
    _changed(anna, "znatok", "up", 1)
    _run()
    _run()  # read again: nothing new
    message = Message.objects.get(customer=anna)
    assert message.subject == "Ваш новый уровень — «Знаток»"
    assert "теперь ваш уровень — «Знаток»" in message.body_text
    assert "— Ранний доступ: Новые коллекции" in message.body_text
    assert "— Бесплатная экспресс-доставка:" in message.body_text
    assert "/c/l/" in message.body_text  # the status page, signed
    assert Enrollment.objects.get(customer=anna).context["tier"]["name"] == "Знаток"


def test_each_step_up_is_welcomed_and_downgrades_and_manual_tiers_are_not(journey):
    anna = _member(journey)
    _changed(anna, "znatok", "up", 1)
    _changed(anna, "novichok", "down", 2)
    _changed(anna, "znatok", "manual", 3)
    _changed(anna, "ekspert", "up", 4)
    _run()
    tiers = sorted(e.context["to"] for e in Enrollment.objects.filter(customer=anna))
    assert tiers == ["ekspert", "znatok"]
    assert Message.objects.filter(customer=anna).count() == 2


def test_a_tier_without_privileges_says_only_its_name(journey):
    anna = _member(journey)
    _changed(anna, "ekspert", "up", 1)
    _run()
    body = Message.objects.get(customer=anna).body_text
    assert "«Эксперт»" in body and "Что теперь открыто" not in body


def test_the_tier_sweep_itself_starts_the_welcome(journey):
    from lifelong.loyalty.tiers import tiers_refresh

    anna = _member(journey)
    OrderFactory.create_batch(2, customer=anna, total=Decimal("500"))
    tiers_refresh(customer_ids=[anna.pk])
    _run()
    enrollment = Enrollment.objects.get(customer=anna)
    assert (enrollment.context["to"], enrollment.context["direction"]) == ("znatok", "up")
    assert Message.objects.filter(customer=anna).count() == 1


def test_an_english_speaker_reads_the_privileges_in_english(journey):
    john = _member(journey, language="en")
    _changed(john, "znatok", "up", 1)
    _run()
    message = Message.objects.get(customer=john)
    assert message.subject == "Your new tier: Знаток"
    assert "— Early access: New collections and sales open to you" in message.body_text
    assert "— Free express delivery:" in message.body_text
