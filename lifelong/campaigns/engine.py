"""The campaigns sweep: start due runs, queue them batch by batch, pick A/B winners.

Crash safety and concurrency. Every step is one transaction that first locks its run (or
campaign) row with SKIP LOCKED: a second sweep running at the same time skips that row
instead of doing the same batch. A batch's messages, its recipient rows and the run's
cursor commit together, so after a crash the batch is simply done again; the messages'
dedupe keys ("campaign:<id>:<run>:<customer>") and the recipients' unique (run, customer)
make a repeat queue nothing twice.

Timing. Each message's `next_attempt_at` is its slot: not before the customer's send window
opens on their own clock, and, with throttling, one slot every 60 / per_minute seconds among
the customers whose window opens at the same moment (those open now share one clock); the
clocks are kept on the run and only move forward, so the rate holds across batches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q

from lifelong import clock
from lifelong.campaigns.audience import (
    BATCH,
    Decision,
    audience_queryset,
    context_make,
    decide_next,
)
from lifelong.campaigns.models import (
    Arm,
    Campaign,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
    RecipientStatus,
    RunStatus,
    SkipReason,
)
from lifelong.campaigns.results import metric_hits
from lifelong.campaigns.schedule import next_occurrence
from lifelong.community.models import InviteSource
from lifelong.community.services import club_invite_context
from lifelong.customers.models import Customer
from lifelong.lib.pg_array import in_values
from lifelong.messaging.gates import quiet_until
from lifelong.messaging.models import DUE_STATUSES, Message, Template
from lifelong.messaging.outbox import Outgoing, messages_enqueue_many

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.QUEUEING, RunStatus.TESTING, RunStatus.QUEUEING_REST)
# The throttle clock of those whose send window is open now.
OPEN = "open"
# A throttle that fills window after window moves a message on at most this many openings.
MAX_HOPS = 400
# One sweep call stops starting batches after this long, so the sweeps after it get their turn.
BUDGET_SECONDS = 20.0


def dedupe_key(campaign_id: int, run_number: int, customer_id: int) -> str:
    return f"campaign:{campaign_id}:{run_number}:{customer_id}"


def campaigns_due(*, batch_size: int = BATCH, budget_seconds: float = BUDGET_SECONDS) -> int:
    """Run the campaigns' due work; returns the messages queued."""
    started = time.monotonic()
    runs_start(now=clock.now())
    queued = 0
    run_ids = list(
        CampaignRun.objects.filter(status__in=ACTIVE)
        .filter(~Q(status=RunStatus.TESTING) | Q(decide_at__lte=clock.now()))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for run_id in run_ids:
        while time.monotonic() - started < budget_seconds:
            done, more = run_step(run_id, batch_size=batch_size)
            queued += done
            if not more:
                break
    campaigns_finish(now=clock.now())
    return queued


def runs_start(*, now: dt.datetime) -> int:
    """Start a run of every scheduled campaign whose time has come; returns runs started."""
    started = 0
    due = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, next_run_at__lte=now)
    for campaign_id in due.order_by("next_run_at", "pk").values_list("pk", flat=True):
        with transaction.atomic():
            campaign = due.select_for_update(skip_locked=True).filter(pk=campaign_id).first()
            if campaign is None:
                continue
            assert campaign.next_run_at is not None
            number = campaign.runs_count + 1
            CampaignRun.objects.create(
                campaign=campaign,
                number=number,
                scheduled_for=campaign.next_run_at,
                started_at=now,
                audience_total=audience_queryset(campaign, now=now).count(),
            )
            # A sweep that was down misses the occurrences in between: one catch-up run.
            following = next_occurrence(campaign, now) if campaign.is_recurring else None
            campaign.runs_count, campaign.next_run_at = number, following
            if following is None:
                campaign.status = CampaignStatus.SENDING
            campaign.save(update_fields=["runs_count", "next_run_at", "status"])
            started += 1
        log.info("campaign_run_started", extra={"campaign_id": campaign_id, "run": number})
    return started


