"""The card's P(alive) never contradicts the stage.

BG/NBD gives every one-time buyer P(alive) = 1 by construction; drawn as a green 100 %
gauge beside "Churned" it said the opposite of the stage. One-time buyers get the chance of
a purchase in the next 90 days instead; the gauge is for repeat buyers the stage does not
call churned.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.segments.models import CustomerState, Stage
from lifelong.segments.scoring import clv_scores_refresh
from lifelong.segments.services import stages_refresh
from lifelong.segments.tests.test_scoring import shop

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def p_alive_cell(body: str) -> str:
    match = re.search(r'<dd data-score="p_alive">(.*?)</dd>', body, re.S)
    assert match, "the card has no P(alive) row"
    return match.group(1)


def buyer(orders_days_ago: list[int], p_alive: float):
    customer = CustomerFactory.create()
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


def test_a_scored_one_time_buyer_gets_the_chance_of_a_purchase_falling_with_silence(
    analyst, frozen_time
):
    shop(np.random.default_rng(3), customers=40)
    lapsed, fresh = buyer([500], p_alive=1.0), buyer([3], p_alive=1.0)
    clv_scores_refresh()
    states = {s.customer_id: s for s in CustomerState.objects.filter(pk__in=[lapsed.pk, fresh.pk])}
    assert states[lapsed.pk].stage == Stage.CHURNED and states[lapsed.pk].p_alive == 1.0
    assert 0 < states[lapsed.pk].p_purchase_90d < states[fresh.pk].p_purchase_90d < 1
    body = card(analyst, lapsed)
    assert '<dd data-score="p_alive">' not in body
    chance = re.search(r'<dd data-score="p_purchase_90d">(\d+)%</dd>', body)
    assert chance and int(chance.group(1)) == round(states[lapsed.pk].p_purchase_90d * 100)
    assert "Шанс покупки за 90 дней" in body
