"""Celery app for the distributed engine: beat schedules the same sweeps as `lifelong run`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")

app = Celery("lifelong")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="lifelong.sweep", acks_late=True, reject_on_worker_lost=True)
def run_sweep(name: str) -> None:
    from lifelong.sweeps import sweep_by_name

    sweep_by_name(name).load()()


def _beat_schedule() -> dict[str, dict[str, object]]:
    from lifelong.sweeps import SWEEPS

    return {
        s.name: {"task": "lifelong.sweep", "schedule": float(s.every_seconds), "args": (s.name,)}
        for s in SWEEPS
    }


app.conf.beat_schedule = _beat_schedule()