def run_step(run_id: int, *, batch_size: int = BATCH) -> tuple[int, bool]:
    """One step of a run in one transaction: (messages queued, whether more is due now)."""
    now = clock.now()
    with transaction.atomic():
        run = (
            CampaignRun.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign__template", "campaign__template_b", "campaign__club")
            .filter(pk=run_id, status__in=ACTIVE)
            .first()
        )
        if run is None:
            return 0, False
        if run.status == RunStatus.QUEUEING:
            return _phase_one(run, now=now, batch_size=batch_size)
        if run.status == RunStatus.TESTING:
            if run.decide_at is None or run.decide_at > now:
                return 0, False
            winner_decide(run, now=now)
            return 0, True
        return _phase_two(run, now=now, batch_size=batch_size)


def _phase_one(run: CampaignRun, *, now: dt.datetime, batch_size: int) -> tuple[int, bool]:
    """Decide the next batch of the audience: recipient rows, and messages for A / B."""
    campaign = run.campaign
    # The audience as of the run's start: rules relative to "now" mean the same in every batch.
    decisions = decide_next(
        campaign,
        now=now,
        after=run.cursor,
        limit=batch_size,
        context=context_make(campaign),
        audience_at=run.started_at,
    )
    if not decisions:
        _phase_one_end(run, now=now)
        return 0, False
    templates: dict[str, Template | None] = {Arm.A: campaign.template, Arm.B: campaign.template_b}
    sending = [d for d in decisions if d.status == RecipientStatus.QUEUED]
    messages = _enqueue(run, sending, templates, now=now)
    if campaign.club_id is not None:
        # A club invitation the club refused at the send (see _enqueue) is a skip.
        decisions = [
            _not_admitted(d)
            if d.customer_id not in messages and d.status == RecipientStatus.QUEUED
            else d
            for d in decisions
        ]
        sending = [d for d in decisions if d.status == RecipientStatus.QUEUED]
    CampaignRecipient.objects.bulk_create(
        [
            CampaignRecipient(
                run=run,
                campaign_id=campaign.pk,
                customer_id=d.customer_id,
                arm=d.arm,
                status=d.status,
                reason=d.reason,
                channel=d.channel,
                message_id=messages.get(d.customer_id),
                decided_at=now,
                goal_until=now + dt.timedelta(days=campaign.goal_days),
            )
            for d in decisions
        ],
        ignore_conflicts=True,
    )
    run.cursor = decisions[-1].customer_id
    run.processed += len(decisions)
    run.queued += len(sending)
    run.skipped += sum(d.status == RecipientStatus.SKIPPED for d in decisions)
    run.held_out += sum(d.status == RecipientStatus.HOLDOUT for d in decisions)
    run.save(
        update_fields=["cursor", "processed", "queued", "skipped", "held_out", "throttle_clocks"]
    )
    return len(sending), True


def _phase_one_end(run: CampaignRun, *, now: dt.datetime) -> None:
    campaign = run.campaign
    # The total counted at the start is an estimate; at the end it is what was decided.
    run.audience_total = run.processed
    if campaign.is_ab:
        # A plain split (a sample of 100 %) has no rest, but its winner is still recorded.
        # The wait runs from the sample's last planned slot (a send window or a throttle may
        # put it hours away), so both variants have had the same time to be read.
        sample = CampaignRecipient.objects.filter(run=run, status=RecipientStatus.QUEUED)
        last = Message.objects.filter(pk__in=sample.values("message_id")).aggregate(
            last=Max("next_attempt_at")
        )["last"]
        run.status = RunStatus.TESTING
        run.decide_at = max(last or now, now) + dt.timedelta(hours=campaign.ab_wait_hours)
        run.save(update_fields=["audience_total", "status", "decide_at"])
        return
    _run_finish(run, now=now)


def _run_finish(run: CampaignRun, *, now: dt.datetime) -> None:
    # The run has queued everything; the campaign is sent only once the outbox has sent it
    # (`campaigns_finish`): until then it can still be cancelled.
    run.status, run.finished_at = RunStatus.DONE, now
    run.audience_total = max(run.audience_total, run.processed)
    run.save(update_fields=["status", "finished_at", "audience_total", "decide_at"])


