"""A campaign's results: what its messages did, and goal conversion against the holdout.

One function, `campaigns_results` (and `runs_results` for one run), feeds every page, so the
list, the campaign's page and anything else cannot disagree. One query, whatever the number
of campaigns.

What counts:
- every figure is over recipients that were not skipped (a skipped customer is in neither
  arm: the holdout's would-be skips are skipped alike, so the arms stay comparable);
- sent / delivered / opened / clicked: read from each recipient's message; replied: a
  `message_replied` event naming that message; unsubscribed: a withdrawal of marketing
  consent on the recipient's channel, or an opt-out of the campaign's topic (the template's
  when the campaign names none), inside the goal
  window (the holdout's figure is the baseline: people who left without a message);
- goal conversion and revenue: only recipients whose goal window (`decided_at` to
  `goal_until`) has closed, in every arm alike; a goal event or order inside the window. The
  ones still inside it are returned apart as in progress. Counting an early converter at once
  but a non-converter only at the window's end would make any young campaign look perfect.
The conversion arithmetic (rates, Newcombe's interval) is `journeys.uplift`, as for journeys.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import (
    BigIntegerField,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, NullIf

from lifelong.campaigns.models import AbMetric, Arm, CampaignRecipient, CampaignRun, RecipientStatus
from lifelong.commerce.models import Order
from lifelong.commerce.services import UNCOUNTED_STATUSES
from lifelong.customers.models import Consent, Purpose
from lifelong.events.models import Event
from lifelong.journeys.uplift import Arm as UpliftArm
from lifelong.journeys.uplift import Results, results_compute
from lifelong.messaging.models import Message, Status, TopicOptOut

TREATED = (Arm.A, Arm.B, Arm.REST)
MONEY: DecimalField[Decimal, Decimal] = DecimalField(max_digits=16, decimal_places=2)


@dataclasses.dataclass(frozen=True)
class ArmFigures:
    recipients: int = 0  # not skipped
    queued: int = 0  # a message was queued (the rest of an A/B test waits until the winner)
    skipped: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    unsubscribed: int = 0
    closed: int = 0  # goal window closed
    converted: int = 0  # of the closed
    in_progress: int = 0  # goal window still open
    revenue: Decimal = Decimal("0")  # of the closed

    def __add__(self, other: ArmFigures) -> ArmFigures:
        return ArmFigures(
            **{
                f.name: getattr(self, f.name) + getattr(other, f.name)
                for f in dataclasses.fields(self)
            }
        )


@dataclasses.dataclass(frozen=True)
class CampaignResults:
    arms: dict[str, ArmFigures]
    treated: ArmFigures
    holdout: ArmFigures
    conversion: Results

    @property
    def revenue_per_recipient_treated(self) -> Decimal | None:
        return _per(self.treated)

    @property
    def revenue_per_recipient_holdout(self) -> Decimal | None:
        return _per(self.holdout)


def _per(arm: ArmFigures) -> Decimal | None:
    return (arm.revenue / arm.closed).quantize(Decimal("0.01")) if arm.closed else None


def _message(**conditions: Any) -> Exists:
    return Exists(Message.objects.filter(pk=OuterRef("message_id"), **conditions))


def replied_expression(until: dt.datetime | None = None) -> Exists:
    """A `message_replied` event that names the recipient's message."""
    replies = Event.objects.filter(type="message_replied", customer_id=OuterRef("customer_id"))
    if until is not None:
        replies = replies.filter(occurred_at__lte=until)
    return Exists(
        replies.annotate(answered=Cast(KT("properties__message_id"), BigIntegerField())).filter(
            answered=OuterRef("message_id")
        )
    )


def goal_expression(until: dt.datetime | None = None) -> Exists:
    """The campaign's goal event after the decision, inside the goal window (and by `until`)."""
    goals = Event.objects.filter(
        customer_id=OuterRef("customer_id"),
        type=OuterRef("campaign__goal_event"),
        occurred_at__gt=OuterRef("decided_at"),
        occurred_at__lte=OuterRef("goal_until"),
    )
    if until is not None:
        goals = goals.filter(occurred_at__lte=until)
    return Exists(goals)


def metric_hits(run: CampaignRun, *, metric: str, until: dt.datetime) -> dict[str, dict[str, int]]:
    """An A/B test's figures by `until`: per arm (a, b) the queued sample and its hits."""
    hit = {
        AbMetric.OPENED: _message(opened_at__lte=until),
        AbMetric.CLICKED: _message(clicked_at__lte=until),
        AbMetric.REPLIED: replied_expression(until),
        AbMetric.CONVERTED: goal_expression(until),
    }[AbMetric(metric)]
    rows = {
        row["arm"]: {"n": row["n"], "hits": row["hits"]}
        for row in CampaignRecipient.objects.filter(
            run=run, arm__in=[Arm.A, Arm.B], status=RecipientStatus.QUEUED
        )
        .annotate(hit=hit)
        .values("arm")
        .annotate(n=Count("pk"), hits=Count("pk", filter=Q(hit=True)))
        .order_by()
    }
    empty = {"n": 0, "hits": 0}
    return {Arm.A: rows.get(Arm.A, empty), Arm.B: rows.get(Arm.B, empty)}


