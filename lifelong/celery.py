"""Celery app for the distributed engine: beat schedules the same sweeps as `lifelong run`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")

app = Celery("lifelong")
app.config_from_object("django.conf:settings", namespace="CELERY")


class SweepFailed(Exception):
    """A sweep failed (logged with its traceback); the task is marked failed for monitoring."""


@app.task(name="lifelong.sweep", acks_late=True, reject_on_worker_lost=True)
def run_sweep(name: str) -> None:
    from lifelong.sweeps import sweep_by_name, sweep_run

    # Each sweep is its own task, so one failing never holds the others back; the failure is
    # logged as everywhere else and not retried (the next beat runs it again).
    if not sweep_run(sweep_by_name(name)):
        raise SweepFailed(name)


def _beat_schedule() -> dict[str, dict[str, object]]:
    from lifelong.sweeps import SWEEPS

    return {
        s.name: {"task": "lifelong.sweep", "schedule": float(s.every_seconds), "args": (s.name,)}
        for s in SWEEPS
    }


app.conf.beat_schedule = _beat_schedule()
