"""CLV scoring: P(alive), expected purchases, predicted CLV and the loyalty value per customer.

The daily sweep `clv_scores_refresh` summarises the order history per customer in SQL
(one GROUP BY over purchase days, never one row per order into Python), fits BG/NBD and
Gamma-Gamma with `lifelong.analytics`, scores every buyer with NumPy and writes all
scores back with one UPDATE ... FROM a scratch table. It also refits on all but the last
`holdout_weeks` and stores how well that forecast the holdout (the calibration report).

Time is in weeks and a purchase is a day with at least one counted order, in the
business time zone (settings.TIME_ZONE), as in `analytics.transactions.rfm_summary`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    F,
    FloatField,
    OuterRef,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from lifelong import clock
from lifelong.analytics.bgnbd import (
    BGNBDParams,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_probability_alive,
    bgnbd_probability_purchase,
)
from lifelong.analytics.gamma_gamma import (
    GammaGammaParams,
    customer_lifetime_value,
    gamma_gamma_fit,
)
from lifelong.commerce.models import Order
from lifelong.commerce.services import COUNTED
from lifelong.customers.models import Customer
from lifelong.events.field_limits import amount_limit
from lifelong.events.models import Event
from lifelong.segments.models import ClvModelFit, ClvProblem, ClvSettings, CustomerState
from lifelong.segments.services import customer_states_ensure
from lifelong.segments.sql import (
    analyze,
    compiled,
    execute,
    fetch,
    quote,
    scratch_fill,
    scratch_table,
    sweep_memory,
    table_of,
    update_from,
)

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
WEEK = 7.0
EXPECTED_HORIZON_DAYS = 90
# Calibration report rows: customers grouped by repeat purchases in the calibration
# period, 0, 1, ..., 6 and "7 or more".
REPORT_GROUPS = 8
# Fewer buyers than this say nothing about the population; no fit is stored.
MIN_CUSTOMERS = 10
# With fewer customers who bought on two different days, BG/NBD's purchase rate and
# dropout rest on a handful of people (on nobody at all in a shop of one-time buyers or
# with one day of history): the fit is recorded as unable to forecast instead.
MIN_REPEAT_BUYERS = 5
LOOKUP_CHUNK = 5_000
SCORES = (
    "p_alive",
    "expected_purchases_90d",
    "p_purchase_90d",
    "predicted_clv",
    "referral_value",
    "engagement_value",
    "loyalty_value",
)

MONEY_SCORES = ("predicted_clv", "referral_value", "engagement_value", "loyalty_value")


@dataclass(frozen=True, slots=True)
class PurchaseDays:
    """Per buyer, from their purchase days up to `today` (day numbers since 1970).

    `holdout_days` counts purchase days after `calibration_end`; `last_calibration_day`
    is -1 when all of a customer's days come after it.
    """

    customer_ids: npt.NDArray[np.int64]
    first_day: npt.NDArray[np.int64]
    last_day: npt.NDArray[np.int64]
    days: npt.NDArray[np.int64]
    total: FloatArray
    first_amount: FloatArray
    last_calibration_day: npt.NDArray[np.int64]
    calibration_days: npt.NDArray[np.int64]
    today: int
    calibration_end: int

    def __len__(self) -> int:
        return int(self.customer_ids.shape[0])

    def frequency(self) -> FloatArray:
        return (self.days - 1).astype(np.float64)

    def recency(self) -> FloatArray:
        return (self.last_day - self.first_day) / WEEK

    def age(self) -> FloatArray:
        return (self.today - self.first_day) / WEEK

    def monetary_value(self) -> FloatArray:
        """Mean net amount of the repeat purchase days (the first one is left out)."""
        repeats = self.frequency()
        spent = self.total - self.first_amount
        return np.divide(spent, repeats, out=np.zeros_like(spent), where=repeats > 0)


def _day_number(column: str) -> str:
    """SQL for a DATE column as days since 1970-01-01."""
    if connection.vendor == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _local_day(moment: dt.datetime) -> int:
    local = timezone.localtime(moment).date()
    return (local - dt.date(1970, 1, 1)).days


def purchase_days(*, now: dt.datetime, holdout_weeks: int) -> PurchaseDays:
    """One row per buyer, aggregated in SQL from the counted orders placed up to `now`.

    Orders are first summed per (customer, local day), then per customer; a window
    gives each customer's first day so its amount can be left out of the mean spend.
    """
    today = _local_day(now)
    calibration_end = today - holdout_weeks * 7
    per_day = (
        Order.objects.filter(COUNTED, placed_at__lte=now)
        .order_by()
        .annotate(day=TruncDate("placed_at"))
        .values("customer_id", "day")
        .annotate(amount=Sum(F("total") - F("refunded_total")))
        .values("customer_id", "day", "amount")
    )
    inner, params = compiled(per_day)
    day = _day_number("d.day")
    sql = f"""
        SELECT customer_id, MIN(day) AS first_day, MAX(day) AS last_day, COUNT(*) AS days,
               CAST(SUM(amount) AS double precision),
               CAST(SUM(CASE WHEN day = first_day THEN amount ELSE 0 END) AS double precision),
               COALESCE(MAX(CASE WHEN day <= %s THEN day END), -1),
               SUM(CASE WHEN day <= %s THEN 1 ELSE 0 END)
        FROM (
            SELECT d.customer_id AS customer_id, {day} AS day, d.amount AS amount,
                   MIN({day}) OVER (PARTITION BY d.customer_id) AS first_day
            FROM ({inner}) AS d
        ) AS days
        GROUP BY customer_id
        ORDER BY customer_id
    """  # noqa: S608 - names and compiled ORM SQL only
    rows = fetch(sql, [calibration_end, calibration_end, *params])
    table = np.array(rows, dtype=np.float64).reshape(-1, 8)
    whole = table.astype(np.int64)
    return PurchaseDays(
        customer_ids=whole[:, 0],
        first_day=whole[:, 1],
        last_day=whole[:, 2],
        days=whole[:, 3],
        total=table[:, 4],
        first_amount=table[:, 5],
        last_calibration_day=whole[:, 6],
        calibration_days=whole[:, 7],
        today=today,
        calibration_end=calibration_end,
    )


class NoForecast(Exception):
    """The history cannot support a forecast; `problem` says why."""

    def __init__(self, problem: ClvProblem) -> None:
        super().__init__(problem.label)
        self.problem = problem


def _fit_purchases(*, frequency: FloatArray, recency: FloatArray, age: FloatArray) -> BGNBDParams:
    """BG/NBD on this history, or NoForecast when it has too few repeat buyers for one."""
    if int(np.count_nonzero(frequency > 0)) < MIN_REPEAT_BUYERS:
        raise NoForecast(ClvProblem.FEW_REPEAT_BUYERS)
    try:
        return bgnbd_fit(frequency=frequency, recency=recency, age=age)
    except RuntimeError as exc:
        raise NoForecast(ClvProblem.NOT_FINITE) from exc


def forecast_require_finite(*values: FloatArray | float) -> None:
    """NoForecast unless every number is finite: NaN and infinity reach no score, report
    or chart (the stored JSON refuses them anyway, but the page should say why)."""
    if not all(np.all(np.isfinite(value)) for value in values):
        raise NoForecast(ClvProblem.NOT_FINITE)


def calibration_report(
    *,
    frequency: FloatArray,
    recency: FloatArray,
    age: FloatArray,
    holdout_frequency: FloatArray,
    holdout_weeks: float,
) -> dict[str, Any]:
    """Fit BG/NBD on the calibration period and compare its forecast with the holdout.

    Returns JSON-ready data: the calibration parameters, one row per group of
    calibration repeat purchases (0..6, "7+") with customers, mean actual and mean
    predicted holdout purchases, and the mean absolute error per customer.
    Raises NoForecast when the calibration period cannot support a forecast.
    """
    params = _fit_purchases(frequency=frequency, recency=recency, age=age)
    predicted = bgnbd_expected_purchases(
        params=params, horizon=holdout_weeks, frequency=frequency, recency=recency, age=age
    )
    forecast_require_finite(params.as_array(), predicted)
    group = np.minimum(frequency, REPORT_GROUPS - 1).astype(np.intp)
    customers = np.bincount(group, minlength=REPORT_GROUPS)
    actual_sum = np.bincount(group, holdout_frequency, minlength=REPORT_GROUPS)
    predicted_sum = np.bincount(group, predicted, minlength=REPORT_GROUPS)
    shown = np.maximum(customers, 1)
    rows = [
        {
            "frequency": f"{n}+" if n == REPORT_GROUPS - 1 else str(n),
            "customers": int(customers[n]),
            "actual": round(float(actual_sum[n] / shown[n]), 4),
            "predicted": round(float(predicted_sum[n] / shown[n]), 4),
        }
        for n in range(REPORT_GROUPS)
        if customers[n]
    ]
    return {
        **_holdout_counts(frequency, holdout_frequency, holdout_weeks),
        "bgnbd": _bgnbd_json(params),
        "rows": rows,
        "predicted_total": round(float(predicted.sum()), 2),
        "mae": round(float(np.mean(np.abs(predicted - holdout_frequency))), 4),
    }


def _holdout_counts(
    frequency: FloatArray, holdout_frequency: FloatArray, holdout_weeks: float
) -> dict[str, Any]:
    """What the calibration report says whether or not the model could forecast."""
    return {
        "holdout_weeks": float(holdout_weeks),
        "customers": int(frequency.shape[0]),
        "repeat_customers": int(np.count_nonzero(frequency > 0)),
        "actual_total": round(float(holdout_frequency.sum()), 2),
    }


def _bgnbd_json(params: BGNBDParams) -> dict[str, float]:
    return {"r": params.r, "alpha": params.alpha, "a": params.a, "b": params.b}


def _calibration(summary: PurchaseDays, holdout_weeks: int) -> dict[str, Any] | None:
    started = summary.first_day <= summary.calibration_end
    if int(started.sum()) < MIN_CUSTOMERS:
        return None
    first = summary.first_day[started]
    frequency = (summary.calibration_days[started] - 1).astype(np.float64)
    holdout = (summary.days - summary.calibration_days)[started].astype(np.float64)
    try:
        report = calibration_report(
            frequency=frequency,
            recency=(summary.last_calibration_day[started] - first) / WEEK,
            age=(summary.calibration_end - first) / WEEK,
            holdout_frequency=holdout,
            holdout_weeks=float(holdout_weeks),
        )
    except NoForecast as no_forecast:
        report = {
            **_holdout_counts(frequency, holdout, float(holdout_weeks)),
            "problem": no_forecast.problem.value,
        }
    end = dt.date(1970, 1, 1) + dt.timedelta(days=summary.calibration_end)
    report["calibration_end"] = end.isoformat()
    return report


@dataclass(frozen=True, slots=True)
class Scores:
    """Model scores of the buyers in `PurchaseDays` order."""

    bgnbd: BGNBDParams
    gamma_gamma: GammaGammaParams | None
    p_alive: FloatArray
    expected_purchases_90d: FloatArray
    p_purchase_90d: FloatArray
    predicted_clv: FloatArray  # NaN where no spend model could be fitted


def scores_compute(summary: PurchaseDays, *, settings: ClvSettings) -> Scores:
    """Fit both models on everyone's whole history and score every buyer.

    Raises NoForecast when the history cannot support a forecast.
    """
    frequency, recency, age = summary.frequency(), summary.recency(), summary.age()
    monetary = summary.monetary_value()
    bgnbd = _fit_purchases(frequency=frequency, recency=recency, age=age)
    p_alive = bgnbd_probability_alive(params=bgnbd, frequency=frequency, recency=recency, age=age)
    expected = bgnbd_expected_purchases(
        params=bgnbd,
        horizon=EXPECTED_HORIZON_DAYS / WEEK,
        frequency=frequency,
        recency=recency,
        age=age,
    )
    p_purchase = bgnbd_probability_purchase(
        params=bgnbd,
        horizon=EXPECTED_HORIZON_DAYS / WEEK,
        frequency=frequency,
        recency=recency,
        age=age,
    )
    forecast_require_finite(bgnbd.as_array(), bgnbd.log_likelihood, p_alive, expected, p_purchase)
    spend: GammaGammaParams | None = None
    clv = np.full(len(summary), np.nan)
    try:
        spend = gamma_gamma_fit(frequency=frequency, monetary_value=monetary)
    except (ValueError, RuntimeError):
        log.warning("clv_spend_model_not_fitted", extra={"customers": len(summary)})
    # q <= 1 means an infinite mean spend: the data cannot support a value forecast.
    if spend is not None and spend.q > 1.0:
        clv = customer_lifetime_value(
            bgnbd=bgnbd,
            gamma_gamma=spend,
            frequency=frequency,
            recency=recency,
            age=age,
            monetary_value=monetary,
            months=settings.months,
            monthly_discount_rate=float(settings.monthly_discount_rate),
        )
        forecast_require_finite(clv)
        clv = np.maximum(clv, 0.0)
    else:
        spend = None
    return Scores(
        bgnbd=bgnbd,
        gamma_gamma=spend,
        p_alive=np.clip(p_alive, 0.0, 1.0),
        expected_purchases_90d=expected,
        p_purchase_90d=np.clip(p_purchase, 0.0, 1.0),
        predicted_clv=clv,
    )


def referral_values() -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Net revenue of the customers each customer brought: (referrer ids, values).

    A customer brought another when one of their `referral_converted` events names the
    other (`properties.friend_id`; the loyalty referrals write it when a referral converts),
    or when the other's `Customer.attributes["referred_by"]` holds their external id (sent
    by the shop). A friend named both ways counts once, for the event. Grouped in SQL; only
    the referrers' ids are looked up.
    """
    converted = Event.objects.filter(
        type="referral_converted", customer__merged_into__isnull=True
    ).annotate(friend=Cast(KT("properties__friend_id"), BigIntegerField()))
    totals: dict[int, Decimal] = {}
    for pk, value in (
        converted.annotate(
            spent=Subquery(Customer.objects.filter(pk=OuterRef("friend")).values("total_spent"))
        )
        .order_by()
        .values("customer_id")
        .annotate(value=Sum("spent"))
        .values_list("customer_id", "value")
    ):
        if pk is not None:
            totals[pk] = Decimal(value or 0)
    by_external = dict(
        Customer.objects.live()
        .filter(attributes__has_key="referred_by")
        .exclude(pk__in=converted.filter(friend__isnull=False).values("friend"))
        .order_by()
        .annotate(ref=KT("attributes__referred_by"))
        .values("ref")
        .annotate(value=Sum("total_spent"))
        .values_list("ref", "value")
    )
    refs = [ref for ref in by_external if ref]
    for start in range(0, len(refs), LOOKUP_CHUNK):
        found = (
            Customer.objects.live()
            .filter(external_id__in=refs[start : start + LOOKUP_CHUNK])
            .values_list("pk", "external_id")
        )
        for pk, external_id in found:
            totals[pk] = totals.get(pk, Decimal(0)) + Decimal(by_external[external_id] or 0)
    ids = np.array(list(totals), dtype=np.int64)
    values = np.array([float(value) for value in totals.values()], dtype=np.float64)
    return ids, values


