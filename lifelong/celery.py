"""Celery app for the distributed engine: beat ticks each sweep, a worker runs it when due.

Beat only sends ticks; whether a tick runs its sweep is decided by the slot claim in
lifelong.jobs.schedule, as for the embedded scheduler, so two beats or a restarted one never run
a slot twice and a daily sweep runs at its hour whenever beat started.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")

app = Celery("lifelong")
app.config_from_object("django.conf:settings", namespace="CELERY")

# A tick at least every minute: a slot starts within a minute of its due time.
TICK_SECONDS_MAX = 60


class SweepFailed(Exception):
    """A sweep failed (logged with its traceback); the task is marked failed for monitoring."""


@app.task(name="lifelong.sweep", acks_late=True, reject_on_worker_lost=True)
def run_sweep(name: str) -> None:
    from lifelong.jobs.schedule import sweep_run_if_due
    from lifelong.sweeps import sweep_by_name

    # Each sweep is its own task, so one failing never holds the others back; the failure is
    # logged and recorded as everywhere else and not retried (its next slot runs it again).
    if sweep_run_if_due(sweep_by_name(name)) is False:
        raise SweepFailed(name)


def _beat_schedule() -> dict[str, dict[str, object]]:
    from lifelong.sweeps import SWEEPS

    return {
        s.name: {
            "task": "lifelong.sweep",
            "schedule": float(min(s.every_seconds, TICK_SECONDS_MAX)),
            "args": (s.name,),
        }
        for s in SWEEPS
    }


app.conf.beat_schedule = _beat_schedule()
