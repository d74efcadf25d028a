"""Every sweep on small and odd shops, and one failing sweep never stops the others.

Small shops are the first users: ten customers, nobody who bought twice, one day of
history, and the demo shop moved a few simulated days. Whatever a fit can or cannot say,
no NaN or infinity reaches storage, the pages or their charts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.services import api_key_create
from lifelong.analytics.models import RollupState
from lifelong.celery import SweepFailed, run_sweep
from lifelong.cli import main
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.conftest import client_for
from lifelong.customers.models import Customer
from lifelong.demo.generator import demo_build
from lifelong.events.models import IdempotentRequest
from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.jobs import sweeps
from lifelong.jobs.schedule import EmbeddedScheduler
from lifelong.segments.models import ClvModelFit, ClvProblem, CustomerState
from lifelong.segments.scoring import SCORES

DAY = dt.timedelta(days=1)
FAILING = sweeps.Sweep("test.fails", f"{__name__}:sweep_that_fails", 1)
RAN = threading.Event()
NOTING = sweeps.Sweep("test.notes", f"{__name__}:sweep_that_notes", 1)


def sweep_that_fails() -> None:
    raise RuntimeError("odd data")


def sweep_that_notes() -> None:
    RAN.set()


# Shops --------------------------------------------------------------------------------


def _buyers(days_ago: Sequence[Sequence[float]]) -> list[Customer]:
    """One customer per list, with an order that many days ago for each entry."""
    customers = []
    for n, history in enumerate(days_ago):
        customer = CustomerFactory.create()
        for k, ago in enumerate(history):
            OrderFactory.create(
                customer=customer,
                placed_at=clock.now() - dt.timedelta(days=ago),
                total=Decimal(1000 + 137 * n + 11 * k),
            )
        customers.append(customer)
    customer_summaries_refresh([c.pk for c in customers])
    return customers


def ten_customers() -> None:
    # Two of ten came back: too few to forecast from.
    _buyers([[300, 120], [200, 30]] + [[10 + 35 * n] for n in range(8)])


def no_repeat_buyers() -> None:
    _buyers([[5 + 12 * n] for n in range(30)])


def one_day_of_history() -> None:
    # Some bought twice, but on the same day: one purchase day each.
    _buyers([[0.2, 0.1] if n % 3 == 0 else [0.1] for n in range(15)])


def empty_shop() -> None:
    pass


SHOPS: dict[str, Callable[[], None]] = {
    "ten customers": ten_customers,
    "no repeat buyers": no_repeat_buyers,
    "one day of history": one_day_of_history,
    "empty": empty_shop,
}


def _assert_nothing_infinite() -> None:
    """No NaN or infinity in what the sweeps stored: CLV fits, scores, dashboard rollups."""
    for fit in ClvModelFit.objects.all():
        json.dumps([fit.bgnbd, fit.gamma_gamma, fit.calibration], allow_nan=False)
        assert fit.log_likelihood is None or math.isfinite(fit.log_likelihood)
        assert math.isfinite(fit.duration_seconds)
    for row in CustomerState.objects.values_list(*SCORES):
        assert all(value is None or math.isfinite(value) for value in row), row
    for state in RollupState.objects.all():
        json.dumps(
            [state.kpis, state.lorenz, state.value_histogram],
            allow_nan=False,
        )


def _pages_render(owner) -> dict[str, str]:
    client = client_for(owner)
    client.cookies["django_language"] = "en"
    bodies = {}
    for name in ("web:clv_report", "web:dashboard", "web:home"):
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        bodies[name] = response.content.decode()
    chart = bodies["web:clv_report"].partition('id="clv-data"')[2]
    assert "NaN" not in chart and "Infinity" not in chart
    return bodies


@pytest.mark.django_db
@pytest.mark.parametrize("shop", SHOPS)
def test_every_sweep_runs_on_a_small_shop(shop, frozen_time, owner):
    SHOPS[shop]()
    assert sweeps.run_all() == []
    frozen_time.shift(DAY)
    assert sweeps.run_all() == []
    _assert_nothing_infinite()
    body = _pages_render(owner)["web:clv_report"]
    fits = list(ClvModelFit.objects.all())
    if shop == "empty":
        assert fits == []
        return
    # Every shop here has at least ten buyers and fewer than five who bought twice.
    assert {fit.problem for fit in fits} == {ClvProblem.FEW_REPEAT_BUYERS}
    assert all(fit.bgnbd is None and fit.calibration is None for fit in fits)
    assert not CustomerState.objects.filter(p_alive__isnull=False).exists()
    assert "No forecast yet" in body
    repeat = {"ten customers": 2, "no repeat buyers": 0, "one day of history": 0}[shop]
    assert f"Only {repeat} of {fits[0].customers} buyers have bought on two different" in body


@pytest.mark.django_db
def test_the_forecast_says_so_in_russian(frozen_time, owner):
    no_repeat_buyers()
    assert sweeps.run_all() == []
    client = client_for(owner)
    client.cookies["django_language"] = "ru"
    body = client.get(reverse("web:clv_report")).content.decode()
    assert "Прогноза пока нет" in body
    assert "Только 0 из 30 покупателей" in body


@pytest.mark.django_db
# Both crashed while NaN could reach the calibration report (a fit with a and b in the millions).
@pytest.mark.parametrize(("customers", "seed"), [(200, 7), (1000, 42)])
def test_the_demo_moved_a_few_days(customers, seed, frozen_time, owner, capsys):
    """`lifelong demo` then `lifelong simulate`: every sweep every simulated day, no failure."""
    assert main(["demo", "--no-serve", "--customers", str(customers), "--seed", str(seed)]) == 0
    assert main(["simulate", "--days", "3"]) == 0
    assert "sweeps failed" not in capsys.readouterr().err
    _assert_nothing_infinite()
    fit = ClvModelFit.objects.first()
    assert fit is not None and fit.problem == "" and fit.bgnbd is not None
    assert fit.fitted_at > clock.now() - 2 * DAY
    assert CustomerState.objects.filter(expected_purchases_90d__isnull=False).count() > 0
    bodies = _pages_render(owner)
    if fit.calibration is not None and "problem" not in fit.calibration:
        assert 'id="clv-data"' in bodies["web:clv_report"]


# One failing sweep ----------------------------------------------------------------------


@pytest.fixture
def failing_first(monkeypatch, frozen_time):
    """A sweep that always fails, placed before the real ones, and a day-old idempotency key
    that the prune sweep after it forgets if it runs."""
    monkeypatch.setattr(sweeps, "SWEEPS", (FAILING, *sweeps.SWEEPS))
    key, _ = api_key_create(name="shop", scopes=["read"])
    return IdempotentRequest.objects.create(
        key="old", api_key=key, request_hash="h", created_at=clock.now() - 2 * DAY
    )


def _failure_logged(caplog) -> bool:
    return any(
        record.message == "sweep_failed" and getattr(record, "sweep", None) == FAILING.name
        for record in caplog.records
    )


@pytest.mark.django_db
def test_a_failing_sweep_leaves_the_others_running(failing_first, caplog):
    with caplog.at_level(logging.ERROR, logger="lifelong.jobs.sweeps"):
        assert sweeps.run_all() == [FAILING.name]
    assert not IdempotentRequest.objects.exists()
    assert _failure_logged(caplog)


@pytest.mark.django_db
def test_simulate_goes_on_past_a_failing_sweep_and_says_so(failing_first, capsys):
    demo_build(customers=20, seed=1)
    assert main(["simulate", "--days", "2"]) == 1
    err = capsys.readouterr().err
    assert "test.fails (2x)" in err
    assert not IdempotentRequest.objects.exists()


@pytest.mark.django_db
def test_a_celery_sweep_task_fails_alone_and_is_logged(failing_first, caplog):
    with caplog.at_level(logging.ERROR, logger="lifelong.jobs.sweeps"):
        failed = run_sweep.apply(args=(FAILING.name,))
    assert failed.failed() and isinstance(failed.result, SweepFailed)
    assert _failure_logged(caplog)
    assert run_sweep.apply(args=("idempotency.prune",)).successful()
    assert not IdempotentRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_embedded_scheduler_runs_the_next_sweep_after_a_failure(monkeypatch, caplog):
    monkeypatch.setattr(sweeps, "SWEEPS", (FAILING, NOTING))
    RAN.clear()
    scheduler = EmbeddedScheduler()
    with caplog.at_level(logging.ERROR, logger="lifelong.jobs.sweeps"):
        scheduler.start()
        try:
            assert RAN.wait(30)
        finally:
            scheduler.stop()
            scheduler.join(30)
    assert not scheduler.is_alive()
    assert _failure_logged(caplog)
