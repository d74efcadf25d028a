"""The registry of periodic sweeps, shared by both execution engines.

Each sweep is idempotent and claims its own rows, so the embedded scheduler,
`lifelong simulate` and Celery beat can all call the same functions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sweep:
    name: str
    target: str  # "module:function"
    every_seconds: int

    def load(self) -> Callable[[], object]:
        module, func = self.target.split(":")
        loaded: Callable[[], object] = getattr(import_module(module), func)
        return loaded


SWEEPS: tuple[Sweep, ...] = (
    Sweep("imports.run_pending", "lifelong.events.csv_import:imports_run_pending", 5),
    Sweep("idempotency.prune", "lifelong.events.idempotency:idempotency_prune", 3600),
    Sweep("segments.stages_refresh", "lifelong.segments.services:stages_refresh", 3600),
    Sweep("segments.rfm_refresh", "lifelong.segments.services:rfm_refresh", 86400),
    Sweep("segments.refresh_all", "lifelong.segments.services:segments_refresh_all", 3600),
    Sweep("segments.clv_scores_refresh", "lifelong.segments.scoring:clv_scores_refresh", 86400),
    Sweep("analytics.rollup", "lifelong.analytics.rollups:analytics_rollup", 3600),
    # Order matters for `run_all`: react to new events, enroll by date, advance, then send.
    Sweep("journeys.react", "lifelong.journeys.reactor:journeys_react", 5),
    Sweep("journeys.enroll_by_date", "lifelong.journeys.dates:journeys_enroll_by_date", 3600),
    Sweep("journeys.advance_due", "lifelong.journeys.engine:advance_due", 10),
    Sweep("messaging.dispatch_due", "lifelong.messaging.dispatch:dispatch_due", 5),
    # Earn from new events, then release, then expire: a lot is never expired while pending.
    Sweep("loyalty.earn", "lifelong.loyalty.earning:loyalty_earn", 10),
    Sweep("loyalty.release_pending", "lifelong.loyalty.sweeps:loyalty_release_pending", 600),
    Sweep("loyalty.expire_due", "lifelong.loyalty.sweeps:loyalty_expire_due", 3600),
    Sweep("loyalty.verify", "lifelong.loyalty.verify:loyalty_verify", 86400),
)


def sweep_by_name(name: str) -> Sweep:
    for sweep in SWEEPS:
        if sweep.name == name:
            return sweep
    raise KeyError(name)


def sweep_run(sweep: Sweep) -> bool:
    """Run one sweep; False if it failed. A failure is logged, never raised, so the
    sweeps after it still run: one sweep tripping over odd data must not stop the rest."""
    try:
        sweep.load()()
    except Exception:
        log.exception("sweep_failed", extra={"sweep": sweep.name})
        return False
    return True


def run_all() -> list[str]:
    """Run every sweep once (used by `lifelong simulate` and `lifelong demo`).

    Returns the names of the sweeps that failed.
    """
    return [sweep.name for sweep in SWEEPS if not sweep_run(sweep)]


class EmbeddedScheduler(threading.Thread):
    """Runs the sweeps on their intervals inside the web process (no broker needed)."""

    def __init__(self) -> None:
        super().__init__(name="lifelong-scheduler", daemon=True)
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        from django.db import close_old_connections, connections

        elapsed = 0
        try:
            while not self._stop_event.wait(1):
                elapsed += 1
                for sweep in SWEEPS:
                    if elapsed % sweep.every_seconds:
                        continue
                    close_old_connections()
                    sweep_run(sweep)
        finally:
            connections.close_all()
