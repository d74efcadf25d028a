"""The registry of periodic sweeps, shared by both execution engines.

Each sweep is idempotent and claims its own rows, so the embedded scheduler,
`lifelong simulate` and Celery beat can all call the same functions. When each one is due
and who runs it is lifelong.jobs.schedule's business; every run is recorded in its SweepState.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from django.db.models import F

from lifelong import clock
from lifelong.jobs.models import SweepState

log = logging.getLogger(__name__)
DAY = 86400


@dataclass(frozen=True)
class Sweep:
    name: str
    target: str  # "module:function"
    every_seconds: int
    # Daily sweeps run once a day at LIFELONG_DAILY_SWEEP_HOUR local time, not every 24 h from
    # whenever the process started.
    daily: bool = False

    def load(self) -> Callable[[], object]:
        module, func = self.target.split(":")
        loaded: Callable[[], object] = getattr(import_module(module), func)
        return loaded


SWEEPS: tuple[Sweep, ...] = (
    Sweep("imports.run_pending", "lifelong.events.csv_import:imports_run_pending", 5),
    # Summaries an import queued and did not refresh itself (it crashed, or was taken over).
    Sweep(
        "commerce.summaries_refresh",
        "lifelong.commerce.summaries:summaries_refresh_pending",
        60,
    ),
    Sweep("idempotency.prune", "lifelong.events.idempotency:idempotency_prune", 3600),
    Sweep("segments.stages_refresh", "lifelong.segments.services:stages_refresh", 3600),
    Sweep("segments.rfm_refresh", "lifelong.segments.services:rfm_refresh", DAY, daily=True),
    Sweep("segments.refresh_all", "lifelong.segments.services:segments_refresh_all", 3600),
    Sweep(
        "segments.clv_scores_refresh",
        "lifelong.segments.scoring:clv_scores_refresh",
        DAY,
        daily=True,
    ),
    Sweep("analytics.rollup", "lifelong.analytics.rollups:analytics_rollup", 3600),
    # Community events before the reactors read the log: journeys and earning see them at once.
    Sweep(
        "community.active_weeks",
        "lifelong.community.activity:community_active_week_record",
        600,
    ),
    Sweep("community.early_access", "lifelong.community.early_access:early_access_open_due", 60),
    # Club posts are queued before the dispatcher runs, so a due post goes out in the same round.
    Sweep("community.posts", "lifelong.community.posts:club_posts_send", 60),
    # Order matters for `run_all`: react to new events, enroll by date, advance, then send.
    Sweep("journeys.react", "lifelong.journeys.reactor:journeys_react", 5),
    Sweep("journeys.enroll_by_date", "lifelong.journeys.dates:journeys_enroll_by_date", 3600),
    Sweep("journeys.advance_due", "lifelong.journeys.engine:advance_due", 10),
    # Campaigns queue their batches before the dispatcher runs, so a launch goes out at once.
    Sweep("campaigns.due", "lifelong.campaigns.engine:campaigns_due", 10),
    Sweep("messaging.dispatch_due", "lifelong.messaging.dispatch:dispatch_due", 5),
    Sweep("feedback.escalate_overdue", "lifelong.feedback.inbox:escalate_overdue", 60),
    # Customers' email replies into the inbox; nothing when no reply mailbox is set.
    Sweep("feedback.mailbox_read", "lifelong.feedback.mailbox:mailbox_read", 60),
    # Daily, so the first run after a week ends mails its digest; keyed per staff member and week.
    Sweep("feedback.digest_weekly", "lifelong.feedback.digest:digest_send_weekly", DAY, daily=True),
    # Goals reached and round numbers passed, told once each (unique key); hourly so the home
    # pages hear of them the same day. The thanks mail is keyed per member and week like the digest.
    Sweep("team.milestones", "lifelong.team.milestones:milestones_sweep", 3600),
    Sweep("team.thanks_weekly", "lifelong.team.thanks:thanks_send_weekly", DAY, daily=True),
    # Referrals first: the referral_converted events they write are earned in the same round.
    Sweep("loyalty.referrals", "lifelong.loyalty.referral_sweep:loyalty_referrals", 30),
    # Earn from new events, then release, then expire: a lot is never expired while pending.
    Sweep("loyalty.earn", "lifelong.loyalty.earning:loyalty_earn", 10),
    Sweep("loyalty.merges_follow", "lifelong.loyalty.merges:loyalty_merges_follow", 600),
    # Tiers after earning: status points just credited lift a customer within the minute.
    Sweep("loyalty.tiers_review", "lifelong.loyalty.tier_sweeps:loyalty_tiers_review", 30),
    Sweep(
        "loyalty.tiers_recheck",
        "lifelong.loyalty.tier_sweeps:loyalty_tiers_recheck",
        DAY,
        daily=True,
    ),
    Sweep("loyalty.release_pending", "lifelong.loyalty.sweeps:loyalty_release_pending", 600),
    Sweep("loyalty.expire_due", "lifelong.loyalty.sweeps:loyalty_expire_due", 3600),
    Sweep("loyalty.holds_expire", "lifelong.loyalty.holds:loyalty_holds_expire", 60),
    Sweep("loyalty.verify", "lifelong.loyalty.verify:loyalty_verify", DAY, daily=True),
    # After the tier review: a member whose tier went down is marked, removed after the
    # club's grace period.
    Sweep("community.members", "lifelong.community.services:club_members_sweep", 600),
)


def sweep_by_name(name: str) -> Sweep:
    for sweep in SWEEPS:
        if sweep.name == name:
            return sweep
    raise KeyError(name)


def sweep_run(sweep: Sweep) -> bool:
    """Run one sweep and record how it went; False if it failed. A failure is logged, never
    raised, so the sweeps after it still run: one sweep tripping over odd data must not stop
    the rest."""
    started_at = clock.now()
    started = time.monotonic()
    error = ""
    try:
        sweep.load()()
    except Exception as exc:
        log.exception("sweep_failed", extra={"sweep": sweep.name})
        error = f"{type(exc).__name__}: {exc}"[:2000]
    _run_record(sweep, started_at=started_at, seconds=time.monotonic() - started, error=error)
    return not error


def _run_record(sweep: Sweep, *, started_at: dt.datetime, seconds: float, error: str) -> None:
    failed = int(bool(error))
    SweepState.objects.bulk_create([SweepState(name=sweep.name)], ignore_conflicts=True)
    SweepState.objects.filter(name=sweep.name).update(
        last_started_at=started_at,
        last_finished_at=clock.now(),
        last_duration_seconds=seconds,
        last_error=error,
        consecutive_failures=(F("consecutive_failures") + 1) if failed else 0,
        runs=F("runs") + 1,
        failures=F("failures") + failed,
    )


def run_all() -> list[str]:
    """Run every sweep once (used by `lifelong simulate` and `lifelong demo`).

    Returns the names of the sweeps that failed.
    """
    return [sweep.name for sweep in SWEEPS if not sweep_run(sweep)]
