"""The customer card: what it shows, and the writes made from it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from lifelong.accounts.models import AuditLog, Role
from lifelong.commerce.models import Order
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.models import Consent, Customer, Fact, Gender, Note
from lifelong.customers.services import consent_record, customer_tags_add, note_add
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.followups.models import Task
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db


def card(customer: Customer) -> str:
    return reverse("web:customer", kwargs={"pk": customer.pk})


def action(name: str, customer: Customer) -> str:
    return reverse(f"web:{name}", kwargs={"pk": customer.pk})


@pytest.fixture
def anna(db):
    customer = CustomerFactory(last_name="Иванова", first_name="Анна", gender=Gender.FEMALE)
    order = OrderFactory(customer=customer, total=Decimal("2500.00"), external_id="A-1")
    customer_summaries_refresh([customer.pk])
    event_record(
        customer=customer,
        type="order_placed",
        properties={"external_id": order.external_id, "total": "2500.00", "currency": "RUB"},
    )
    return customer


def test_card_shows_profile_summary_orders_and_timeline(owner_client, anna):
    customer_tags_add(customer=anna, names=["vip"])
    consent_record(customer=anna, channel="email", purpose="marketing", granted=True, source="form")
    event_record(customer=anna, type="workshop_booked", properties={"topic": "масла"})
    event_record(
        customer=anna, type="survey_answered", properties={"survey_name": "NPS", "score": 9}
    )
    body = owner_client.get(card(anna)).content.decode()
    assert "Иванова Анна" in body
    assert "vip" in body
    assert "№ A-1" in body
    assert "2\u00a0500\u00a0₽" in body  # total spent, grouped, with the rouble sign
    assert "Оформила заказ" in body  # the verb agrees with a female customer
    assert "Дала согласие" in body
    assert "workshop booked" in body and "topic" in body  # unknown type, generic
    assert "Ответила на опрос" in body


def test_labels_agree_with_gender(owner_client):
    for gender, label in [
        (Gender.MALE, "Оформил заказ"),
        (Gender.FEMALE, "Оформила заказ"),
        (Gender.UNKNOWN, "Оформил(а) заказ"),
    ]:
        customer = CustomerFactory(gender=gender)
        event_record(customer=customer, type="order_placed", properties={})
        assert label in owner_client.get(card(customer)).content.decode()


def test_english_labels(owner_client, anna):
    owner_client.cookies["django_language"] = "en"
    body = owner_client.get(card(anna)).content.decode()
    assert "Placed an order" in body


def test_timeline_is_newest_first_and_loads_more(owner_client, anna, frozen_time):
    for n in range(35):
        event_record(
            customer=anna,
            type="note_added",
            properties={"text": f"note {n:02d}"},
            occurred_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n),
        )
    page1 = owner_client.get(card(anna)).context["timeline"]
    texts = [dict((str(k), v) for k, v in i.details).get("Текст") for i in page1.rows]
    assert texts[0] is None  # the order event, placed "now", is the newest
    assert texts[1] == "note 34"
    assert page1.has_next
    more = owner_client.get(action("customer_timeline", anna), {"page": 2}, HTTP_HX_REQUEST="true")
    body = more.content.decode()
    assert "note 05" in body and "note 00" in body and "note 06" not in body
    assert "<html" not in body


def test_card_query_count_is_bounded(owner_client, anna, django_assert_max_num_queries):
    for n in range(20):
        note_add(customer=anna, author=None, text=f"n{n}")
        OrderFactory(customer=anna)
    # One query per section of the card (churn reasons and their suggestions included;
    # points: account, lots, history, the staff to choose a personal manager from;
    # the inbox's conversations; the tier section: tiers, the customer's tier and window
    # totals), none per row.
    with django_assert_max_num_queries(33):
        owner_client.get(card(anna))


def test_merged_customer_redirects_to_the_survivor(owner_client, anna):
    other = CustomerFactory()
    Customer.objects.filter(pk=other.pk).update(merged_into=anna)
    response = owner_client.get(card(other))
    assert response["Location"] == card(anna)


def test_missing_customer_is_404(owner_client):
    assert owner_client.get(reverse("web:customer", kwargs={"pk": 999999})).status_code == 404


def test_add_note_fact_and_tags(support_client, anna):
    support_client.post(action("note_add", anna), {"text": "Просила перезвонить вечером"})
    support_client.post(action("fact_add", anna), {"category": "питомец", "text": "кот Барсик"})
    support_client.post(action("tag_add", anna), {"name": "йога"})
    assert Note.objects.get(customer=anna).text == "Просила перезвонить вечером"
    fact = Fact.objects.get(customer=anna)
    assert (fact.category, fact.text) == ("питомец", "кот Барсик")
    assert list(anna.tags.values_list("name", flat=True)) == ["йога"]
    assert set(Event.objects.filter(customer=anna).values_list("type", flat=True)) >= {
        "note_added",
        "fact_added",
        "tag_added",
    }
    support_client.post(action("tag_remove", anna), {"name": "йога"})
    assert not anna.tags.exists()
    assert AuditLog.objects.filter(action="customer.tag_add").exists()
    assert AuditLog.objects.filter(action="customer.tag_remove").exists()


def test_empty_note_is_refused(support_client, anna):
    response = support_client.post(action("note_add", anna), {"text": "  "})
    assert response.status_code == 400
    assert not Note.objects.exists()


def test_staff_record_consent_with_a_reason(support_client, anna):
    response = support_client.post(
        action("consent_record", anna),
        {"channel": "sms", "purpose": "marketing", "granted": "0", "reason": "просила по телефону"},
    )
    assert response.status_code == 302
    consent = Consent.objects.get(customer=anna)
    assert (consent.channel, consent.granted, consent.source, consent.form) == (
        "sms",
        False,
        "staff",
        "просила по телефону",
    )
    assert AuditLog.objects.filter(action="consent.record", actor__role=Role.SUPPORT).exists()
    assert "Отозвала согласие" in support_client.get(card(anna)).content.decode()


def test_add_task_from_the_card(support_client, anna):
    response = support_client.post(
        action("task_add", anna), {"title": "Позвонить", "due": "2026-03-05", "kind": "call"}
    )
    assert response.status_code == 302
    task = Task.objects.get(customer=anna)
    assert (task.title, task.kind, task.assignee) == ("Позвонить", "call", None)
    assert task.created_by.username == "support"


def test_analyst_sees_no_write_forms(anna):
    client = logged_in(staff(Role.ANALYST))
    body = client.get(card(anna)).content.decode()
    assert action("note_add", anna) not in body
    assert client.post(action("note_add", anna), {"text": "x"}).status_code == 403


def test_merge_asks_for_confirmation_then_merges(support_client, anna):
    duplicate = CustomerFactory(email="anna.dup@example.ru", phone="")
    OrderFactory(customer=duplicate, total=Decimal("500.00"))
    first = support_client.post(
        action("customer_merge", anna), {"duplicate": "anna.dup@example.ru"}
    )
    assert first.status_code == 200
    assert "anna.dup@example.ru" in first.content.decode()
    assert Customer.objects.get(pk=duplicate.pk).merged_into is None
    second = support_client.post(
        action("customer_merge", anna), {"duplicate": str(duplicate.pk), "confirm": "1"}
    )
    assert second.status_code == 302
    assert Customer.objects.get(pk=duplicate.pk).merged_into_id == anna.pk
    assert Order.objects.filter(customer=anna).count() == 2
    anna.refresh_from_db()
    assert anna.total_spent == Decimal("3000.00")


def test_merge_of_an_unknown_customer_shows_an_error(support_client, anna):
    response = support_client.post(action("customer_merge", anna), {"duplicate": "nobody@x.ru"})
    assert response.status_code == 400
    assert "Нет другого активного клиента" in response.content.decode()


def test_merge_with_itself_is_refused(support_client, anna):
    response = support_client.post(
        action("customer_merge", anna), {"duplicate": str(anna.pk), "confirm": "1"}
    )
    assert response.status_code == 400
