"""When each sweep is due, and the one way to claim a due run, for both drivers.

A sweep's *slot* is one of its due times: interval sweeps are due at every multiple of their
interval since the epoch, daily ones at LIFELONG_DAILY_SWEEP_HOUR local time (TIME_ZONE). A run
claims its slot by moving `SweepState.last_slot` forward with one conditional UPDATE, so two
embedded schedulers, two beats or a restart never run one slot twice, and a slot missed while
nothing ran is run once as soon as a scheduler is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings

from lifelong import clock
from lifelong.jobs import sweeps
from lifelong.jobs.models import SweepState
from lifelong.jobs.sweeps import Sweep, sweep_run

log = logging.getLogger(__name__)
# A due run waiting longer than this is late: the scheduler is down, stuck or overloaded.
SWEEP_LATE = dt.timedelta(minutes=5)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def sweep_slot(sweep: Sweep, at: dt.datetime) -> int:
    """The sweep's slot at `at`: when its last due time at or before `at` began, in seconds
    since the epoch. A time, not a count, so that slots stay comparable when a release changes
    a sweep's interval or makes it daily."""
    if sweep.daily:
        local = at.astimezone(_zone())
        day = local.date()
        if local.hour < settings.DAILY_SWEEP_HOUR:
            day -= dt.timedelta(days=1)
        return _daily_start(day)
    seconds = int(at.timestamp())
    return seconds - seconds % sweep.every_seconds


def _daily_start(day: dt.date) -> int:
    local = dt.datetime.combine(day, dt.time(settings.DAILY_SWEEP_HOUR), tzinfo=_zone())
    return int(local.timestamp())


def slot_after(sweep: Sweep, slot: int) -> int:
    """The slot that follows `slot`."""
    if sweep.daily:
        day = dt.datetime.fromtimestamp(slot, _zone()).date()
        return _daily_start(day + dt.timedelta(days=1))
    return slot + sweep.every_seconds


def slot_start(slot: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(slot, dt.UTC)


def next_due(sweep: Sweep, *, last_slot: int, now: dt.datetime) -> dt.datetime:
    """When the sweep runs next: now if a slot is waiting, else the start of the next slot."""
    current = sweep_slot(sweep, now)
    if last_slot < current:
        return now
    return slot_start(slot_after(sweep, current))


def sweep_lag(sweep: Sweep, *, last_slot: int, now: dt.datetime) -> dt.timedelta:
    """How long the oldest slot not yet run has been waiting (zero when none is)."""
    current = sweep_slot(sweep, now)
    if last_slot >= current:
        return dt.timedelta(0)
    # Never run: late since the current slot began, not since the epoch.
    waiting = current if last_slot < 0 else min(slot_after(sweep, last_slot), current)
    return now - slot_start(waiting)


def states_ensure() -> dict[str, int]:
    """Every sweep's last claimed slot, creating the rows of sweeps not seen before."""
    slots = dict(SweepState.objects.values_list("name", "last_slot"))
    missing = [SweepState(name=s.name) for s in sweeps.SWEEPS if s.name not in slots]
    if missing:
        SweepState.objects.bulk_create(missing, ignore_conflicts=True)
        slots.update(dict(SweepState.objects.values_list("name", "last_slot")))
    return slots


def sweep_claim(*, sweep: Sweep, slot: int) -> bool:
    """Claim the slot for this process; False if another run already has it (or a later one)."""
    claimed = SweepState.objects.filter(name=sweep.name, last_slot__lt=slot).update(last_slot=slot)
    return claimed == 1


def sweep_run_if_due(sweep: Sweep) -> bool | None:
    """Run the sweep if its current slot is unclaimed: None when not due, else whether it ran
    without error. The Celery task calls this for each tick beat sends."""
    states_ensure()
    if not sweep_claim(sweep=sweep, slot=sweep_slot(sweep, clock.now())):
        return None
    return sweep_run(sweep)


def sweeps_run_due() -> dict[str, bool]:
    """Claim and run every due sweep in registry order; what ran and whether it went through."""
    slots = states_ensure()
    now = clock.now()
    ran: dict[str, bool] = {}
    for sweep in sweeps.SWEEPS:
        slot = sweep_slot(sweep, now)
        if slots.get(sweep.name, -1) < slot and sweep_claim(sweep=sweep, slot=slot):
            ran[sweep.name] = sweep_run(sweep)
    return ran


@dataclass(frozen=True)
class SweepStatus:
    """One sweep as the Jobs page, /healthz and /metrics show it."""

    sweep: Sweep
    state: SweepState
    lag: dt.timedelta
    next_due: dt.datetime

    @property
    def late(self) -> bool:
        return self.lag > SWEEP_LATE

    @property
    def lag_minutes(self) -> int:
        return int(self.lag.total_seconds() // 60)


def sweeps_status() -> list[SweepStatus]:
    """Every sweep with its stored state, lag and next due time (one query)."""
    now = clock.now()
    states = {s.name: s for s in SweepState.objects.all()}
    found = []
    for sweep in sweeps.SWEEPS:
        state = states.get(sweep.name) or SweepState(name=sweep.name)
        found.append(
            SweepStatus(
                sweep=sweep,
                state=state,
                lag=sweep_lag(sweep, last_slot=state.last_slot, now=now),
                next_due=next_due(sweep, last_slot=state.last_slot, now=now),
            )
        )
    return found


class EmbeddedScheduler(threading.Thread):
    """Runs the due sweeps inside the web process (no broker needed), checking every second."""

    def __init__(self) -> None:
        super().__init__(name="lifelong-scheduler", daemon=True)
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        from django.db import DatabaseError, close_old_connections, connections

        from lifelong.jobs.heap import heap_settle

        heap_settle()
        try:
            while not self._stop_event.wait(1):
                close_old_connections()
                try:
                    sweeps_run_due()
                except DatabaseError:
                    # The database went away for a moment: the slots wait in it for the next tick.
                    log.exception("scheduler_tick_failed")
        finally:
            connections.close_all()
