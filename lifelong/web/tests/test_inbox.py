"""The sandbox inbox and the message log on the customer card."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from lifelong.accounts.models import Role, User
from lifelong.customers.models import Customer
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import Journey, JourneyStatus
from lifelong.journeys.services import enrollment_start, journey_create, journey_status_set
from lifelong.messaging.models import Message
from lifelong.web.tests.conftest import staff
from lifelong.web.views.inbox import PER_PAGE


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def logged_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def message(customer: Customer | None, n: int, **values: Any) -> Message:
    fields: dict[str, Any] = {
        "customer": customer,
        "dedupe_key": f"k{n}",
        "channel": "email",
        "purpose": "marketing",
        "transport": "sandbox",
        "status": "sent",
        "to": customer.email if customer else "",
        "subject": f"Письмо {n}",
        "body_text": f"Здравствуйте!\nТекст {n}",
        "sent_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    }
    fields.update(values)
    return Message.objects.create(**fields)


def test_inbox_lists_sandbox_messages_newest_first_in_fixed_queries(db):
    analyst = logged_in(staff(Role.ANALYST))
    customer = CustomerFactory.create()
    journey = journey_create(
        name="Спасибо", slug="thanks", definition={"trigger": {"kind": "manual"}, "start": None}
    )
    message(customer, 0, journey_id=journey.pk, node_id="hello")
    with CaptureQueriesContext(connection) as few:
        response = analyst.get(reverse("web:inbox"))
    assert response.status_code == 200
    other = journey_create(
        name="Возврат", slug="winback", definition={"trigger": {"kind": "manual"}, "start": None}
    )
    for n in range(1, PER_PAGE + 5):
        message(CustomerFactory.create(), n, journey_id=(journey if n % 2 else other).pk)
    message(customer, 999, transport="smtp", subject="Real mail")
    with CaptureQueriesContext(connection) as many:
        response = analyst.get(reverse("web:inbox"))
    assert len(many) == len(few)
    html = response.content.decode()
    assert "Real mail" not in html
    assert html.index(f"Письмо {PER_PAGE + 4}") < html.index(f"Письмо {PER_PAGE + 3}")
    assert "Возврат" in html and "Спасибо" in html
    assert "Older" in html
    rows: list[Message] = response.context["rows"]
    assert len(rows) == PER_PAGE
    older = analyst.get(reverse("web:inbox"), {"before": response.context["next_before"]})
    assert [m.subject for m in older.context["rows"]] == [f"Письмо {n}" for n in range(4, -1, -1)]
    assert older.context["next_before"] is None


def test_inbox_filters_by_channel_and_customer(db):
    client = logged_in(staff(Role.SUPPORT))
    anna, boris = CustomerFactory.create(), CustomerFactory.create()
    message(anna, 1)
    message(anna, 2, channel="sms", subject="", body_text="Код 1234")
    message(boris, 3)
    subjects = lambda response: [m.subject or m.body_text for m in response.context["rows"]]  # noqa: E731
    assert subjects(client.get(reverse("web:inbox"), {"channel": "sms"})) == ["Код 1234"]
    assert subjects(client.get(reverse("web:inbox"), {"customer": anna.pk})) == [
        "Код 1234",
        "Письмо 1",
    ]
    assert subjects(
        client.get(reverse("web:inbox"), {"customer": anna.pk, "channel": "email"})
    ) == ["Письмо 1"]


def test_a_message_shows_its_html_in_an_empty_sandbox(db):
    client = logged_in(staff(Role.ANALYST))
    customer = CustomerFactory.create()
    html = '<p onclick="alert(1)">Привет, "Анна" & co</p><script>alert(2)</script>'
    sent = message(customer, 1, body_html=html)
    response = client.get(reverse("web:inbox_message", kwargs={"pk": sent.pk}))
    assert response.status_code == 200
    page = response.content.decode()
    # The frame loads the markup from its own URL: never inline in this page.
    frame_url = reverse("web:inbox_message_html", kwargs={"pk": sent.pk})
    assert f'sandbox="" referrerpolicy="no-referrer" src="{frame_url}"' in page
    assert "alert(" not in page
    assert client.get(frame_url).content.decode() == html
    assert "Текст 1" in page
    real = message(customer, 2, transport="smtp")
    assert client.get(reverse("web:inbox_message", kwargs={"pk": real.pk})).status_code == 404


def test_customer_card_lists_messages_and_enrollments(db, frozen_time):
    client = logged_in(staff(Role.SUPPORT))
    customer = CustomerFactory.create()
    journey = journey_create(
        name="Приветствие",
        slug="welcome",
        definition={
            "trigger": {"kind": "manual"},
            "start": "pause",
            "nodes": [{"id": "pause", "type": "wait", "days": 2}],
        },
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    journey = Journey.objects.get(pk=journey.pk)
    enrollment = enrollment_start(journey=journey, customer=customer)
    assert enrollment is not None
    advance_due()
    message(
        customer,
        1,
        journey_id=journey.pk,
        enrollment_id=enrollment.pk,
        node_id="pause",
        opened_at=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
    )
    message(
        customer, 2, status="failed", sent_at=None, subject="", body_text="Первая строка\nвторая"
    )
    for n in range(3, 30):
        message(customer, n, created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    event_record(
        customer=customer,
        type="message_opened",
        properties={"channel": "email", "subject": "Письмо 1"},
    )
    response = client.get(reverse("web:customer", kwargs={"pk": customer.pk}))
    assert response.status_code == 200
    assert len(response.context["message_log"]) == 20
    page = response.content.decode()
    assert 'id="messages"' in page
    assert "Первая строка" in page and "вторая" not in page
    assert "Failed" in page
    assert "journey «Приветствие»" in page
    assert 'Приветствие</a> <span class="badge">In progress</span>' in page
    assert "<code>pause</code>" in page
    assert "Opened a message" in page  # the timeline label