def campaigns_results(campaign_ids: list[int], now: dt.datetime) -> dict[int, CampaignResults]:
    """Results of these campaigns (all their runs) as of `now`: one query."""
    return _results("campaign_id", campaign_ids, now)


def runs_results(run_ids: list[int], now: dt.datetime) -> dict[int, CampaignResults]:
    """Results of single runs (of a recurring campaign, say) as of `now`: one query."""
    return _results("run_id", run_ids, now)


def _results(key: str, ids: list[int], now: dt.datetime) -> dict[int, CampaignResults]:
    revenue = (
        Order.objects.filter(
            customer_id=OuterRef("customer_id"),
            placed_at__gt=OuterRef("decided_at"),
            placed_at__lte=OuterRef("goal_until"),
        )
        .exclude(status__in=UNCOUNTED_STATUSES)
        .values("customer_id")
        .annotate(total=Sum("total"))
        .values("total")
        .order_by()
    )
    withdrew = Consent.objects.filter(
        customer_id=OuterRef("customer_id"),
        channel=OuterRef("channel"),
        purpose=Purpose.MARKETING,
        granted=False,
        at__gte=OuterRef("decided_at"),
        at__lte=OuterRef("goal_until"),
    )
    opted_out = TopicOptOut.objects.filter(
        customer_id=OuterRef("customer_id"),
        topic__slug=OuterRef("topic"),
        at__gte=OuterRef("decided_at"),
        at__lte=OuterRef("goal_until"),
    )
    counted = ~Q(status=RecipientStatus.SKIPPED)
    closed = counted & Q(goal_until__lte=now)
    rows = (
        CampaignRecipient.objects.filter(**{f"{key}__in": ids})
        # The topic the messages went under: the campaign's, else its template's (as the
        # outbox sets it), so a template's topic opt-out counts when the campaign names none.
        .annotate(
            topic=Coalesce(NullIf(F("campaign__topic"), Value("")), F("campaign__template__topic"))
        )
        .annotate(
            m_sent=_message(sent_at__isnull=False),
            m_delivered=_message(status=Status.DELIVERED),
            m_opened=_message(opened_at__isnull=False),
            m_clicked=_message(clicked_at__isnull=False),
            m_replied=replied_expression(),
            m_unsubscribed=Exists(withdrew) | Exists(opted_out),
            m_goal=goal_expression(),
            m_revenue=Coalesce(Subquery(revenue, output_field=MONEY), Value(Decimal("0"))),
        )
        .values(key, "arm")
        .annotate(
            recipients=Count("pk", filter=counted),
            queued=Count("pk", filter=Q(status=RecipientStatus.QUEUED)),
            skipped=Count("pk", filter=Q(status=RecipientStatus.SKIPPED)),
            sent=Count("pk", filter=counted & Q(m_sent=True)),
            delivered=Count("pk", filter=counted & Q(m_delivered=True)),
            opened=Count("pk", filter=counted & Q(m_opened=True)),
            clicked=Count("pk", filter=counted & Q(m_clicked=True)),
            replied=Count("pk", filter=counted & Q(m_replied=True)),
            unsubscribed=Count("pk", filter=counted & Q(m_unsubscribed=True)),
            closed=Count("pk", filter=closed),
            converted=Count("pk", filter=closed & Q(m_goal=True)),
            in_progress=Count("pk", filter=counted & Q(goal_until__gt=now)),
            revenue=Sum("m_revenue", filter=closed, output_field=MONEY),
        )
        .order_by()
    )
    arms: dict[int, dict[str, ArmFigures]] = {pk: {} for pk in ids}
    for row in rows:
        figures = {f.name: row[f.name] for f in dataclasses.fields(ArmFigures)}
        figures["revenue"] = Decimal(row["revenue"] or 0)
        arms.setdefault(row[key], {})[row["arm"]] = ArmFigures(**figures)
    return {pk: _combine(by_arm) for pk, by_arm in arms.items()}


def _combine(by_arm: dict[str, ArmFigures]) -> CampaignResults:
    treated = sum((by_arm.get(arm, ArmFigures()) for arm in TREATED), ArmFigures())
    holdout = by_arm.get(Arm.HOLDOUT, ArmFigures())
    conversion = results_compute(
        UpliftArm(n=treated.closed, converted=treated.converted),
        UpliftArm(n=holdout.closed, converted=holdout.converted),
        treated_open=treated.in_progress,
        holdout_open=holdout.in_progress,
    )
    return CampaignResults(arms=by_arm, treated=treated, holdout=holdout, conversion=conversion)
