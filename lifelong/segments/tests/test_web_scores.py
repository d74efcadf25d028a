"""The scores panel on the customer card and the CLV model page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.segments.models import ClvModelFit, ClvProblem, CustomerState, Stage
from lifelong.segments.scoring import clv_scores_refresh
from lifelong.segments.services import stages_refresh
from lifelong.segments.tests.test_scoring import shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client):
    client.force_login(UserFactory(username="analyst", role=Role.ANALYST, password=None))
    return client


def card(customer) -> str:
    return reverse("web:customer", kwargs={"pk": customer.pk})


def test_card_shows_scores_and_loyalty_parts(client, frozen_time):
    # A repeat buyer: P(alive) is drawn as a gauge only for them.
    customer = CustomerFactory(orders_count=6)
    CustomerState.objects.create(
        customer=customer,
        stage=Stage.LOYAL,
        p_alive=0.8765,
        expected_purchases_90d=1.25,
        predicted_clv=Decimal("12345.60"),
        referral_value=Decimal("1500.00"),
        engagement_value=Decimal("700.00"),
        loyalty_value=Decimal("14545.60"),
    )
    client.cookies["django_language"] = "en"
    body = client.get(card(customer)).content.decode()
    assert 'id="scores"' in body
    assert "Loyal" in body
    assert 'value="0.876"' in body and "88%" in body
    assert "1.25" in body
    # Forecasts in whole roubles.
    assert "12,346\u00a0₽" in body
    for part in ("14,546", "1,500", "700"):
        assert part in body.split("Loyalty value", 1)[1]


def test_card_without_state_says_not_computed(client):
    customer = CustomerFactory()
    client.cookies["django_language"] = "en"
    assert "Not computed yet" in client.get(card(customer)).content.decode()


def test_card_scores_cost_one_query(client, frozen_time):
    customers = shop(np.random.default_rng(1), customers=12)
    stages_refresh()
    clv_scores_refresh()
    counts = []
    for customer in (customers[0], customers[5]):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(card(customer))
        assert response.context["scores"].p_alive is not None
        counts.append(len(queries))
        sqls = [q["sql"] for q in queries.captured_queries]
        assert sum("segments_customerstate" in sql for sql in sqls) == 1
    assert counts[0] == counts[1]


def test_clv_page_before_the_first_fit(client):
    client.cookies["django_language"] = "en"
    body = client.get(reverse("web:clv_report")).content.decode()
    assert "has not been fitted yet" in body


def test_clv_page_shows_parameters_and_calibration(client, frozen_time, django_assert_num_queries):
    ClvModelFit.objects.create(
        bgnbd={"r": 0.2431, "alpha": 4.4136, "a": 0.7929, "b": 2.4259},
        log_likelihood=-9582.4,
        gamma_gamma={"p": 6.25, "q": 3.74, "gamma": 15.44},
        customers=2357,
        repeat_customers=946,
        months=12,
        monthly_discount_rate=Decimal("0.01"),
        calibration={
            "calibration_end": "2025-09-01",
            "holdout_weeks": 26.0,
            "customers": 2000,
            "bgnbd": {"r": 0.25, "alpha": 4.5, "a": 0.8, "b": 2.5},
            "rows": [
                {"frequency": "0", "customers": 1400, "actual": 0.23, "predicted": 0.21},
                {"frequency": "7+", "customers": 20, "actual": 4.1, "predicted": 3.9},
            ],
            "actual_total": 1234,
            "predicted_total": 1200.5,
            "mae": 0.6123,
        },
    )
    client.cookies["django_language"] = "en"
    with django_assert_num_queries(3):  # session, user, the fits
        response = client.get(reverse("web:clv_report"))
    body = response.content.decode()
    assert "0.2431" in body and "4.4136" in body and "15.44" in body
    assert "0.612" in body and "7+" in body
    assert 'id="clv-data"' in body and "chart.umd.min.js" in body
    assert response.context["chart"]["predicted"] == [0.21, 3.9]


def test_clv_page_says_when_a_fit_gave_no_finite_forecast(client, frozen_time):
    common = {"customers": 40, "repeat_customers": 12, "months": 12}
    ClvModelFit.objects.create(
        fitted_at=clock.now() - dt.timedelta(days=1),
        bgnbd={"r": 0.2431, "alpha": 4.4136, "a": 0.7929, "b": 2.4259},
        log_likelihood=-321.9,
        monthly_discount_rate=Decimal("0.01"),
        **common,
    )
    ClvModelFit.objects.create(
        problem=ClvProblem.NOT_FINITE, monthly_discount_rate=Decimal("0.01"), **common
    )
    client.cookies["django_language"] = "en"
    body = client.get(reverse("web:clv_report")).content.decode()
    assert "No forecast yet" in body and "gave no finite forecast" in body
    assert 'id="bgnbd"' not in body and 'id="clv-data"' not in body
    # The earlier fit stays in the history, the latest names its problem there.
    assert "-321.9" in body and "the model gave no finite forecast for this history" in body
    client.cookies["django_language"] = "ru"
    body = client.get(reverse("web:clv_report")).content.decode()
    assert "Прогноза пока нет" in body and "не дала конечного прогноза" in body
