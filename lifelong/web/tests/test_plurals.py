"""Counts and money read as people say them: 1 заказ, 3 заказа, 5 заказов; forecasts in whole
roubles."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, TaskFactory
from lifelong.segments.models import CustomerState

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("orders", "word"), [(1, "заказ"), (3, "заказа"), (5, "заказов"), (21, "заказ")]
)
def test_the_card_counts_orders_in_russian(owner_client, orders, word):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(orders_count=orders)
    body = owner_client.get(
        reverse("web:customer", kwargs={"pk": customer.pk}), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    assert f'<span class="num">{orders}</span><span>{word}</span>' in body


def test_the_home_page_counts_tasks_and_customers_in_russian(owner_client):
    TaskFactory()  # its customer is the only one
    body = owner_client.get(reverse("web:home"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "<span>открытая задача</span>" in body
    assert "<span>клиент</span>" in body


def test_forecasts_show_whole_roubles(owner_client):
    customer = CustomerFactory()
    CustomerState.objects.update_or_create(
        customer=customer, defaults={"predicted_clv": Decimal("12345.67"), "stage": "repeat"}
    )
    body = owner_client.get(
        reverse("web:customer", kwargs={"pk": customer.pk}), HTTP_ACCEPT_LANGUAGE="ru"
    ).content.decode()
    assert "12\xa0346\xa0₽" in body
    assert "12\xa0345,67" not in body


def test_overdue_tasks_agree_with_their_count(owner_client, django_user_model, frozen_time):
    owner = django_user_model.objects.get(role="owner")
    TaskFactory(assignee=owner, due_at=clock.now() - dt.timedelta(days=1))
    body = owner_client.get(reverse("web:home"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "<span>моя задача просрочена</span>" in body
