"""The card's P(alive) never contradicts the stage.

BG/NBD gives every one-time buyer P(alive) = 1 by construction; drawn as a green 100 %
gauge beside "Churned" it said the opposite of the stage. The gauge is for repeat buyers
the stage does not call churned.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.segments.models import CustomerState, Stage
from lifelong.segments.services import stages_refresh

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def p_alive_cell(body: str) -> str:
    match = re.search(r'<dd data-score="p_alive">(.*?)</dd>', body, re.S)
    assert match, "the card has no P(alive) row"
    return match.group(1)


def buyer(orders_days_ago: list[int], p_alive: float):
    customer = CustomerFactory()
    for days in orders_days_ago:
        OrderFactory(customer=customer, placed_at=clock.now() - DAY * days)
    customer_summaries_refresh([customer.pk])
    stages_refresh()
    CustomerState.objects.filter(customer=customer).update(
        p_alive=p_alive, expected_purchases_90d=0.02
    )
    return customer


@pytest.fixture
def analyst(db):
    return client_for(UserFactory.create(username="analyst", role=Role.ANALYST))


def card(client, customer) -> str:
    return client.get(reverse("web:customer", kwargs={"pk": customer.pk})).content.decode()


def test_a_churned_one_time_buyer_shows_no_alive_gauge(analyst, frozen_time):
    customer = buyer([500], p_alive=1.0)
    assert CustomerState.objects.get(customer=customer).stage == Stage.CHURNED
    cell = p_alive_cell(card(analyst, customer))
    assert "<meter" not in cell and "100%" not in cell
    assert "пока один заказ" in cell


def test_a_churned_repeat_buyer_gets_the_figure_without_a_gauge(analyst, frozen_time):
    customer = buyer([800, 500], p_alive=0.81)
    assert CustomerState.objects.get(customer=customer).stage == Stage.CHURNED
    cell = p_alive_cell(card(analyst, customer))
    assert "<meter" not in cell and "81%" in cell


def test_a_repeat_buyer_still_buying_gets_the_gauge(analyst, frozen_time):
    customer = buyer([60, 30, 5], p_alive=0.93)
    assert CustomerState.objects.get(customer=customer).stage == Stage.REPEAT
    cell = p_alive_cell(card(analyst, customer))
    assert '<meter min="0" max="1"' in cell and 'value="0.930"' in cell
