"""No event, however malformed, stops the reactor: it is set aside and the log moves on."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from lifelong.events.models import SetAsideEvent
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory, ProductFactory
from lifelong.journeys.models import (
    Enrollment,
    Journey,
    JourneyStatus,
    ReactorCursor,
)
from lifelong.journeys.reactor import CURSOR, journeys_react, set_aside_retry
from lifelong.journeys.services import journey_create, journey_status_set

TAG = [{"id": "tag", "type": "tag", "tag": "entered"}]


def _journey(slug: str, **trigger: Any) -> Journey:
    journey = journey_create(
        name=slug, slug=slug, definition={"trigger": trigger, "start": "tag", "nodes": TAG}
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def _every_trigger() -> None:
    """A journey on each event the reactor reads properties of, with filters that read them."""
    ProductFactory.create(sku="MAT-1", category="mats")
    _journey("cart", kind="cart_abandoned", hours=1, categories=["mats"])
    _journey("order", kind="order_placed", skus=["MAT-1"], categories=["mats"])
    _journey("first", kind="first_order")
    _journey("viewed", kind="event", event_type="product_viewed", properties={"sku": "MAT-1"})
    _journey("segment", kind="segment_entered", segment_id=1)


def _cursor() -> int:
    return ReactorCursor.objects.get(name=CURSOR).last_event_id


@pytest.mark.django_db
def test_a_cart_event_with_a_number_for_skus_is_set_aside_and_others_still_enter(frozen_time):
    _every_trigger()
    journeys_react()  # the cursor starts at the end of the log
    stranger, buyer = CustomerFactory.create(), CustomerFactory.create()
    bad, _ = event_record(customer=stranger, type="cart_updated", properties={"skus": 5})
    good, _ = event_record(customer=buyer, type="order_placed", properties={"skus": ["MAT-1"]})
    journeys_react()
    assert _cursor() == good.pk
    assert set(Enrollment.objects.values_list("customer_id", flat=True)) == {buyer.pk}
    aside = SetAsideEvent.objects.get()
    assert aside.event_id == bad.pk
    assert "TypeError" in aside.error


@pytest.mark.django_db
def test_a_set_aside_event_retried_after_the_cause_is_gone_leaves_the_list(frozen_time):
    cart = _journey("cart", kind="cart_abandoned", hours=1, categories=["mats"])
    journeys_react()
    customer = CustomerFactory.create()
    bad, _ = event_record(customer=customer, type="cart_updated", properties={"skus": [["x"]]})
    journeys_react()
    assert set_aside_retry(event_id=bad.pk) is False  # the journey still reads it
    assert SetAsideEvent.objects.filter(event=bad).exists()
    journey_status_set(journey=cart, status=JourneyStatus.PAUSED)
    assert set_aside_retry(event_id=bad.pk) is True
    assert not SetAsideEvent.objects.exists()


# What a JSON column can hold: PostgreSQL refuses NUL and lone surrogates in jsonb, and the
# API refuses both at the door (lifelong/events/field_limits.py).
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=5)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner),
    max_leaves=8,
)
KEYS = st.sampled_from(["skus", "sku", "cart", "segment_id", "total", "order_id", "url", "x"])


class TestRandomPropertiesNeverStopTheReactor(TestCase):
    @settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
    @given(
        events=st.lists(
            st.tuples(
                st.sampled_from(
                    ["cart_updated", "order_placed", "product_viewed", "segment_entered"]
                ),
                st.dictionaries(KEYS, JSON, max_size=4),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def test_the_cursor_reaches_the_end_and_a_good_order_still_enters(self, events):
        if not Journey.objects.exists():
            _every_trigger()
        journeys_react()
        customer = CustomerFactory.create()
        for type_, properties in events:
            event_record(customer=customer, type=type_, properties=properties)
        buyer = CustomerFactory.create()
        good, _ = event_record(customer=buyer, type="order_placed", properties={"skus": ["MAT-1"]})
        journeys_react()
        assert _cursor() == good.pk
        assert Enrollment.objects.filter(customer=buyer, journey__slug="order").exists()


@pytest.mark.django_db
def test_an_order_between_activation_and_the_first_reactor_run_still_enters(frozen_time):
    history, _ = event_record(customer=CustomerFactory.create(), type="order_placed")
    _journey("order", kind="order_placed")  # goes live before the reactor ever ran
    buyer = CustomerFactory.create()
    event_record(customer=buyer, type="order_placed", properties={"skus": ["MAT-1"]})
    journeys_react()
    assert set(Enrollment.objects.values_list("customer_id", flat=True)) == {buyer.pk}
    assert history.customer_id not in set(Enrollment.objects.values_list("customer_id", flat=True))
