"""A campaign as the staff pages describe it: audience, channel, schedule, window, results.

The figures come from `campaigns.results.campaigns_results` (the one function every page
uses); the conversion, uplift and interval texts are the journeys' own (`result_texts`,
`forest_rows`), so a campaign's uplift reads and draws exactly like a journey's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext_lazy

from lifelong import clock
from lifelong.campaigns.models import (
    PREFERRED,
    AbMetric,
    Arm,
    Campaign,
    CampaignRun,
    Recurrence,
    RunStatus,
    SkipReason,
)
from lifelong.campaigns.results import ArmFigures, CampaignResults
from lifelong.campaigns.selectors import CAPPED, HOLDOUT, Preview
from lifelong.campaigns.services import CampaignError
from lifelong.customers.models import Channel
from lifelong.journeys.models import Journey
from lifelong.journeys.uplift import Arm as Counts
from lifelong.journeys.uplift import Results, results_compute
from lifelong.segments.models import Stage
from lifelong.web.forms_campaigns import GOALS, dates_text, stage_of
from lifelong.web.journey_results import DASH, ResultTexts, forest_rows, result_texts


def _count(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


def audience_text(campaign: Campaign) -> str:
    if campaign.segment_id is not None and campaign.segment is not None:
        return _("Segment «%(name)s»") % {"name": campaign.segment.name}
    stage = stage_of(campaign.rules)
    if stage is not None:
        return _("Customers at the stage «%(stage)s»") % {"stage": Stage(stage).label}
    rules = campaign.rules or {}
    # An empty "all of" group: everyone (the root of a stored tree is always a group).
    if not rules.get("rules") and rules.get("op", "and") == "and" and not rules.get("negate"):
        return _("Every customer")
    return _("Customers matching the campaign's own filter")


# A run's state as the progress block names it («Queued» alone would not say it is over).
RUN_STATUS = {
    RunStatus.QUEUEING: pgettext_lazy("campaign run", "Queueing"),
    RunStatus.TESTING: pgettext_lazy("campaign run", "Testing A and B"),
    RunStatus.QUEUEING_REST: pgettext_lazy("campaign run", "Queueing the winner"),
    RunStatus.DONE: pgettext_lazy("campaign run", "All queued"),
    RunStatus.CANCELLED: pgettext_lazy("campaign run", "Cancelled"),
}


def run_status_text(run: CampaignRun) -> str:
    return str(RUN_STATUS.get(RunStatus(run.status), run.status))


def channel_text(channel: str) -> str:
    if channel == PREFERRED:
        return _("each customer's preferred channel")
    return str(dict(Channel.choices).get(channel, channel))


def _time(value: Any) -> str:
    return formats.time_format(value, "H:i")


# Russian puts the weekday in the accusative and makes the ordinal agree with its gender
# («в первую среду», «в последнее воскресенье»): the contexts tell the translator which form.
ON_WEEKDAYS = (
    pgettext_lazy("every week", "on Mondays"),
    pgettext_lazy("every week", "on Tuesdays"),
    pgettext_lazy("every week", "on Wednesdays"),
    pgettext_lazy("every week", "on Thursdays"),
    pgettext_lazy("every week", "on Fridays"),
    pgettext_lazy("every week", "on Saturdays"),
    pgettext_lazy("every week", "on Sundays"),
)
WEEKDAYS_ACCUSATIVE = (
    pgettext_lazy("accusative", "Monday"),
    pgettext_lazy("accusative", "Tuesday"),
    pgettext_lazy("accusative", "Wednesday"),
    pgettext_lazy("accusative", "Thursday"),
    pgettext_lazy("accusative", "Friday"),
    pgettext_lazy("accusative", "Saturday"),
    pgettext_lazy("accusative", "Sunday"),
)
# Monday, Tuesday, Thursday masculine; Wednesday, Friday, Saturday feminine; Sunday neuter.
WEEKDAY_GENDER = ("m", "m", "f", "m", "f", "f", "n")
ORDINALS = {
    "m": {
        1: pgettext_lazy("accusative, masculine", "first"),
        2: pgettext_lazy("accusative, masculine", "second"),
        3: pgettext_lazy("accusative, masculine", "third"),
        4: pgettext_lazy("accusative, masculine", "fourth"),
        -1: pgettext_lazy("accusative, masculine", "last"),
    },
    "f": {
        1: pgettext_lazy("accusative, feminine", "first"),
        2: pgettext_lazy("accusative, feminine", "second"),
        3: pgettext_lazy("accusative, feminine", "third"),
        4: pgettext_lazy("accusative, feminine", "fourth"),
        -1: pgettext_lazy("accusative, feminine", "last"),
    },
    "n": {
        1: pgettext_lazy("accusative, neuter", "first"),
        2: pgettext_lazy("accusative, neuter", "second"),
        3: pgettext_lazy("accusative, neuter", "third"),
        4: pgettext_lazy("accusative, neuter", "fourth"),
        -1: pgettext_lazy("accusative, neuter", "last"),
    },
}


def schedule_text(campaign: Campaign) -> str:
    """When the campaign goes: «once, as soon as it is scheduled», «every month on the first
    Monday at 10:00», «every year on 8.03, 19.03 at 10:00»."""
    if campaign.recurrence == Recurrence.ONCE:
        if campaign.send_at is None:
            return _("once, as soon as it is scheduled")
        moment = formats.date_format(timezone.localtime(campaign.send_at), "DATETIME_FORMAT")
        return _("once, %(moment)s") % {"moment": moment}
    at = _time(campaign.send_time) if campaign.send_time else "10:00"
    weekday = campaign.weekday if campaign.weekday is not None and 0 <= campaign.weekday < 7 else 0
    if campaign.recurrence == Recurrence.DAILY:
        text = _("every day at %(time)s") % {"time": at}
    elif campaign.recurrence == Recurrence.WEEKLY:
        text = _("every week %(on_weekdays)s at %(time)s") % {
            "on_weekdays": ON_WEEKDAYS[weekday],
            "time": at,
        }
    elif campaign.recurrence == Recurrence.MONTHLY:
        ordinals = ORDINALS[WEEKDAY_GENDER[weekday]]
        text = _("every month on the %(nth)s %(weekday)s at %(time)s") % {
            "nth": ordinals.get(campaign.nth or 1, ordinals[1]),
            "weekday": WEEKDAYS_ACCUSATIVE[weekday],
            "time": at,
        }
    else:
        text = _("every year on %(dates)s at %(time)s") % {
            "dates": dates_text(campaign.recur_dates or []),
            "time": at,
        }
    if campaign.recur_until:
        text += ", " + _("until %(date)s") % {
            "date": formats.date_format(campaign.recur_until, "SHORT_DATE_FORMAT")
        }
    return text


def window_text(campaign: Campaign) -> str:
    if campaign.window_start is None or campaign.window_end is None:
        return _("any hour outside quiet hours")
    return _("from %(start)s to %(end)s on the customer's clock") % {
        "start": _time(campaign.window_start),
        "end": _time(campaign.window_end),
    }


def goal_text(campaign: Campaign) -> str:
    goal = str(dict(GOALS).get(campaign.goal_event, campaign.goal_event))
    return ngettext(
        "%(goal)s within %(n)s day of the send",
        "%(goal)s within %(n)s days of the send",
        campaign.goal_days,
    ) % {"goal": goal, "n": campaign.goal_days}


def scheduled_text(campaign: Campaign) -> str:
    if campaign.next_run_at is None or campaign.next_run_at <= clock.now():
        return _("Scheduled: it starts within a minute or two.")
    moment = formats.date_format(timezone.localtime(campaign.next_run_at), "DATETIME_FORMAT")
    return _("Scheduled: it starts on %(moment)s.") % {"moment": moment}


def error_text(exc: CampaignError) -> str:
    """The service's refusal in the staff member's language (its messages are msgids)."""
    return _(exc.message)


def throttle_text(campaign: Campaign) -> str:
    if not campaign.per_minute:
        return _("no limit")
    return ngettext("%(n)s message a minute", "%(n)s messages a minute", campaign.per_minute) % {
        "n": _count(campaign.per_minute)
    }


def _percent(part: int, whole: int) -> str:
    if not whole:
        return DASH
    return f"{formats.number_format(round(100 * part / whole, 1), decimal_pos=1)} %"


# What the winner is picked by, as a phrase inside a sentence («по показателю «переходы»»).
METRIC_NAMES = {
    AbMetric.OPENED: pgettext_lazy("A/B metric", "opens"),
    AbMetric.CLICKED: pgettext_lazy("A/B metric", "clicks"),
    AbMetric.REPLIED: pgettext_lazy("A/B metric", "replies"),
    AbMetric.CONVERTED: pgettext_lazy("A/B metric", "goal conversions"),
}


def metric_name(metric: str) -> str:
    return str(METRIC_NAMES.get(AbMetric(metric), metric)) if metric in AbMetric.values else metric


def winner_text(campaign: Campaign, run: CampaignRun) -> str:
    """Which variant won and on what figures, or when it will be picked."""
    if not campaign.is_ab:
        return ""
    figures = run.winner_figures or {}
    metric = metric_name(figures.get("metric", campaign.ab_metric))
    if not run.winner:
        if run.decide_at is None:
            return ""
        moment = formats.date_format(timezone.localtime(run.decide_at), "DATETIME_FORMAT")
        return _("The winner is picked by %(metric)s on %(moment)s.") % {
            "metric": metric,
            "moment": moment,
        }

    def side(key: str) -> str:
        got = figures.get(key) or {}
        n, hits = int(got.get("n", 0)), int(got.get("hits", 0))
        return _("%(hits)s of %(n)s (%(percent)s)") % {
            "hits": _count(hits),
            "n": _count(n),
            "percent": _percent(hits, n),
        }

    won, lost = ("A", "B") if run.winner == Arm.A else ("B", "A")
    text = _(
        "Variant %(won)s won by %(metric)s: %(won_figure)s against %(lost_figure)s for %(lost)s."
    ) % {
        "won": won,
        "lost": lost,
        "metric": metric,
        "won_figure": side(won.lower()),
        "lost_figure": side(lost.lower()),
    }
    a, b = figures.get("a") or {}, figures.get("b") or {}
    rate_a = a.get("hits", 0) / a["n"] if a.get("n") else 0.0
    rate_b = b.get("hits", 0) / b["n"] if b.get("n") else 0.0
    if rate_a == rate_b:
        text += " " + _("A tie goes to variant A.")
    return text


@dataclass(frozen=True)
class ArmColumn:
    key: str
    label: str
    figures: ArmFigures


ROWS = (
    ("recipients", pgettext_lazy("campaign results", "Recipients")),
    ("sent", pgettext_lazy("campaign results", "Sent")),
    ("delivered", pgettext_lazy("campaign results", "Delivered")),
    ("opened", pgettext_lazy("campaign results", "Opened")),
    ("clicked", pgettext_lazy("campaign results", "Clicked")),
    ("replied", pgettext_lazy("campaign results", "Replied")),
    ("unsubscribed", pgettext_lazy("campaign results", "Unsubscribed")),
)


def arm_label(key: str) -> str:
    return {
        Arm.A: _("Variant A"),
        Arm.B: _("Variant B"),
        Arm.REST: _("Winner, to the rest"),
        Arm.HOLDOUT: _("Holdout"),
        "treated": _("Got the campaign"),
    }.get(key, key)


def _versus_holdout(figures: ArmFigures, holdout: ArmFigures) -> Results:
    """One arm's conversion against the holdout's, closed goal windows only."""
    return results_compute(
        Counts(n=figures.closed, converted=figures.converted),
        Counts(n=holdout.closed, converted=holdout.converted),
        treated_open=figures.in_progress,
        holdout_open=holdout.in_progress,
    )


def _money(value: Decimal | None) -> str:
    if value is None:
        return DASH
    return formats.number_format(value, decimal_pos=0, force_grouping=True) + " ₽"


def results_context(campaign: Campaign, results: CampaignResults) -> dict[str, Any]:
    """Everything the results section prints: the arms side by side, the uplift texts and
    the forest plot of each arm against the holdout (one row when there is no A/B test)."""
    keys = [k for k in (Arm.A, Arm.B, Arm.REST) if k in results.arms]
    # Without an A/B test everyone who got it is in arm A: named as what it is.
    columns = [
        ArmColumn(k, arm_label(k) if campaign.is_ab else arm_label("treated"), results.arms[k])
        for k in keys
    ]
    if len(columns) != 1:
        columns.append(ArmColumn("treated", arm_label("treated"), results.treated))
    if Arm.HOLDOUT in results.arms:
        columns.append(ArmColumn(Arm.HOLDOUT, arm_label(Arm.HOLDOUT), results.holdout))
    rows = []
    for field, label in ROWS:
        cells = []
        for column in columns:
            value = getattr(column.figures, field)
            base = column.figures.recipients if field == "sent" else column.figures.sent
            rate = "" if field in ("recipients", "sent") or not base else _percent(value, base)
            cells.append({"arm": column.key, "value": _count(value), "rate": rate})
        rows.append({"label": label, "cells": cells, "key": field})
    conversion_cells = []
    for column in columns:
        f = column.figures
        conversion_cells.append(
            {
                "arm": column.key,
                "value": _percent(f.converted, f.closed),
                "rate": (
                    _("%(converted)s of %(n)s")
                    % {"converted": _count(f.converted), "n": _count(f.closed)}
                    if f.closed
                    else ""
                ),
                "open": f.in_progress,
            }
        )
    revenue_cells = [
        {
            "arm": c.key,
            "value": _money(c.figures.revenue if c.figures.closed else None),
            "rate": (
                _("%(money)s per recipient")
                % {"money": _money((c.figures.revenue / c.figures.closed).quantize(Decimal(1)))}
                if c.figures.closed
                else ""
            ),
        }
        for c in columns
    ]
    entries: list[tuple[Any, Results]] = []
    has_holdout = results.holdout.recipients > 0
    if has_holdout:
        if len(keys) > 1:
            for key in keys:
                entries.append(
                    (arm_label(key), _versus_holdout(results.arms[key], results.holdout))
                )
        entries.append((arm_label("treated"), results.conversion))
    forest, ticks = forest_rows(cast(list[tuple[Journey, Results]], entries))
    texts: ResultTexts = result_texts(results.conversion)
    return {
        "columns": columns,
        "rows": rows,
        "conversion_cells": conversion_cells,
        "revenue_cells": revenue_cells,
        "texts": texts,
        "conversion": results.conversion,
        "has_holdout": has_holdout,
        "forest": [{**row, "label": row["journey"]} for row in forest],
        "ticks": ticks,
        "revenue_treated": _money(results.revenue_per_recipient_treated),
        "revenue_holdout": _money(results.revenue_per_recipient_holdout),
        "in_progress": results.conversion.in_progress,
    }


def summary_texts(results: CampaignResults) -> dict[str, Any]:
    """The list's one-line results: sent, conversion, uplift against the holdout."""
    treated = results.treated
    return {
        "sent": _count(treated.sent),
        "texts": result_texts(results.conversion),
        "has_holdout": results.holdout.recipients > 0,
    }


# The skip reasons in the order a marketer fixes them: consent first, then addresses.
REASON_ORDER = (
    SkipReason.NO_CONSENT,
    SkipReason.NO_CHANNEL,
    SkipReason.SUPPRESSED,
    SkipReason.OPTED_OUT,
)


def preview_rows(preview: Preview) -> list[dict[str, Any]]:
    """The preview's reasons with counts and a few example customers each."""
    rows: list[dict[str, Any]] = [
        {
            "key": reason.value,
            "label": reason.label,
            "note": _("Skipped: gets nothing."),
            "count": preview.skipped.get(reason.value, 0),
            "samples": preview.samples.get(reason.value, []),
        }
        for reason in REASON_ORDER
    ]
    rows.append(
        {
            "key": CAPPED,
            "label": _("Frequency cap full now"),
            "note": _("Gets it later: the message waits until the cap frees up."),
            "count": preview.capped,
            "samples": preview.samples.get(CAPPED, []),
        }
    )
    rows.append(
        {
            "key": HOLDOUT,
            "label": _("Holdout"),
            "note": _("Gets nothing on purpose, for comparison."),
            "count": preview.held_out,
            "samples": preview.samples.get(HOLDOUT, []),
        }
    )
    return rows