def due_messages_exist(campaign_ref: Any) -> Exists:
    """Whether a message of the campaign (`campaign_ref`: an id or an OuterRef to one) is still
    due in the outbox: queued, or held back by a window, a throttle, quiet hours or a cap.

    Read from the due messages' side: they are few, and each is matched to a recipient by the
    recipients' message_id index, instead of walking every recipient of a large campaign.
    """
    campaign = campaign_ref if isinstance(campaign_ref, int) else OuterRef(campaign_ref)
    recipient = CampaignRecipient.objects.filter(message_id=OuterRef("pk")).filter(
        Q(campaign_id=campaign)
    )
    return Exists(Message.objects.filter(status__in=DUE_STATUSES).filter(Exists(recipient)))


def campaigns_finish(*, now: dt.datetime) -> int:
    """Sending campaigns with no run left to queue and no message still due -> sent."""
    return (
        Campaign.objects.filter(status=CampaignStatus.SENDING, next_run_at__isnull=True)
        .exclude(runs__status__in=ACTIVE)
        .exclude(due_messages_exist(OuterRef("pk")))
        .update(status=CampaignStatus.SENT, updated_at=now)
    )


def _not_admitted(decision: Decision) -> Decision:
    return dataclasses.replace(
        decision, status=RecipientStatus.SKIPPED, reason=SkipReason.NOT_ADMITTED
    )


def winner_decide(run: CampaignRun, *, now: dt.datetime) -> str:
    """Pick and record the A/B winner by the campaign's metric; ties go to A.

    Compared as exact fractions of the queued sample in each arm (hits x n cross-multiplied),
    so the same figures always give the same winner.
    """
    campaign = run.campaign
    figures = metric_hits(run, metric=campaign.ab_metric, until=now)
    a, b = figures[Arm.A], figures[Arm.B]
    winner = Arm.B if b["n"] and b["hits"] * a["n"] > a["hits"] * b["n"] else Arm.A
    run.winner, run.winner_decided_at = str(winner), now
    run.winner_figures = {"metric": campaign.ab_metric, "a": a, "b": b}
    run.status = RunStatus.QUEUEING_REST
    run.save(update_fields=["winner", "winner_decided_at", "winner_figures", "status"])
    log.info(
        "campaign_winner_decided",
        extra={"campaign_id": campaign.pk, "run": run.number, "winner": run.winner},
    )
    return run.winner


def _phase_two(run: CampaignRun, *, now: dt.datetime, batch_size: int) -> tuple[int, bool]:
    """Queue the winner for the next batch of the rest."""
    campaign = run.campaign
    rest = list(
        CampaignRecipient.objects.filter(
            run=run, arm=Arm.REST, status=RecipientStatus.WAITING, pk__gt=run.rest_cursor
        )
        .select_related("customer")
        .only("pk", "customer_id", "channel", "customer__time_zone")
        .order_by("pk")[:batch_size]
    )
    if not rest:
        _run_finish(run, now=now)
        return 0, False
    winner = campaign.template_b if run.winner == Arm.B else campaign.template
    decisions = [
        Decision(
            customer_id=r.customer_id,
            name="",
            time_zone=r.customer.time_zone,
            arm=Arm.REST,
            status=RecipientStatus.QUEUED,
            channel=r.channel,
        )
        for r in rest
    ]
    messages = _enqueue(run, decisions, {Arm.REST: winner}, now=now)
    refused = 0
    for recipient in rest:
        recipient.status = RecipientStatus.QUEUED
        recipient.message_id = messages.get(recipient.customer_id)
        if campaign.club_id is not None and recipient.message_id is None:
            recipient.status, recipient.reason = RecipientStatus.SKIPPED, SkipReason.NOT_ADMITTED
            refused += 1
    CampaignRecipient.objects.bulk_update(rest, ["status", "reason", "message_id"])
    run.rest_cursor = rest[-1].pk
    run.queued += len(rest) - refused
    run.skipped += refused
    run.save(update_fields=["rest_cursor", "queued", "skipped", "throttle_clocks"])
    return len(rest), True


