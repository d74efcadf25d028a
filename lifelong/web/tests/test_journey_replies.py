"""Replies per journey step: customers' answers to a step's messages, on the journey page.

A `message_replied` event names the message it answers (its journey and node); a step counts
each of its messages answered once, however many times the customer wrote back.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.journeys.selectors import node_stats
from lifelong.messaging.models import Message
from lifelong.messaging.services import inbound_event_record
from lifelong.web.tests.conftest import staff
from lifelong.web.tests.test_journeys_ui import enroll, logged_in, make_journey

pytestmark = pytest.mark.django_db


def sent(journey, customer, node_id: str, key: str) -> Message:
    return Message.objects.create(
        customer=customer,
        dedupe_key=key,
        channel="email",
        purpose="marketing",
        journey_id=journey.pk,
        node_id=node_id,
        sent_at=clock.now() - dt.timedelta(hours=1),
    )


def reply(customer, text: str, provider_id: str) -> None:
    assert inbound_event_record(
        channel="email", address=customer.email, text=text, provider_id=provider_id
    )


def test_replies_are_counted_per_step_once_per_message(frozen_time):
    journey, other = make_journey("one"), make_journey("two")
    customers = [e.customer for e in enroll(journey, 3)]
    for n, customer in enumerate(customers):
        sent(journey, customer, "tag_new", f"m{n}")
    reply(customers[0], "Спасибо, всё пришло!", "r1")
    reply(customers[0], "И ещё вопрос про доставку", "r2")  # the same message again
    reply(customers[1], "Подскажите размер", "r3")
    # The third customer's last message is another journey's: that one gets the reply.
    sent(other, customers[2], "tag_new", "m-other")
    reply(customers[2], "Спасибо", "r4")
    counts = node_stats(journey)
    assert (counts["tag_new"].sent, counts["tag_new"].replied) == (3, 2)
    assert node_stats(other)["tag_new"].replied == 1


def test_the_journey_page_shows_replies_in_fixed_queries(frozen_time):
    owner = logged_in(staff(Role.OWNER))
    journey = make_journey("one")
    customers = [e.customer for e in enroll(journey, 6)]
    sent(journey, customers[0], "tag_new", "m0")
    url = reverse("web:journey", kwargs={"pk": journey.pk})
    with CaptureQueriesContext(connection) as few:
        owner.get(url)
    for n, customer in enumerate(customers[1:], start=1):
        sent(journey, customer, "tag_new", f"m{n}")
        reply(customer, "Ответ", f"r{n}")
    with CaptureQueriesContext(connection) as many:
        response = owner.get(url)
    assert len(many) == len(few)
    html = response.content.decode()
    assert "<strong>6</strong> sent" in html
    assert "5</strong> with a reply" in html
    assert response.context["canvas"]["counts"]["tag_new"]["replied"] == 5
    assert response.context["canvas"]["texts"]["replied"] == "with a reply"
