"""A count beside a noun agrees with it in Russian: 1 заказ, 3 заказа, 5 заказов."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, TaskFactory

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
