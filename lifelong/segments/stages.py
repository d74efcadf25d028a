"""The lifecycle stage of a customer as one SQL CASE over the order summary.

Rules, first match wins (docs/segments.md explains the defaults):
lead (no counted order) > churned > sleeping > at_risk > loyal > repeat > new.
At risk is the silence rule, or, when `LifecycleRules.at_risk_below_p_alive` is set,
a stored P(alive) below it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import (
    Case,
    CharField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Value,
    When,
)
from django.db.models.functions import Floor, Greatest, Least
from django.db.models.lookups import GreaterThan

from lifelong.segments.models import LifecycleRules, Stage

DAY = 86400.0


class Epoch(Func):
    """Seconds since 1970 of a datetime column, as a float, on PostgreSQL and SQLite.

    Stage rules compare per-customer durations (own gap between orders against the
    silence since the last one); plain numbers keep that arithmetic portable.
    """

    output_field = FloatField()
    template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) AS double precision)"
    arity = 1

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores UTC datetimes as ISO text; 2440587.5 is the Julian day of 1970-01-01.
        # julianday() is a float of days, good to ~40 microseconds: rounding to the
        # millisecond keeps boundaries ("exactly twice the gap") exact.
        return super().as_sql(
            compiler,
            connection,
            template="(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400000.0) / 1000.0)",
            **extra,
        )


def _at_risk_after(rules: LifecycleRules, prefix: str) -> ExpressionWrapper:
    """Seconds of silence after which the customer reached through `prefix` is at risk."""
    count = F(f"{prefix}orders_count")
    last = f"{prefix}last_order_at"
    own_gap = ExpressionWrapper(
        (Epoch(last) - Epoch(f"{prefix}first_order_at")) / (count - 1),
        output_field=FloatField(),
    )
    gap = Case(
        When(**{f"{prefix}orders_count__gte": 2}, then=own_gap),
        default=Value(rules.default_gap_days * DAY),
        output_field=FloatField(),
    )
    return ExpressionWrapper(
        Value(float(rules.at_risk_factor)) * Greatest(gap, Value(rules.min_gap_days * DAY)),
        output_field=FloatField(),
    )


def stage_expression(
    rules: LifecycleRules, *, now: dt.datetime, prefix: str = "", p_alive: str = "p_alive"
) -> Case:
    """CASE expression giving the stage of the customer row reached through `prefix`.

    `p_alive` names the CustomerState column holding P(alive), as seen from the query.
    """
    last = f"{prefix}last_order_at"
    silence = ExpressionWrapper(Value(now.timestamp()) - Epoch(last), output_field=FloatField())
    at_risk_after = _at_risk_after(rules, prefix)

    def before(days: int) -> dict[str, dt.datetime]:
        return {f"{last}__lt": now - dt.timedelta(days=days)}

    return Case(
        When(**{f"{prefix}orders_count": 0}, then=Value(Stage.LEAD.value)),
        When(**{f"{last}__isnull": True}, then=Value(Stage.LEAD.value)),
        When(**before(rules.churned_after_days), then=Value(Stage.CHURNED.value)),
        When(**before(rules.sleeping_after_days), then=Value(Stage.SLEEPING.value)),
        When(GreaterThan(silence, at_risk_after), then=Value(Stage.AT_RISK.value)),
        *(
            []
            if rules.at_risk_below_p_alive is None
            else [
                When(
                    **{f"{p_alive}__lt": float(rules.at_risk_below_p_alive)},
                    then=Value(Stage.AT_RISK.value),
                )
            ]
        ),
        When(
            **{
                f"{prefix}orders_count__gte": rules.loyal_min_orders,
                f"{last}__gte": now - dt.timedelta(days=rules.loyal_within_days),
            },
            then=Value(Stage.LOYAL.value),
        ),
        When(**{f"{prefix}orders_count__gte": 2}, then=Value(Stage.REPEAT.value)),
        default=Value(Stage.NEW.value),
        output_field=CharField(),
    )


def stage_start_expression(rules: LifecycleRules, *, now: dt.datetime, stage: str) -> Func:
    """Whole seconds since 1970 at which the customer's data says `stage` (an annotation
    holding the stage) began, never after `now`.

    The moment each rule first held: churned and sleeping the day their silence passed
    the threshold, at risk when it passed k x the own gap (the P(alive) rule has no such
    moment: now), new at the first order, repeat and loyal at the last order (the one
    that kept them there), a lead when the customer record was created. So a history
    imported at once, or the demo's, gets believable dates instead of the day of the run.
    """
    last = Epoch("last_order_at")

    def after(days: int) -> ExpressionWrapper:
        return ExpressionWrapper(last + Value(days * DAY), output_field=FloatField())

    start = Case(
        When(**{stage: Stage.LEAD.value}, then=Epoch("created_at")),
        When(**{stage: Stage.CHURNED.value}, then=after(rules.churned_after_days)),
        When(**{stage: Stage.SLEEPING.value}, then=after(rules.sleeping_after_days)),
        When(
            **{stage: Stage.AT_RISK.value},
            then=ExpressionWrapper(last + _at_risk_after(rules, ""), output_field=FloatField()),
        ),
        When(**{stage: Stage.NEW.value}, then=Epoch("first_order_at")),
        default=last,
        output_field=FloatField(),
    )
    return Floor(Least(start, Value(float(int(now.timestamp())))))
