"""`lifelong simulate` on the demo: journeys send, synthetic customers react, goals are met."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from lifelong import clock
from lifelong.commerce.models import OrderLine
from lifelong.commerce.services import LineInput, order_upsert
from lifelong.customers.models import Consent, Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.demo import records
from lifelong.demo.journeys import SANDBOX, demo_journeys_ensure, demo_present
from lifelong.demo.people import CUSTOMER_PREFIX
from lifelong.demo.reactions import LIGHT_SWEEPS, Audience, demo_reactions_apply, demo_simulate
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.jobs import sweeps
from lifelong.journeys.library import LIBRARY, library_install
from lifelong.journeys.models import Enrollment, EnrollmentStatus, Journey, JourneyStatus
from lifelong.journeys.reactor import journeys_react
from lifelong.journeys.services import journey_status_set
from lifelong.messaging.models import ChannelConfig, Message
from lifelong.messaging.services import message_engagement_record

pytestmark = pytest.mark.django_db


class Eager(random.Random):
    """A customer who does everything a message invites: opens, clicks, replies, leaves, buys."""

    def random(self) -> float:
        return 0.0


@pytest.fixture
def shop(frozen_time):
    """The demo catalogue, sandbox channels, and a clock that is put back afterwards."""
    records.products_write()
    for channel in ("email", "sms", "telegram"):
        ChannelConfig.objects.create(channel=channel, transport=SANDBOX)
    journeys_react()  # the reactor starts reading here: what follows is news to it
    yield
    clock.reset()


def _customers(count: int) -> list[Customer]:
    customers = [
        CustomerFactory.create(external_id=f"{CUSTOMER_PREFIX}{n:05d}") for n in range(count)
    ]
    for customer in customers:
        consent_record(
            customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
        )
    return customers


def _order(customer: Customer, sku: str, number: int) -> None:
    order_upsert(
        external_id=f"demo-o-test-{number}",
        customer=customer,
        total=Decimal("5990.00"),
        placed_at=clock.now(),
        lines=[LineInput(sku=sku, quantity=1, price=Decimal("5990.00"))],
    )


def _activate(slug: str) -> Journey:
    journey = library_install(slug)
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def _day(audience: Audience) -> None:
    clock.advance(dt.timedelta(days=1))
    assert sweeps.run_all() == []
    demo_reactions_apply(audience)
    for name in LIGHT_SWEEPS:
        sweeps.sweep_by_name(name).load()()


def test_demo_setup_runs_every_library_journey_on_sandbox_channels(db):
    assert not demo_present()
    CustomerFactory.create(external_id=f"{CUSTOMER_PREFIX}00001")

    demo_journeys_ensure()
    demo_journeys_ensure()

    assert demo_present()
    assert Journey.objects.filter(status=JourneyStatus.ACTIVE).count() == len(LIBRARY)
    configs = dict(ChannelConfig.objects.values_list("channel", "transport"))
    assert set(configs) == {"email", "sms", "telegram", "vk", "whatsapp", "max", "push", "webhook"}
    assert set(configs.values()) == {SANDBOX}


def _eager_audience() -> Audience:
    audience = Audience.load(seed=1)
    audience.rng = Eager(1)
    audience.daily_orders = 0  # only the messages make these customers buy
    return audience


def test_an_eager_customer_opens_clicks_replies_leaves_and_buys_the_cart(shop):
    journey = _activate("abandoned-cart")
    customers = _customers(3)
    for customer in customers:
        event_record(
            customer=customer,
            type="cart_updated",
            properties={"skus": ["PRANA-TEA-PUER"], "cart": {"skus": ["PRANA-TEA-PUER"]}},
        )
    audience = _eager_audience()

    for _ in range(2):
        _day(audience)

    treated = Enrollment.objects.filter(journey=journey, holdout=False)
    assert Enrollment.objects.filter(journey=journey).count() == 3 and treated.exists()
    reminders = Message.objects.filter(journey_id=journey.pk)
    assert reminders.count() == treated.count()
    for message in reminders:
        assert message.node_id == "reminder_1" and message.sent_at is not None
        assert message.opened_at is not None and message.clicked_at is not None
        for kind in ("message_opened", "message_clicked", "message_replied"):
            assert Event.objects.filter(
                type=kind, properties__enrollment_id=message.enrollment_id
            ).exists()
        newest = Consent.objects.filter(customer_id=message.customer_id, channel="email")
        assert newest.order_by("-at", "-pk").values_list("granted", flat=True)[0] is False
        # They bought what was in the cart, which is the journey's goal.
        assert OrderLine.objects.filter(
            order__customer_id=message.customer_id, sku="PRANA-TEA-PUER"
        ).exists()
        enrollment = Enrollment.objects.get(pk=message.enrollment_id)
        assert enrollment.status == EnrollmentStatus.CONVERTED
    assert audience.tally["orders_after_click"] == treated.count()
    assert audience.tally["unsubscribed"] == treated.count()


def test_an_open_wakes_the_tool_journey_waiting_for_it(shop):
    journey = _activate("tool-followup")
    customers = _customers(3)
    for number, customer in enumerate(customers):
        _order(customer, "PRANA-MAT-PRO6", number)
    assert sweeps.run_all() == []
    clock.advance(dt.timedelta(days=3))
    assert sweeps.run_all() == []
    checklists = list(Message.objects.filter(journey_id=journey.pk, node_id="checklist"))
    assert checklists and all(m.sent_at is not None for m in checklists)

    clock.advance(dt.timedelta(hours=5))
    for message in checklists:
        message_engagement_record(message=message, kind="opened")
    for name in LIGHT_SWEEPS:
        sweeps.sweep_by_name(name).load()()

    for message in checklists:
        enrollment = Enrollment.objects.get(pk=message.enrollment_id)
        # Past "opened", now waiting a week for a click before the mistakes video.
        assert enrollment.current_node == "clicked" and enrollment.waiting
        assert enrollment.next_run_at == clock.now() + dt.timedelta(days=7)


def test_a_seeded_simulation_sends_and_records_engagement(shop):
    journey = _activate("welcome")
    for number, customer in enumerate(_customers(30)):
        _order(customer, "PRANA-TEA-PUER", number)

    tally = demo_simulate(days=1, seed=7).tally
    messages = Message.objects.filter(journey_id=journey.pk)

    entered = Enrollment.objects.filter(journey=journey)
    assert entered.count() == 30
    # One whole day, ending at the next morning's pass.
    assert clock.now() == dt.datetime(2026, 3, 4, 6, tzinfo=dt.UTC)
    # The thanks went out at the morning pass; the customers read it at the next one.
    treated = entered.filter(holdout=False).count()
    assert messages.filter(node_id="thanks", sent_at__isnull=False).count() == treated
    assert tally["sent"] >= messages.count()
    assert tally["opened"] > 0
    assert tally["opened"] == messages.filter(opened_at__isnull=False).count()
