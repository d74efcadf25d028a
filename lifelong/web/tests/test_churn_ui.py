"""Churn reasons: recorded on the customer card, split preventable vs natural on the dashboard."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from lifelong.accounts.models import Role
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.segments.models import ChurnKind, ChurnReason
from lifelong.segments.services import churn_reason_record
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db


def add_url(customer) -> str:
    return reverse("web:churn_reason_add", kwargs={"pk": customer.pk})


def card_url(customer) -> str:
    return reverse("web:customer", kwargs={"pk": customer.pk})


def test_support_records_a_reason_from_the_card(frozen_time):
    agent = staff(Role.SUPPORT, "agent")
    customer = CustomerFactory()
    client = logged_in(agent)
    client.cookies["django_language"] = "en"

    response = client.post(
        add_url(customer), {"reason": "  Delivery took three weeks ", "kind": "preventable"}
    )

    assert response.status_code == 302
    assert response["Location"] == card_url(customer) + "#churn"
    churn = ChurnReason.objects.get(customer=customer)
    assert (churn.kind, churn.reason, churn.recorded_by) == (
        ChurnKind.PREVENTABLE,
        "Delivery took three weeks",
        agent,
    )
    assert Event.objects.filter(customer=customer, type="churn_reason_recorded").exists()
    body = client.get(card_url(customer)).content.decode()
    assert "Why did they leave?" in body
    assert "Delivery took three weeks" in body and "Preventable" in body
    assert "agent" in body
    assert add_url(customer) in body  # the form is there for editors


def test_card_in_russian_lists_reasons_newest_first(frozen_time):
    customer = CustomerFactory()
    churn_reason_record(customer=customer, kind="natural", reason="Переехала в другой город")
    frozen_time.shift(dt.timedelta(days=1))
    churn_reason_record(customer=customer, kind="preventable", reason="Дорогая доставка")
    response = logged_in(staff(Role.OWNER)).get(card_url(customer))
    reasons = [churn.reason for churn in response.context["churn_reasons"]]
    assert reasons == ["Дорогая доставка", "Переехала в другой город"]
    body = response.content.decode()
    assert body.index("Дорогая доставка") < body.index("Переехала в другой город")


def test_analyst_sees_reasons_but_cannot_record_one():
    customer = CustomerFactory()
    churn_reason_record(customer=customer, kind="natural", reason="Moved away")
    client = logged_in(staff(Role.ANALYST))
    body = client.get(card_url(customer)).content.decode()
    assert "Moved away" in body
    assert add_url(customer) not in body
    response = client.post(add_url(customer), {"reason": "x", "kind": "natural"})
    assert response.status_code == 403
    assert ChurnReason.objects.count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {"reason": "   ", "kind": "preventable"},
        {"reason": "Price", "kind": "bored"},
        {"reason": "Price", "kind": ""},
        {"reason": "x" * 201, "kind": "natural"},
    ],
)
def test_invalid_reason_is_not_recorded_and_says_why(data):
    customer = CustomerFactory()
    client = logged_in(staff(Role.MARKETER))
    client.cookies["django_language"] = "en"
    response = client.post(add_url(customer), data, follow=True)
    assert response.status_code == 200
    assert not ChurnReason.objects.exists()
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_unknown_customer_is_404():
    response = logged_in(staff(Role.OWNER)).post(
        reverse("web:churn_reason_add", kwargs={"pk": 999999}),
        {"reason": "Price", "kind": "natural"},
    )
    assert response.status_code == 404


def record(kind: str, reason: str, times: int) -> None:
    for _ in range(times):
        churn_reason_record(customer=CustomerFactory.create(), kind=kind, reason=reason)


def test_form_suggests_the_reasons_used_most():
    record("natural", "Moved away", 1)
    record("preventable", "Delivery too slow", 3)
    record("preventable", "Prices went up", 2)
    customer = CustomerFactory()
    response = logged_in(staff(Role.SUPPORT)).get(card_url(customer))
    assert response.context["churn_suggestions"] == [
        "Delivery too slow",
        "Prices went up",
        "Moved away",
    ]
    body = response.content.decode()
    assert 'list="churn-suggestions"' in body
    assert '<option value="Delivery too slow">' in body
    # Readers get the reasons, not the form and its suggestions.
    analyst = logged_in(staff(Role.ANALYST)).get(card_url(customer))
    assert "churn_suggestions" not in analyst.context


def test_dashboard_splits_preventable_and_natural_with_top_reasons(frozen_time):
    record("natural", "Moved to another city", 3)
    frozen_time.shift(dt.timedelta(days=60))
    record("preventable", "Delivery too slow", 3)
    record("preventable", "Rude support", 1)
    record("preventable", "Prices went up", 2)
    record("natural", "Moved to another city", 1)
    record("natural", "No longer needs it", 1)
    client = logged_in(staff(Role.ANALYST))
    client.cookies["django_language"] = "en"

    month = client.get(reverse("web:dashboard"), {"period": "30"})
    churn = month.context["churn"]
    assert churn.total == 8
    preventable, natural = churn.kinds
    assert (preventable.kind, preventable.count, preventable.percent) == ("preventable", 6, 75.0)
    assert preventable.top == [
        ("Delivery too slow", 3),
        ("Prices went up", 2),
        ("Rude support", 1),
    ]
    assert (natural.count, natural.percent) == (2, 25.0)
    assert natural.top == [("Moved to another city", 1), ("No longer needs it", 1)]
    body = month.content.decode()
    assert "Why customers left" in body and "Delivery too slow" in body

    # The older reasons count in the longer period.
    quarter = client.get(reverse("web:dashboard"), {"period": "90"}).context["churn"]
    assert quarter.total == 11
    assert quarter.kinds[1].top[0] == ("Moved to another city", 4)


def test_dashboard_shows_at_most_five_top_reasons_per_kind(frozen_time):
    for n in range(7):
        record("preventable", f"Reason {n}", n + 1)
    churn = logged_in(staff(Role.OWNER)).get(reverse("web:dashboard")).context["churn"]
    assert [reason for reason, _n in churn.kinds[0].top] == [f"Reason {n}" for n in range(6, 1, -1)]
    assert churn.kinds[0].count == sum(range(1, 8))
    assert (churn.kinds[1].count, churn.kinds[1].percent, churn.kinds[1].top) == (0, 0.0, [])


def test_dashboard_without_reasons_says_how_to_record_them():
    client = logged_in(staff(Role.OWNER))
    client.cookies["django_language"] = "en"
    body = client.get(reverse("web:dashboard")).content.decode()
    assert "No churn reasons recorded in this period" in body


@pytest.mark.parametrize("reasons", [1, 12])
def test_dashboard_reads_the_reasons_in_one_query(django_assert_num_queries, reasons):
    for n in range(reasons):
        record("preventable" if n % 2 else "natural", f"Reason {n % 4}", 1)
    client = logged_in(staff(Role.OWNER))
    # session, user, rollup state (none yet: the page stops there), the grouped reasons,
    # the feedback digest's themes and NPS
    with django_assert_num_queries(6):
        response = client.get(reverse("web:dashboard"))
    assert response.context["churn"].total == reasons
