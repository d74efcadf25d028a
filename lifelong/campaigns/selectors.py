"""Reads of campaigns: the preview of who a campaign reaches and why not, a run's progress."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from lifelong import clock
from lifelong.campaigns.audience import context_make, decide_next
from lifelong.campaigns.models import Campaign, CampaignRun, RecipientStatus, SkipReason

PREVIEW_BATCH = 5000
AT_SEND = (SkipReason.CANCELLED, SkipReason.NOT_ADMITTED)
HOLDOUT = "holdout"
CAPPED = "capped"


@dataclasses.dataclass(frozen=True)
class SampleCustomer:
    id: int
    name: str


@dataclasses.dataclass
class Preview:
    """Who a campaign would reach if it ran now, decided exactly as a run decides.

    audience = sendable + held_out + sum(skipped). `capped` customers are among the sendable:
    their frequency cap is full now, so the dispatcher will hold their message back until it
    frees up (a cap defers, it does not drop). `arms` leaves the skipped out.
    """

    audience: int = 0
    sendable: int = 0
    held_out: int = 0
    capped: int = 0
    # Reasons known only at the send (a cancel; a club refusing an invitation the audience,
    # narrowed to whom the club admits, still held) are left out.
    skipped: dict[str, int] = dataclasses.field(
        default_factory=lambda: dict.fromkeys([r for r in SkipReason.values if r not in AT_SEND], 0)
    )
    arms: Counter[str] = dataclasses.field(default_factory=Counter)
    samples: dict[str, list[SampleCustomer]] = dataclasses.field(default_factory=dict)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def campaign_preview(
    *, campaign: Campaign, now: dt.datetime | None = None, samples: int = 5
) -> Preview:
    """The preview of a (possibly unsaved) campaign: two queries per 5000 customers."""
    now = now or clock.now()
    context = context_make(campaign)
    preview = Preview()
    after = 0
    while decisions := decide_next(
        campaign, now=now, after=after, limit=PREVIEW_BATCH, context=context
    ):
        after = decisions[-1].customer_id
        for decision in decisions:
            preview.audience += 1
            keys = []
            if decision.status == RecipientStatus.SKIPPED:
                preview.skipped[decision.reason] += 1
                keys.append(decision.reason)
            else:
                preview.arms[decision.arm] += 1
                if decision.status == RecipientStatus.HOLDOUT:
                    preview.held_out += 1
                    keys.append(HOLDOUT)
                else:
                    preview.sendable += 1
                    if decision.capped:
                        preview.capped += 1
                        keys.append(CAPPED)
            for key in keys:
                shown = preview.samples.setdefault(key, [])
                if len(shown) < samples:
                    shown.append(SampleCustomer(id=decision.customer_id, name=decision.name))
    return preview


def campaign_progress(run: CampaignRun) -> int:
    """How far a run's queueing is, 0 to 100 (the audience as counted at its start)."""
    if run.finished_at is not None or not run.audience_total:
        return 100 if run.finished_at is not None else 0
    return min(100, 100 * run.processed // run.audience_total)
