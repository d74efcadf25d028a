"""CLV scoring sweep: model scores, the calibration report, loyalty value and the P(alive) rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from lifelong import clock
from lifelong.analytics.bgnbd import (
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_probability_alive,
)
from lifelong.analytics.gamma_gamma import customer_lifetime_value, gamma_gamma_fit
from lifelong.analytics.models import RollupState
from lifelong.analytics.transactions import rfm_summary
from lifelong.commerce.models import Order, OrderStatus
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.models import Customer
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.segments.models import (
    ClvModelFit,
    ClvProblem,
    ClvSettings,
    CustomerState,
    LifecycleRules,
    Stage,
)
from lifelong.segments.rules import rules_parse
from lifelong.segments.scoring import (
    NoForecast,
    calibration_report,
    clv_scores_refresh,
    forecast_require_finite,
)
from lifelong.segments.services import segment_count, stages_refresh
from lifelong.segments.tests.helpers import buyer

pytestmark = pytest.mark.django_db


def shop(rng: np.random.Generator, customers: int = 40) -> list[Customer]:
    """Buyers with 1..8 orders over the past year and a cancelled order each.

    Each buyer has their own typical basket and their orders vary around it: the spend
    heterogeneity the Gamma-Gamma model describes.
    """
    everyone = []
    for n in range(customers):
        days = rng.choice(np.arange(1, 360), size=int(rng.integers(1, 9)), replace=False)
        typical = rng.gamma(3.0, 600.0)
        amounts = np.round(rng.gamma(10.0, typical / 10.0, size=days.shape[0]), 2) + 1
        customer = CustomerFactory.create()
        for day, amount in zip(days.tolist(), amounts.tolist(), strict=True):
            OrderFactory(
                customer=customer,
                placed_at=clock.now() - dt.timedelta(days=day, hours=n % 5),
                total=Decimal(str(amount)),
            )
        OrderFactory(customer=customer, status=OrderStatus.CANCELLED, total=Decimal("99999"))
        everyone.append(customer)
    customer_summaries_refresh([c.pk for c in everyone])
    return everyone


def test_scores_match_the_analytics_functions(frozen_time):
    customers = shop(np.random.default_rng(7))
    lead = CustomerFactory()
    fit = clv_scores_refresh()
    assert fit is not None and fit.customers == len(customers)

    orders = list(
        Order.objects.exclude(status=OrderStatus.CANCELLED).values_list(
            "customer_id", "placed_at", "total"
        )
    )
    summary = rfm_summary(
        customer_ids=np.array([o[0] for o in orders]),
        dates=np.array([timezone.localtime(o[1]).date() for o in orders], dtype="datetime64[D]"),
        amounts=np.array([float(o[2]) for o in orders]),
        observation_end=timezone.localdate(),
    )
    x, t_x, T = summary.frequency, summary.recency, summary.age
    params = bgnbd_fit(frequency=x, recency=t_x, age=T)
    spend = gamma_gamma_fit(frequency=x, monetary_value=summary.monetary_value)
    alive = bgnbd_probability_alive(params=params, frequency=x, recency=t_x, age=T)
    expected = bgnbd_expected_purchases(
        params=params, horizon=90 / 7, frequency=x, recency=t_x, age=T
    )
    clv = customer_lifetime_value(
        bgnbd=params,
        gamma_gamma=spend,
        frequency=x,
        recency=t_x,
        age=T,
        monetary_value=summary.monetary_value,
        months=12,
        monthly_discount_rate=0.01,
    )
    # Both routes fit the same data; the optimiser stops within about 1e-6 of the optimum.
    assert fit.bgnbd["r"] == pytest.approx(params.r, rel=1e-5)
    assert fit.gamma_gamma["q"] == pytest.approx(spend.q, rel=1e-5)
    states = {s.customer_id: s for s in CustomerState.objects.all()}
    for i, pk in enumerate(summary.customer_ids.tolist()):
        state = states[pk]
        assert 0.0 <= state.p_alive <= 1.0
        assert state.p_alive == pytest.approx(alive[i], abs=1e-9)
        assert state.expected_purchases_90d == pytest.approx(expected[i], abs=1e-9)
        assert state.predicted_clv >= 0
        assert float(state.predicted_clv) == pytest.approx(clv[i], abs=0.011)
        assert state.loyalty_value == state.predicted_clv
    assert states[lead.pk].p_alive is None
    assert states[lead.pk].predicted_clv is None
    assert states[lead.pk].loyalty_value is None


def test_customers_who_lose_their_orders_lose_their_scores(frozen_time):
    customers = shop(np.random.default_rng(3), customers=15)
    clv_scores_refresh()
    gone = customers[0]
    Order.objects.filter(customer=gone).update(status=OrderStatus.CANCELLED)
    customer_summaries_refresh([gone.pk])
    clv_scores_refresh()
    state = CustomerState.objects.get(customer=gone)
    assert (state.p_alive, state.predicted_clv, state.loyalty_value) == (None, None, None)
    assert CustomerState.objects.filter(p_alive__isnull=False).count() == 14


def test_too_few_buyers_store_no_fit(frozen_time):
    buyer(10, 5)
    assert clv_scores_refresh() is None
    assert not ClvModelFit.objects.exists()
    assert not CustomerState.objects.filter(p_alive__isnull=False).exists()


def test_loyalty_value_parts(frozen_time):
    shop(np.random.default_rng(11), customers=15)
    referrer = buyer(30, 20, 10, customer=CustomerFactory(external_id="REF-1"))
    for spent, ref in ((Decimal("1000"), "REF-1"), (Decimal("500"), "REF-1"), (Decimal("70"), "X")):
        brought = buyer(5, total=spent)
        Customer.objects.filter(pk=brought.pk).update(attributes={"referred_by": ref})
    now = clock.now()
    for kind, days in (("review_posted", 10), ("review_posted", 100), ("survey_answered", 3)):
        event_record(customer=referrer, type=kind, occurred_at=now - dt.timedelta(days=days))
    event_record(customer=referrer, type="review_posted", occurred_at=now - dt.timedelta(days=400))
    event_record(customer=referrer, type="email_opened", occurred_at=now - dt.timedelta(days=1))
    fan = CustomerFactory()  # no orders: engagement only
    event_record(customer=fan, type="community_post", occurred_at=now - dt.timedelta(days=2))

    clv_scores_refresh()
    state = CustomerState.objects.get(customer=referrer)
    assert state.referral_value == Decimal("1500.00")
    assert state.engagement_value == Decimal("700.00")  # 2 reviews x 300 + a survey 100
    assert state.loyalty_value == state.predicted_clv + Decimal("2200.00")
    fan_state = CustomerState.objects.get(customer=fan)
    assert fan_state.predicted_clv is None
    assert fan_state.loyalty_value == fan_state.engagement_value == Decimal("150.00")

    ClvSettings.objects.filter(pk=1).update(weight_review_posted=Decimal("10"))
    clv_scores_refresh()
    assert CustomerState.objects.get(customer=referrer).engagement_value == Decimal("120.00")


def simulate_bgnbd(rng: np.random.Generator, customers: int, weeks: int) -> list[list[int]]:
    """Purchase days per customer drawn from the BG/NBD process (r, alpha, a, b in weeks)."""
    r, alpha, a, b = 0.5, 6.0, 0.7, 3.0
    histories = []
    for _ in range(customers):
        rate, drop = rng.gamma(r, 1 / alpha), rng.beta(a, b)
        t = rng.uniform(0, weeks / 2)
        purchases = [t]
        while rng.random() >= drop:
            t += rng.exponential(1 / rate)
            if t >= weeks:
                break
            purchases.append(t)
        histories.append([int(p * 7) for p in purchases])
    return histories


def test_calibration_report_on_the_bgnbd_process(frozen_time):
    weeks = 104
    histories = simulate_bgnbd(np.random.default_rng(2024), 1500, weeks)
    start = clock.now() - dt.timedelta(weeks=weeks)
    customers = Customer.objects.bulk_create(
        [Customer(external_id=f"S{n}", last_name=f"S{n}") for n in range(len(histories))]
    )
    Order.objects.bulk_create(
        [
            Order(
                external_id=f"S{n}-{k}",
                customer=customer,
                total=Decimal("1000"),
                placed_at=start + dt.timedelta(days=day, hours=12),
            )
            for n, (customer, days) in enumerate(zip(customers, histories, strict=True))
            for k, day in enumerate(days)
        ]
    )
    fit = clv_scores_refresh()
    assert fit is not None
    report = fit.calibration
    assert report["holdout_weeks"] == 26
    assert report["calibration_end"] == (timezone.localdate() - dt.timedelta(weeks=26)).isoformat()
    assert [row["frequency"] for row in report["rows"]][:3] == ["0", "1", "2"]
    assert report["rows"][-1]["frequency"] == "7+"
    assert report["predicted_total"] == pytest.approx(report["actual_total"], rel=0.15)
    for row in report["rows"]:
        if row["customers"] >= 100:
            assert row["predicted"] == pytest.approx(row["actual"], abs=0.25), row
    assert 0 < report["mae"] < 1.5


def test_calibration_report_groups_and_error():
    # Everyone starts within the first 39 weeks, so before the calibration end at 52.
    histories = simulate_bgnbd(np.random.default_rng(2), 400, 78)
    calibration_end = 52 * 7
    frequency, recency, age, holdout = (np.zeros(len(histories)) for _ in range(4))
    for n, history in enumerate(histories):
        days = sorted(set(history))
        before = [d for d in days if d <= calibration_end]
        frequency[n] = len(before) - 1
        recency[n] = (before[-1] - before[0]) / 7
        age[n] = (calibration_end - before[0]) / 7
        holdout[n] = len(days) - len(before)
    report = calibration_report(
        frequency=frequency, recency=recency, age=age, holdout_frequency=holdout, holdout_weeks=26
    )
    group = np.minimum(frequency, 7)
    expected_rows = [
        (f"{n}+" if n == 7 else str(n), int((group == n).sum()), float(holdout[group == n].mean()))
        for n in range(8)
        if (group == n).any()
    ]
    assert [(r["frequency"], r["customers"], r["actual"]) for r in report["rows"]] == [
        (label, count, pytest.approx(actual, abs=1e-4)) for label, count, actual in expected_rows
    ]
    assert report["actual_total"] == holdout.sum()
    assert report["customers"] == 400
    assert set(report["bgnbd"]) == {"r", "alpha", "a", "b"}
    assert report["mae"] > 0


def test_p_alive_stage_rule(frozen_time):
    regular = buyer(40, 10)  # repeat by the silence rule
    fresh = buyer(50, 30, 20, 10)
    CustomerState.objects.update_or_create(customer=regular, defaults={"p_alive": 0.3})
    CustomerState.objects.update_or_create(customer=fresh, defaults={"p_alive": 0.9})
    stages_refresh()
    assert CustomerState.objects.get(customer=regular).stage == Stage.REPEAT  # rule is off

    LifecycleRules.objects.update_or_create(
        pk=1, defaults={"at_risk_below_p_alive": Decimal("0.50")}
    )
    stages_refresh()
    assert CustomerState.objects.get(customer=regular).stage == Stage.AT_RISK
    assert CustomerState.objects.get(customer=fresh).stage == Stage.REPEAT


def test_p_alive_rule_with_scores_from_the_sweep(frozen_time):
    # Half the shop buys steadily every two weeks, half bought weekly for ten weeks and
    # stopped: the fitted model learns that people drop out.
    for n in range(12):
        buyer(*range(1 + n, 200, 14))
        buyer(*range(70 + 5 * n, 140 + 5 * n, 7))
    lapsed = buyer(*range(60, 130, 7))
    clv_scores_refresh()
    p_alive = CustomerState.objects.get(customer=lapsed).p_alive
    assert p_alive < 0.2
    LifecycleRules.objects.update_or_create(
        pk=1, defaults={"at_risk_below_p_alive": Decimal("0.20"), "at_risk_factor": Decimal("20")}
    )
    stages_refresh()
    assert CustomerState.objects.get(customer=lapsed).stage == Stage.AT_RISK


def test_score_conditions_on_model_scores(frozen_time):
    shop(np.random.default_rng(9), customers=20)
    clv_scores_refresh()
    states = CustomerState.objects.filter(p_alive__isnull=False)
    below = states.filter(p_alive__lt=0.5).count()
    rich = states.filter(predicted_clv__gte=2000).count()
    assert (
        segment_count(
            rules={"rules": [{"kind": "score", "field": "p_alive", "op": "lt", "value": 0.5}]}
        )
        == below
    )
    assert (
        segment_count(
            rules={
                "rules": [{"kind": "score", "field": "predicted_clv", "op": "gte", "value": 2000}]
            }
        )
        == rich
    )
    negated = {"kind": "score", "field": "p_alive", "op": "lt", "value": 0.5, "negate": True}
    # Customers without a score (the lead) are "not below", so the negation includes them.
    CustomerFactory()
    assert segment_count(rules={"rules": [negated]}) == Customer.objects.count() - below


@pytest.mark.parametrize(
    "condition",
    [
        {"kind": "score", "field": "p_alive", "op": "lt", "value": 1.5},
        {"kind": "score", "field": "p_alive", "op": "in", "value": [0.5]},
        {"kind": "score", "field": "predicted_clv", "op": "gte", "value": "much"},
        {"kind": "score", "field": "rfm_recency", "op": "gte", "value": 2.5},
    ],
)
def test_model_score_conditions_are_validated(condition):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        rules_parse({"rules": [condition]})


def test_a_calibration_period_without_repeat_buyers_says_so(frozen_time, client):
    """Everyone came back, but only in the holdout: the fit forecasts, its check cannot."""
    for n in range(12):
        buyer(300 + n, 20 + n, 5 + n)
    fit = clv_scores_refresh()
    assert fit is not None and fit.problem == "" and fit.bgnbd is not None
    report = fit.calibration
    assert report["problem"] == ClvProblem.FEW_REPEAT_BUYERS
    assert (report["customers"], report["repeat_customers"], report["actual_total"]) == (12, 0, 24)
    assert "rows" not in report and "mae" not in report
    client.force_login(UserFactory(password=None))
    client.cookies["django_language"] = "en"
    response = client.get(reverse("web:clv_report"))
    body = response.content.decode()
    assert "only 0 of 12 buyers had bought on two different days" in body
    assert response.context["chart"] is None and 'id="clv-data"' not in body


def test_a_forecast_that_is_not_finite_is_refused():
    forecast_require_finite(np.array([0.5, 1.0]), 2.0)
    for bad in (np.array([0.5, np.nan]), np.array([np.inf]), float("-inf")):
        with pytest.raises(NoForecast) as refused:
            forecast_require_finite(np.array([1.0]), bad)
        assert refused.value.problem == ClvProblem.NOT_FINITE


def test_stored_reports_refuse_nan_and_infinity(frozen_time):
    settings = ClvSettings.current()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="not JSON compliant"), transaction.atomic():
            ClvModelFit.objects.create(
                bgnbd={"r": 1.0, "alpha": 1.0, "a": 1.0, "b": bad},
                log_likelihood=-1.0,
                months=settings.months,
                monthly_discount_rate=settings.monthly_discount_rate,
            )
        with pytest.raises(ValueError, match="not JSON compliant"), transaction.atomic():
            RollupState.objects.create(kpis={"30": {"revenue": bad}})
    assert not ClvModelFit.objects.exists()
