"""Celery app for the distributed engine: beat ticks each sweep, a worker runs it when due.

Beat only sends ticks; whether a tick runs its sweep is decided by the slot claim in
lifelong.jobs.schedule, as for the embedded scheduler, so two beats or a restarted one never run
a slot twice and a daily sweep runs at its hour whenever beat started.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

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
    from lifelong.jobs.sweeps import sweep_by_name

    # Each sweep is its own task, so one failing never holds the others back; the failure is
    # logged and recorded as everywhere else and not retried (its next slot runs it again).
    if sweep_run_if_due(sweep_by_name(name)) is False:
        raise SweepFailed(name)


@worker_process_init.connect
def _worker_process_started(**_kwargs: object) -> None:
    from lifelong.jobs.heap import heap_settle

    heap_settle()


def sweep_queue(name: str) -> str:
    """Each sweep's ticks have their own queue, so a worker can be given only some sweeps."""
    return f"sweep.{name}"


def worker_queues() -> list[str]:
    """What a worker consumes unless told otherwise: every sweep and Celery's default queue."""
    from lifelong.jobs.sweeps import SWEEPS

    return [app.conf.task_default_queue, *(sweep_queue(s.name) for s in SWEEPS)]


def _beat_schedule() -> dict[str, dict[str, object]]:
    from lifelong.jobs.sweeps import SWEEPS

    schedule: dict[str, dict[str, object]] = {}
    for s in SWEEPS:
        tick = float(min(s.every_seconds, TICK_SECONDS_MAX))
        schedule[s.name] = {
            "task": "lifelong.sweep",
            "schedule": tick,
            "args": (s.name,),
            # A tick nobody took before the next one is dropped, not run late in a pile.
            "options": {"queue": sweep_queue(s.name), "expires": tick},
        }
    return schedule


app.conf.beat_schedule = _beat_schedule()