def engagement_values(
    *, now: dt.datetime, settings: ClvSettings
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Weighted count of engagement events in the window: (customer ids, values)."""
    weights = {kind: weight for kind, weight in settings.engagement_weights().items() if weight}
    if not weights:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    weighted = Case(
        *[When(type=kind, then=Value(float(weight))) for kind, weight in weights.items()],
        default=Value(0.0),
        output_field=FloatField(),
    )
    rows = list(
        Event.objects.filter(
            customer__isnull=False,
            type__in=list(weights),
            occurred_at__gt=now - dt.timedelta(days=settings.engagement_days),
            occurred_at__lte=now,
        )
        .order_by()
        .values("customer_id")
        .annotate(value=Sum(weighted))
        .values_list("customer_id", "value")
    )
    table = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return table[:, 0].astype(np.int64), table[:, 1]


def _spread(
    ids: npt.NDArray[np.int64], into: npt.NDArray[np.int64], values: FloatArray
) -> FloatArray:
    """Values keyed by `ids` laid out along the sorted `into` (NaN where absent)."""
    out = np.full(into.shape[0], np.nan)
    if ids.shape[0]:
        out[np.searchsorted(into, ids)] = values
    return out


def clv_scores_refresh() -> ClvModelFit | None:
    """Sweep (daily): fit the CLV models and store every customer's scores.

    Writes CustomerState.p_alive, expected_purchases_90d, predicted_clv (next
    `ClvSettings.months` months, discounted), referral_value, engagement_value and
    loyalty_value, clears them for customers who no longer have any, and records the
    fit with its calibration report as a ClvModelFit. Returns None (and writes no
    model scores) when fewer than MIN_CUSTOMERS buyers have a history. A history that
    cannot support a forecast (too few repeat buyers) is recorded as a fit with its
    `problem` and no model scores.
    """
    started = time.perf_counter()
    now = clock.now()
    settings = ClvSettings.current()
    with transaction.atomic():
        sweep_memory()
        summary = purchase_days(now=now, holdout_weeks=settings.holdout_weeks)
    scores: Scores | None = None
    problem: ClvProblem | None = None
    if len(summary) >= MIN_CUSTOMERS:
        try:
            scores = scores_compute(summary, settings=settings)
        except NoForecast as no_forecast:
            problem = no_forecast.problem
            log.info("clv_no_forecast", extra={"problem": problem.value, "customers": len(summary)})
    calibration = _calibration(summary, settings.holdout_weeks) if scores else None
    referrers, referral = referral_values()
    engaged, engagement = engagement_values(now=now, settings=settings)

    ids = np.unique(
        np.concatenate(
            [summary.customer_ids if scores else np.zeros(0, np.int64), referrers, engaged]
        )
    )
    columns = {name: np.full(ids.shape[0], np.nan) for name in SCORES}
    if scores is not None:
        at = np.searchsorted(ids, summary.customer_ids)
        columns["p_alive"][at] = scores.p_alive
        columns["expected_purchases_90d"][at] = scores.expected_purchases_90d
        columns["p_purchase_90d"][at] = scores.p_purchase_90d
        columns["predicted_clv"][at] = np.round(scores.predicted_clv, 2)
    columns["referral_value"] = np.round(_spread(referrers, ids, referral), 2)
    columns["engagement_value"] = np.round(_spread(engaged, ids, engagement), 2)
    parts = np.column_stack(
        [columns[name] for name in ("predicted_clv", "referral_value", "engagement_value")]
    )
    loyalty = np.nansum(parts, axis=1)
    columns["loyalty_value"] = np.where(
        np.all(np.isnan(parts), axis=1) | (loyalty == 0), np.nan, np.round(loyalty, 2)
    )
    for name in MONEY_SCORES:
        # A forecast can outgrow the spend it comes from: one beyond what its column
        # holds is kept as the largest amount there (NaN, "no value", stays NaN).
        largest = amount_limit(CustomerState, name).ceiling - Decimal("0.01")
        columns[name] = np.minimum(columns[name], float(largest))
    with transaction.atomic():
        sweep_memory()
        customer_states_ensure()
        _scores_write(ids, columns)
        if scores is None and problem is None:
            return None
        return ClvModelFit.objects.create(
            fitted_at=now,
            duration_seconds=round(time.perf_counter() - started, 3),
            customers=len(summary),
            repeat_customers=int(np.count_nonzero(summary.days > 1)),
            problem=problem or "",
            bgnbd=None if scores is None else _bgnbd_json(scores.bgnbd),
            log_likelihood=None if scores is None else scores.bgnbd.log_likelihood,
            gamma_gamma=None
            if scores is None or scores.gamma_gamma is None
            else {
                "p": scores.gamma_gamma.p,
                "q": scores.gamma_gamma.q,
                "gamma": scores.gamma_gamma.gamma,
            },
            months=settings.months,
            monthly_discount_rate=settings.monthly_discount_rate,
            calibration=calibration,
        )


def _scores_write(ids: npt.NDArray[np.int64], columns: dict[str, FloatArray]) -> None:
    """One UPDATE ... FROM a scratch table; rows not in it lose their scores."""
    states = table_of(CustomerState)
    definition = ", ".join(
        ["customer_id bigint PRIMARY KEY"] + [f"{n} double precision" for n in SCORES]
    )
    with scratch_table("segments_clv_scores", definition) as table:
        scratch_fill(table, ids, [columns[name] for name in SCORES])
        analyze(table)
        # NaN marks "no value" in the arrays (SQLite already bound it as NULL).
        values = ", ".join(f"NULLIF({quote(n)}, 'NaN') AS {quote(n)}" for n in SCORES)
        update_from(
            CustomerState,
            key="customer_id",
            select=f"(SELECT customer_id, {values} FROM {table})",  # noqa: S608 - names only
            select_key="customer_id",
            columns={name: name for name in SCORES},
        )
        scored = " OR ".join(f"{quote(n)} IS NOT NULL" for n in SCORES)
        clear = ", ".join(f"{quote(n)} = NULL" for n in SCORES)
        execute(
            f"UPDATE {states} SET {clear} WHERE ({scored}) AND NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM {table} AS s WHERE s.customer_id = {states}.customer_id)"
        )
