"""Writes to campaigns: create, edit, schedule, cancel. The public surface of the app.

Signature changes after the first commit are announced here, at the top.

Public API (keyword-only; `actor` is the staff user, recorded in the audit log):

lifelong.campaigns.services (writes; raise CampaignError(message, field=...) for bad input)
    CAMPAIGN_FIELDS: tuple[str, ...]   the editable Campaign fields `values` may carry
    MAX_WAIT_HOURS = 168               the longest A/B wait
    campaign_validate(campaign: Campaign) -> None   what campaign_create refuses, unsaved
    campaign_create(*, values: Mapping[str, Any], actor: User | None) -> Campaign
        `values`: Campaign field names -> values; `segment` a Segment or None (then `rules`,
        a rule tree as segments store it), `template` / `template_b` Template instances,
        `club` a community Club or None (a club invitation: the audience narrows to whom
        the club admits and who is not in it or invited; a template using
        `{{ club_invite_url }}` is refused without a club).
        Status draft.
    campaign_update(*, campaign: Campaign, values: Mapping[str, Any], actor: User | None)
        -> Campaign            only a draft or a scheduled campaign with no run yet
    campaign_schedule(*, campaign: Campaign, actor: User | None) -> Campaign
        draft -> scheduled; `next_run_at` = `send_at` (one-off; empty = now) or the first
        occurrence of its recurrence. The sweep `campaigns_due` starts it then.
    campaign_unschedule(*, campaign: Campaign, actor: User | None) -> Campaign
        scheduled and never run -> draft
    campaign_cancel(*, campaign: Campaign, actor: User | None) -> Campaign
        stops it: no further runs, running runs cancelled, every message of its runs not
        yet sent cancelled (finished runs' too); recipients who now get nothing (the A/B
        rest still waiting, those whose message was cancelled) become skipped, reason
        "cancelled"; results stay. Allowed while the campaign is scheduled or sending (a
        campaign is sent only once none of its messages is still due).

lifelong.campaigns.selectors (reads)
    campaign_preview(*, campaign: Campaign, now: datetime | None = None, samples: int = 5)
        -> Preview             the campaign may be unsaved (a form's instance)
    Preview: audience: int; sendable: int (will get a message); held_out: int;
        skipped: dict[SkipReason value, int]; capped: int (sendable now at the frequency
        cap: will wait, not skipped); arms: dict[Arm value, int] (a / b / rest / holdout,
        skipped customers excluded); samples: dict[str, list[SampleCustomer]] keyed by skip
        reason, "holdout" and "capped"; SampleCustomer(id: int, name: str).
    campaign_progress(run: CampaignRun) -> int   0..100 for a progress bar

lifelong.campaigns.results (one function for every page)
    campaigns_results(campaign_ids: list[int], now: datetime) -> dict[int, CampaignResults]
    runs_results(run_ids: list[int], now: datetime) -> dict[int, CampaignResults]
        a constant number of queries, whatever the number of ids
    CampaignResults: arms: dict[Arm value, ArmFigures] (present arms only); treated:
        ArmFigures (a + b + rest); holdout: ArmFigures; conversion: journeys.uplift.Results
        (closed goal windows only, in both arms; in progress apart); properties
        revenue_per_recipient_treated / revenue_per_recipient_holdout: Decimal | None
    ArmFigures: recipients, queued, skipped, sent, delivered, opened, clicked, replied,
        unsubscribed, closed, converted, in_progress: int; revenue: Decimal (closed windows)
    metric_hits(run: CampaignRun, *, metric: str, until: datetime)
        -> {"a": {"n", "hits"}, "b": {...}}   the figures an A/B winner is picked on

lifelong.campaigns.engine (the sweep, registered as "campaigns.due")
    campaigns_due(*, batch_size: int = 100, budget_seconds: float = 20.0) -> int
        starts due runs, queues batches, picks A/B winners, plans the next run of
        recurring campaigns; returns messages queued
    run_step(run_id: int, *, batch_size: int = 100) -> tuple[int, bool]   one batch
    dedupe_key(campaign_id, run_number, customer_id) -> "campaign:<id>:<run>:<customer>"

lifelong.campaigns.schedule
    next_occurrence(campaign: Campaign, after: datetime) -> datetime | None
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pydantic
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.campaigns.engine import due_messages_exist
from lifelong.campaigns.models import (
    MAX_HOLDOUT_PERCENT,
    PREFERRED,
    AbMetric,
    Campaign,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
    RecipientStatus,
    Recurrence,
    RunStatus,
    SkipReason,
)
from lifelong.campaigns.schedule import month_day, next_occurrence
from lifelong.customers.models import Channel, Purpose
from lifelong.lib.errors import DomainError
from lifelong.messaging.models import DUE_STATUSES, Message, Status, Template
from lifelong.messaging.variants import variant_for
from lifelong.segments.rules import rules_parse

CAMPAIGN_FIELDS = (
    "name",
    "description",
    "segment",
    "rules",
    "channel",
    "template",
    "purpose",
    "topic",
    "holdout_percent",
    "template_b",
    "club",
    "ab_sample_percent",
    "ab_metric",
    "ab_wait_hours",
    "window_start",
    "window_end",
    "per_minute",
    "goal_event",
    "goal_days",
    "recurrence",
    "send_at",
    "send_time",
    "weekday",
    "nth",
    "recur_dates",
    "recur_until",
)
RELATIONS = ("segment", "template", "template_b", "club")
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
MAX_WAIT_HOURS = 24 * 7
# The template variable of a club invitation's join address (community.club_invite_context).
CLUB_INVITE_VARIABLE = "club_invite_url"


class CampaignError(DomainError):
    """A campaign that cannot be saved or moved as asked."""


def campaign_validate(campaign: Campaign) -> None:
    """Refuse a campaign that could not run as set; CampaignError names the field."""
    if not campaign.name.strip():
        raise CampaignError(_("A campaign needs a name."), field="name")
    if campaign.segment_id is None and not campaign.rules:
        raise CampaignError(_("Choose a segment or a filter."), field="segment")
    if campaign.segment_id is not None and campaign.rules:
        raise CampaignError(_("Either a segment or a filter, not both."), field="rules")
    if campaign.rules:
        try:
            rules_parse(campaign.rules)
        except pydantic.ValidationError as exc:
            raise CampaignError(_("The filter is not valid."), field="rules") from exc
    if campaign.channel != PREFERRED and campaign.channel not in Channel.values:
        raise CampaignError(_("Unknown channel."), field="channel")
    if campaign.purpose not in Purpose.values:
        raise CampaignError(_("Unknown purpose."), field="purpose")
    if campaign.template_id is None:
        raise CampaignError(_("Choose a template."), field="template")
    for field, template in (("template", campaign.template), ("template_b", campaign.template_b)):
        if (
            template is not None
            and campaign.channel != PREFERRED
            and variant_for(template, campaign.channel) is None
        ):
            raise CampaignError(_("The template has nothing to send on this channel."), field=field)
    _club_validate(campaign)
    if campaign.template_b_id is not None and campaign.template_b_id == campaign.template_id:
        raise CampaignError(_("Variant B must be another template."), field="template_b")
    if not 0 <= campaign.holdout_percent <= MAX_HOLDOUT_PERCENT:
        raise CampaignError(_("The holdout is 0 to 50 %."), field="holdout_percent")
    if not 2 <= campaign.ab_sample_percent <= 100:
        raise CampaignError(_("The test sample is 2 to 100 %."), field="ab_sample_percent")
    if campaign.ab_metric not in AbMetric.values:
        raise CampaignError(_("Unknown metric."), field="ab_metric")
    if not 1 <= campaign.ab_wait_hours <= MAX_WAIT_HOURS:
        raise CampaignError(_("Pick the winner after 1 to 168 hours."), field="ab_wait_hours")
    if (campaign.window_start is None) != (campaign.window_end is None):
        raise CampaignError(_("Give both ends of the send window, or neither."), field="window_end")
    if campaign.window_start is not None and campaign.window_start == campaign.window_end:
        raise CampaignError(_("The send window is empty."), field="window_end")
    if campaign.template_b_id is not None and campaign.goal_days * 24 < campaign.ab_wait_hours:
        # Every arm's goal window starts at the run's decision, the rest's too (so the arms
        # stay comparable with the holdout): a wait longer than the window would leave the
        # rest no time at all to convert after the winner reaches them.
        raise CampaignError(
            _("The goal window must be at least as long as the wait for the A/B winner."),
            field="goal_days",
        )
    if not campaign.goal_event.strip():
        raise CampaignError(_("Choose a goal."), field="goal_event")
    if not 1 <= campaign.goal_days <= 365:
        raise CampaignError(_("The goal window is 1 to 365 days."), field="goal_days")
    _schedule_validate(campaign)


def _club_validate(campaign: Campaign) -> None:
    if campaign.club is not None and not campaign.club.active:
        raise CampaignError(_("The club is switched off."), field="club")
    if campaign.club is None:
        for field, template in (
            ("template", campaign.template),
            ("template_b", campaign.template_b),
        ):
            if template is not None and mentions_club_invite(template):
                raise CampaignError(
                    _(
                        "The template has a club invitation link: choose the club to invite "
                        "to, or another template."
                    ),
                    field=field,
                )


def mentions_club_invite(template: Template) -> bool:
    """Whether any text of the template (any variant, any language) uses the join address."""
    texts = [
        template.subject,
        template.body_text,
        template.body_html,
        template.sms_text,
        template.messenger_text,
        template.short_text,
        template.messenger_buttons,
        template.translations,
        template.design,
    ]
    return CLUB_INVITE_VARIABLE in json.dumps(texts, ensure_ascii=False, default=str)


def _schedule_validate(campaign: Campaign) -> None:
    recurrence = campaign.recurrence
    if recurrence not in Recurrence.values:
        raise CampaignError(_("Unknown repetition."), field="recurrence")
    if recurrence in (Recurrence.WEEKLY, Recurrence.MONTHLY) and campaign.weekday not in range(7):
        raise CampaignError(_("Choose a weekday."), field="weekday")
    if recurrence == Recurrence.MONTHLY and campaign.nth not in (1, 2, 3, 4, -1):
        raise CampaignError(_("Choose which weekday of the month."), field="nth")
    if recurrence == Recurrence.DATES:
        dates = campaign.recur_dates
        if not isinstance(dates, list) or not dates:
            raise CampaignError(_("Add at least one date."), field="recur_dates")
        try:
            for value in dates:
                month_day(str(value))
        except ValueError as exc:
            raise CampaignError(_("Dates are written as MM-DD."), field="recur_dates") from exc


def _apply(campaign: Campaign, values: Mapping[str, Any]) -> dict[str, Any]:
    """Set `values` on the campaign; returns what changed (for the audit log)."""
    unknown = set(values) - set(CAMPAIGN_FIELDS)
    if unknown:
        raise CampaignError(f"unknown fields: {', '.join(sorted(unknown))}")
    changes = {}
    for field, value in values.items():
        if field == "recur_dates":
            value = sorted({str(v) for v in value or []})
        if field == "rules":
            value = value or {}
        if field in RELATIONS:
            changed = getattr(campaign, f"{field}_id") != (value.pk if value else None)
        else:
            changed = getattr(campaign, field) != value
        if changed:
            changes[field] = _loggable(value)
            setattr(campaign, field, value)
    return changes


def _loggable(value: Any) -> Any:
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return value


@transaction.atomic
def campaign_create(*, values: Mapping[str, Any], actor: User | None) -> Campaign:
    """A new draft campaign from `values` (Campaign field names)."""
    now = clock.now()
    campaign = Campaign(created_by=actor, created_at=now, updated_at=now)
    changes = _apply(campaign, values)
    campaign_validate(campaign)
    campaign.save()
    audit_record(actor=actor, action="campaign.create", obj=campaign, changes=changes)
    return campaign


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


@transaction.atomic
def campaign_update(
    *, campaign: Campaign, values: Mapping[str, Any], actor: User | None
) -> Campaign:
    """Change a draft, or a scheduled campaign that has not run yet (its next run moves with it)."""
    locked = _locked(campaign)
    if locked.status not in EDITABLE or locked.runs_count:
        raise CampaignError(_("A campaign that has started can no longer be changed."))
    changes = _apply(locked, values)
    campaign_validate(locked)
    if changes:
        locked.updated_at = clock.now()
        if locked.status == CampaignStatus.SCHEDULED:
            locked.next_run_at = _first_run(locked)
        locked.save()
        audit_record(actor=actor, action="campaign.update", obj=locked, changes=changes)
    return locked


def _first_run(campaign: Campaign) -> dt.datetime:
    now = clock.now()
    if campaign.recurrence == Recurrence.ONCE:
        return max(campaign.send_at or now, now)
    first = next_occurrence(campaign, now)
    if first is None:
        raise CampaignError(_("The repetition has no date ahead."), field="recur_until")
    return first


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, actor: User | None) -> Campaign:
    """Draft -> scheduled: the sweep starts its first run at `next_run_at`."""
    locked = _locked(campaign)
    if locked.status != CampaignStatus.DRAFT:
        raise CampaignError(_("Only a draft can be scheduled."))
    campaign_validate(locked)
    locked.status = CampaignStatus.SCHEDULED
    locked.next_run_at = _first_run(locked)
    locked.updated_at = clock.now()
    locked.save(update_fields=["status", "next_run_at", "updated_at"])
    audit_record(
        actor=actor,
        action="campaign.schedule",
        obj=locked,
        changes={"next_run_at": _loggable(locked.next_run_at)},
    )
    return locked


@transaction.atomic
def campaign_unschedule(*, campaign: Campaign, actor: User | None) -> Campaign:
    """Scheduled and never run -> draft again."""
    locked = _locked(campaign)
    if locked.status != CampaignStatus.SCHEDULED or locked.runs_count:
        raise CampaignError(
            _("Only a scheduled campaign that has not started can go back to draft.")
        )
    locked.status, locked.next_run_at, locked.updated_at = CampaignStatus.DRAFT, None, clock.now()
    locked.save(update_fields=["status", "next_run_at", "updated_at"])
    audit_record(actor=actor, action="campaign.unschedule", obj=locked)
    return locked


CANCELLED_ERROR = "campaign cancelled"


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, actor: User | None) -> Campaign:
    """Stop the campaign: no more runs, running ones cancelled, and every message of any of
    its runs (a recurring campaign's finished ones too) that has not gone out yet cancelled.

    Recipients who will now get nothing (the A/B rest still waiting for its winner, and those
    whose message was cancelled) become skipped with the reason "cancelled": they were never
    treated, so the results leave them out.
    """
    locked = _locked(campaign)
    finished = locked.status == CampaignStatus.CANCELLED or (
        locked.status == CampaignStatus.SENT
        and not CampaignRun.objects.filter(campaign=locked)
        .filter(due_messages_exist(locked.pk))
        .exists()
    )
    if finished:
        raise CampaignError(_("The campaign has already finished."))
    now = clock.now()
    running = CampaignRun.objects.filter(
        campaign=locked, status__in=[RunStatus.QUEUEING, RunStatus.TESTING, RunStatus.QUEUEING_REST]
    )
    recipients = CampaignRecipient.objects.filter(campaign=locked)
    messages = recipients.filter(message_id__isnull=False).values("message_id")
    cancelled = Message.objects.filter(pk__in=messages, status__in=DUE_STATUSES).update(
        status=Status.CANCELLED, last_error=CANCELLED_ERROR
    )
    unsent = Exists(
        Message.objects.filter(
            pk=OuterRef("message_id"), status=Status.CANCELLED, last_error=CANCELLED_ERROR
        )
    )
    recipients.filter(Q(status=RecipientStatus.WAITING) | Q(unsent)).update(
        status=RecipientStatus.SKIPPED, reason=SkipReason.CANCELLED
    )
    running.update(status=RunStatus.CANCELLED, finished_at=now)
    locked.status, locked.next_run_at, locked.updated_at = CampaignStatus.CANCELLED, None, now
    locked.save(update_fields=["status", "next_run_at", "updated_at"])
    audit_record(
        actor=actor, action="campaign.cancel", obj=locked, changes={"messages_cancelled": cancelled}
    )
    return locked