def _enqueue(
    run: CampaignRun,
    decisions: Sequence[Decision],
    templates: dict[str, Template | None],
    *,
    now: dt.datetime,
) -> dict[int, int]:
    """Queue one message per decision at its slot; returns customer id -> message id.

    A club invitation claims the customer's invite first (in this batch's transaction, so a
    repeated batch claims nothing twice) and carries its join address; a customer the club
    refuses now gets no message and is missing from the answer.
    """
    if not decisions:
        return {}
    campaign = run.campaign
    _clocks_fold(run, now=now)
    customers = Customer.objects.in_bulk([d.customer_id for d in decisions])
    by_template: dict[Template, list[Outgoing]] = defaultdict(list)
    keys: dict[str, int] = {}
    for decision in decisions:
        customer = customers.get(decision.customer_id)
        template = templates.get(decision.arm)
        if customer is None or template is None:
            continue
        context = None
        if campaign.club is not None:
            context = club_invite_context(
                club=campaign.club, customer=customer, source=InviteSource.CAMPAIGN
            )
            if context is None:
                continue
        key = dedupe_key(campaign.pk, run.number, customer.pk)
        keys[key] = customer.pk
        by_template[template].append(
            Outgoing(
                customer=customer,
                dedupe_key=key,
                channel=decision.channel,
                context=context or {},
                # Slots are taken in the decisions' order: the throttle's clocks move on.
                not_before=_slot(run, decision.time_zone, now=now),
            )
        )
    for template, items in by_template.items():
        messages_enqueue_many(
            items, template=template, purpose=campaign.purpose, topic=campaign.topic
        )
    # Each customer's message, new or queued by an earlier attempt of the same batch.
    stored = Message.objects.filter(in_values("dedupe_key", list(keys), sql_type="text"))
    return {keys[key]: pk for key, pk in stored.values_list("dedupe_key", "pk")}


def _slot(run: CampaignRun, time_zone: str, *, now: dt.datetime) -> dt.datetime:
    """The moment this message may go: inside the customer's window, after the previous slot
    of those whose window opens at the same moment (see CampaignRun.throttle_clocks)."""
    campaign = run.campaign
    opens = _window_open(campaign, time_zone, now)
    if not campaign.per_minute:
        return opens
    clocks = run.throttle_clocks
    at = opens
    key = OPEN
    for _hop in range(MAX_HOPS):
        key = OPEN if opens <= now else opens.isoformat()
        paced = clocks.get(key)
        at = max(opens, dt.datetime.fromisoformat(paced)) if paced else opens
        later = _window_open(campaign, time_zone, at)
        if later == at:
            break
        # This opening's pace ran past the window's end: the next opening, at its own pace.
        opens = later
    clocks[key] = (at + dt.timedelta(seconds=60 / campaign.per_minute)).isoformat()
    return at


def _clocks_fold(run: CampaignRun, *, now: dt.datetime) -> None:
    """Openings that have come join the "open" clock (the latest pace of them all wins)."""
    clocks = run.throttle_clocks
    passed = [k for k in clocks if k != OPEN and dt.datetime.fromisoformat(k) <= now]
    if passed:
        paces = [dt.datetime.fromisoformat(clocks.pop(k)) for k in passed]
        if OPEN in clocks:
            paces.append(dt.datetime.fromisoformat(clocks[OPEN]))
        clocks[OPEN] = max(paces).isoformat()


def _window_open(campaign: Campaign, time_zone: str, at: dt.datetime) -> dt.datetime:
    """`at`, or when the send window next opens on the customer's clock if it is shut then.

    Outside the window is a quiet period from its end to its start: the gates' arithmetic,
    correct across daylight saving changes, answers when it ends.
    """
    if campaign.window_start is None or campaign.window_end is None:
        return at
    wake = quiet_until(
        now=at, time_zone=time_zone, start=campaign.window_end, end=campaign.window_start
    )
    return wake or at
