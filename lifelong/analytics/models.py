"""Rollup tables behind the dashboard, rebuilt from orders and stages by `analytics_rollup`.

The dashboard reads only these tables (a few hundred rows), never the orders themselves,
so it stays fast at millions of orders. Every row can be recomputed from the facts:
`rollups_rebuild` does exactly that. Days and months are in the business's time zone
(settings.TIME_ZONE).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from lifelong.lib.finite_json import FiniteJSONEncoder


class DailyMetrics(models.Model):
    """Counted orders of one day: how many, how much, by whom, and how much of it was repeat.

    A repeat order is one placed after the customer's first counted order; a new
    customer is one whose first counted order fell on this day.
    """

    day = models.DateField(_("day"), unique=True)
    orders = models.PositiveIntegerField(_("orders"), default=0)
    revenue = models.DecimalField(
        _("revenue"), max_digits=16, decimal_places=2, default=Decimal("0")
    )
    buyers = models.PositiveIntegerField(_("buyers"), default=0)
    new_customers = models.PositiveIntegerField(_("new customers"), default=0)
    repeat_orders = models.PositiveIntegerField(_("repeat orders"), default=0)
    repeat_revenue = models.DecimalField(
        _("repeat revenue"), max_digits=16, decimal_places=2, default=Decimal("0")
    )

    class Meta:
        ordering = ["day"]


class CohortMonth(models.Model):
    """Customers whose first order fell in `cohort` month, seen buying again in `month`."""

    cohort = models.DateField(_("cohort"))  # first day of the month of the first order
    month = models.DateField(_("month"))  # first day of the month of activity
    offset = models.PositiveSmallIntegerField(_("months since first order"))
    customers = models.PositiveIntegerField(_("active customers"), default=0)
    revenue = models.DecimalField(
        _("revenue"), max_digits=16, decimal_places=2, default=Decimal("0")
    )

    class Meta:
        ordering = ["cohort", "offset"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "month"], name="cohort_month_unique")
        ]
        indexes = [models.Index(fields=["month"])]


class StageCount(models.Model):
    """How many customers were in each lifecycle stage when the day's last rollup ran."""

    day = models.DateField(_("day"))
    stage = models.CharField(_("stage"), max_length=16)
    customers = models.PositiveIntegerField(_("customers"), default=0)

    class Meta:
        ordering = ["day", "stage"]
        constraints = [models.UniqueConstraint(fields=["day", "stage"], name="stage_count_unique")]


class StageFlow(models.Model):
    """Lifecycle transitions of one day, from StageChange; a first classification has no from."""

    day = models.DateField(_("day"))
    from_stage = models.CharField(_("from"), max_length=16, blank=True)
    to_stage = models.CharField(_("to"), max_length=16)
    customers = models.PositiveIntegerField(_("customers"), default=0)

    class Meta:
        ordering = ["day", "from_stage", "to_stage"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "from_stage", "to_stage"], name="stage_flow_unique"
            )
        ]


class RollupState(models.Model):
    """The one row of whole-base figures and bookkeeping of the rollup sweep.

    `kpis` holds, per period length in days ("30", "90", "365"), the raw counts of the
    current window and the ones before it (see `lifelong.analytics.metrics`); `lorenz`
    the revenue concentration curve; `value_histogram` the distribution of predicted
    CLV, or of spend while no CLV is predicted. Journeys' results are not here: the
    dashboard reads them live, as the journey pages do, so the figures agree.
    """

    computed_at = models.DateTimeField(_("computed"), null=True, blank=True)
    rebuilt_at = models.DateTimeField(_("fully rebuilt"), null=True, blank=True)
    kpis = models.JSONField(default=dict, encoder=FiniteJSONEncoder)
    lorenz = models.JSONField(default=list, encoder=FiniteJSONEncoder)
    value_histogram = models.JSONField(default=dict, encoder=FiniteJSONEncoder)

    @classmethod
    def current(cls) -> RollupState:
        state, _created = cls.objects.get_or_create(pk=1)
        return state
