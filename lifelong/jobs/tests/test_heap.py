"""Worker processes settle their heap when they start (jobs/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from celery.signals import worker_process_init

from lifelong.jobs.heap import YOUNGEST_THRESHOLD, heap_settle


@pytest.fixture
def collector() -> Iterator[None]:
    """Python's own settings back after the test."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_settling_freezes_what_is_loaded_and_collects_young_objects_less_often(collector):
    gc.unfreeze()
    middle, oldest = gc.get_threshold()[1:]
    heap_settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNGEST_THRESHOLD, middle, oldest)
    # Cycles made afterwards are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_a_celery_worker_process_settles_when_it_starts(collector):
    import lifelong.celery  # noqa: F401 (connects the signal)

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    worker_process_init.send(sender=None)
    assert gc.get_threshold()[0] == YOUNGEST_THRESHOLD
    assert gc.get_freeze_count() > 0
