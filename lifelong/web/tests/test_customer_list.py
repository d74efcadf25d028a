"""The customer list: search, filters, sorting, paging and a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from lifelong.customers.models import Customer
from lifelong.customers.services import customer_tags_add
from lifelong.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = reverse("web:customers")


def names(response) -> list[str]:
    return [c.last_name for c in response.context["page"].rows]


@pytest.fixture
def people(db):
    return {
        "ivanova": CustomerFactory(
            last_name="Иванова",
            first_name="Анна",
            patronymic="Сергеевна",
            email="anna@mail.ru",
            phone="+79161234567",
        ),
        "petrov": CustomerFactory(
            last_name="Петров",
            first_name="Иван",
            patronymic="",
            gender="m",
            email="petrov@yandex.ru",
            phone="+79037654321",
        ),
        "smith": CustomerFactory(
            last_name="Smith", first_name="John", email="john@example.com", phone="+442079460000"
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("иванова", ["Иванова"]),
        ("ИВАН", ["Иванова", "Петров"]),  # last name of one, first name of the other
        ("сергеевна", ["Иванова"]),
        ("Иванова Анна", ["Иванова"]),
        ("иванова пётр", []),
        ("smi", ["Smith"]),
        ("PETROV@yandex.ru", ["Петров"]),
        ("anna@", ["Иванова"]),
        ("8 (916) 123-45-67", ["Иванова"]),
        ("+7 916 123 45 67", ["Иванова"]),
        ("4567", ["Иванова"]),
        ("7654", ["Петров"]),
    ],
)
def test_search(owner_client, people, query, expected):
    response = owner_client.get(URL, {"q": query})
    assert response.status_code == 200
    assert sorted(names(response)) == sorted(expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Соловьева", ["Соловьёва"]),
        ("соловьёва", ["Соловьёва"]),
        ("Алена", ["Соловьёва"]),
        ("Фёдоров", ["Федоров"]),
        ("ПЁТР", ["Федоров"]),
    ],
)
def test_search_reads_yo_as_ye(owner_client, db, query, expected):
    """ё and е are one letter to a searcher, whichever of them is stored or typed."""
    CustomerFactory(last_name="Соловьёва", first_name="Алёна")
    CustomerFactory(last_name="Федоров", first_name="Пётр")
    CustomerFactory(last_name="Соловьянова", first_name="Анна")
    assert names(owner_client.get(URL, {"q": query})) == expected


def test_merged_customers_are_hidden(owner_client, people):
    Customer.objects.filter(pk=people["smith"].pk).update(merged_into=people["petrov"])
    assert "Smith" not in names(owner_client.get(URL))


def test_filters(owner_client, people, frozen_time):
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    Customer.objects.filter(pk=people["ivanova"].pk).update(
        orders_count=2, last_order_at=now - dt.timedelta(days=40), total_spent=Decimal("5000")
    )
    Customer.objects.filter(pk=people["petrov"].pk).update(
        orders_count=1, last_order_at=now, source="ozon"
    )
    customer_tags_add(customer=people["smith"], names=["vip"])
    assert names(owner_client.get(URL, {"status": "leads"})) == ["Smith"]
    assert sorted(names(owner_client.get(URL, {"status": "buyers"}))) == ["Иванова", "Петров"]
    assert names(owner_client.get(URL, {"tag": "vip"})) == ["Smith"]
    assert names(owner_client.get(URL, {"source": "ozon"})) == ["Петров"]
    assert names(owner_client.get(URL, {"last_order_before": "2026-02-01"})) == ["Иванова"]
    assert names(owner_client.get(URL, {"last_order_after": "2026-02-01"})) == ["Петров"]


def test_sorting(owner_client, people):
    Customer.objects.filter(pk=people["ivanova"].pk).update(total_spent=Decimal("100"))
    Customer.objects.filter(pk=people["petrov"].pk).update(total_spent=Decimal("900"))
    assert names(owner_client.get(URL, {"sort": "-total_spent"})) == ["Петров", "Иванова", "Smith"]
    assert names(owner_client.get(URL, {"sort": "total_spent"})) == ["Smith", "Иванова", "Петров"]
    # Customers who never ordered sort last whichever way.
    assert names(owner_client.get(URL, {"sort": "last_order"}))[-1] in {
        "Smith",
        "Иванова",
        "Петров",
    }


def test_pages_of_fifty(owner_client):
    CustomerFactory.create_batch(51)
    first = owner_client.get(URL)
    assert len(first.context["page"].rows) == 50
    assert first.context["page"].has_next
    second = owner_client.get(URL, {"page": 2})
    assert len(second.context["page"].rows) == 1
    assert not second.context["page"].has_next


@pytest.mark.parametrize("rows", [5, 50])
def test_query_count_does_not_grow_with_rows(owner_client, django_assert_num_queries, rows):
    for customer in CustomerFactory.create_batch(rows):
        customer_tags_add(customer=customer, names=["vip", f"t{customer.pk}"])
    # session, user, customers page, their tags
    with django_assert_num_queries(4):
        response = owner_client.get(URL, {"q": "Иванова", "sort": "-orders"})
    assert len(response.context["page"].rows) == rows
    assert "vip" in response.content.decode()


def test_htmx_request_gets_only_the_results(owner_client, people):
    response = owner_client.get(URL, {"q": "smith"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="customer-results">')
    assert "Smith" in body
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]
