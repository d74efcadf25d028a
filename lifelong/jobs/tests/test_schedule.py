"""Sweeps run at wall-clock slots claimed in the database: a restart neither skips nor doubles
a run, and two schedulers or two beats never run one slot twice."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection, connections
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from lifelong.celery import _beat_schedule, app, run_sweep, sweep_queue, worker_queues
from lifelong.jobs import sweeps
from lifelong.jobs.models import SweepState
from lifelong.jobs.schedule import (
    next_due,
    slot_after,
    slot_start,
    sweep_lag,
    sweep_slot,
    sweeps_run_due,
    sweeps_status,
)

MOSCOW = ZoneInfo("Europe/Moscow")
RUNS: Counter[str] = Counter()
DAILY = sweeps.Sweep("test.daily", f"{__name__}:daily_sweep", sweeps.DAY, daily=True)
OFTEN = sweeps.Sweep("test.often", f"{__name__}:often_sweep", 10)
BROKEN = sweeps.Sweep("test.broken", f"{__name__}:broken_sweep", 10)


def daily_sweep() -> None:
    RUNS["daily"] += 1


def often_sweep() -> None:
    RUNS["often"] += 1


def broken_sweep() -> None:
    if RUNS["broken"] < 2:
        RUNS["broken"] += 1
        raise RuntimeError("odd data")


@pytest.fixture
def test_sweeps(monkeypatch, settings):
    settings.TIME_ZONE = "Europe/Moscow"
    settings.DAILY_SWEEP_HOUR = 3
    monkeypatch.setattr(sweeps, "SWEEPS", (DAILY, OFTEN))
    RUNS.clear()
    yield
    RUNS.clear()


def _local(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, second, tzinfo=MOSCOW)


@pytest.mark.django_db
def test_a_restart_an_hour_before_the_daily_hour_still_runs_it_at_that_hour(
    test_sweeps, frozen_time
):
    frozen_time.move_to(_local(2, 3, 30))
    assert sweeps_run_due() == {"test.daily": True, "test.often": True}
    # The process stops and a new one starts the next night at 02:00: the state is in the
    # database, so the new scheduler knows yesterday's run and waits for 03:00.
    frozen_time.move_to(_local(3, 2, 0))
    assert "test.daily" not in sweeps_run_due()
    frozen_time.move_to(_local(3, 2, 59, 59))
    assert "test.daily" not in sweeps_run_due()
    frozen_time.move_to(_local(3, 3, 0, 0))
    assert sweeps_run_due() == {"test.daily": True, "test.often": True}
    frozen_time.move_to(_local(3, 3, 0, 1))
    assert sweeps_run_due() == {}
    assert RUNS["daily"] == 2


@pytest.mark.django_db
def test_a_slot_missed_while_nothing_ran_runs_once_when_a_scheduler_is_back(
    test_sweeps, frozen_time
):
    frozen_time.move_to(_local(2, 4))
    sweeps_run_due()
    # Down from before 03:00 on the 3rd to noon on the 5th: one catch-up run, not three.
    frozen_time.move_to(_local(5, 12))
    assert sweeps_run_due()["test.daily"] is True
    assert sweeps_run_due() == {}
    assert RUNS["daily"] == 2


@pytest.mark.django_db
def test_interval_sweeps_run_once_per_slot(test_sweeps, frozen_time):
    frozen_time.move_to(dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=dt.UTC))
    for second in range(30):
        frozen_time.move_to(dt.datetime(2026, 3, 2, 10, 0, second, tzinfo=dt.UTC))
        sweeps_run_due()
        sweeps_run_due()  # a second embedded scheduler ticking at the same second
    assert RUNS["often"] == 3


@pytest.mark.django_db
def test_two_beats_ticking_one_slot_run_the_sweep_once(test_sweeps, frozen_time):
    frozen_time.move_to(dt.datetime(2026, 3, 2, 10, 0, 1, tzinfo=dt.UTC))
    assert run_sweep.apply(args=("test.often",)).successful()
    assert run_sweep.apply(args=("test.often",)).successful()
    assert RUNS["often"] == 1
    frozen_time.move_to(dt.datetime(2026, 3, 2, 10, 0, 10, tzinfo=dt.UTC))
    run_sweep.apply(args=("test.often",))
    assert RUNS["often"] == 2


def test_beat_ticks_every_sweep_on_its_own_queue_at_least_every_minute():
    schedule = app.conf.beat_schedule
    assert set(schedule) == {s.name for s in sweeps.SWEEPS}
    for sweep in sweeps.SWEEPS:
        tick = min(sweep.every_seconds, 60)
        assert schedule[sweep.name]["schedule"] == tick
        assert schedule[sweep.name]["options"] == {
            "queue": sweep_queue(sweep.name),
            "expires": tick,
        }
    assert set(worker_queues()) == {"celery", *(sweep_queue(s.name) for s in sweeps.SWEEPS)}


@pytest.mark.django_db(transaction=True)
def test_a_worker_given_one_sweeps_queue_runs_its_ticks(monkeypatch):
    # A sweep of its own name, so a stray worker elsewhere on the broker has no such queue.
    sweep = sweeps.Sweep(f"test.{uuid.uuid4().hex}", f"{__name__}:often_sweep", 10)
    monkeypatch.setattr(sweeps, "SWEEPS", (sweep,))
    RUNS.clear()
    entry = _beat_schedule()[sweep.name]
    previous = app.conf.broker_heartbeat
    app.conf.broker_heartbeat = 0  # the in-process worker stops at once (see test_celery_sweeps)
    try:
        with start_worker(
            app,
            pool="solo",
            perform_ping_check=False,
            queues=[sweep_queue(sweep.name)],
            shutdown_timeout=60,
        ):
            run_sweep.apply_async(args=entry["args"], **entry["options"])
            deadline = time.monotonic() + 30
            while not RUNS["often"] and time.monotonic() < deadline:
                time.sleep(0.2)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(sweep_queue(sweep.name))
    finally:
        app.conf.broker_heartbeat = previous
    assert RUNS["often"] == 1
    assert SweepState.objects.get(name=sweep.name).runs == 1


@pytest.mark.django_db(transaction=True)
def test_racing_schedulers_run_each_slot_once(test_sweeps):
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            start.wait()
            sweeps_run_due()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if connection.vendor == "sqlite":
        # SQLite may refuse a racing writer ("database is locked"); never a double run.
        assert all("locked" in str(e) for e in errors)
    else:
        assert not errors
    assert RUNS["daily"] == 1
    assert RUNS["often"] == 1


@pytest.mark.django_db
def test_a_failure_is_recorded_and_the_next_success_clears_it(monkeypatch, frozen_time):
    monkeypatch.setattr(sweeps, "SWEEPS", (BROKEN,))
    RUNS.clear()
    sweeps_run_due()
    state = SweepState.objects.get(name="test.broken")
    assert state.last_error == "RuntimeError: odd data"
    assert (state.consecutive_failures, state.runs, state.failures) == (1, 1, 1)
    assert state.last_duration_seconds is not None
    for _ in range(2):
        frozen_time.shift(dt.timedelta(seconds=10))
        sweeps_run_due()
    [status] = sweeps_status()
    assert status.state.last_error == ""
    assert (status.state.consecutive_failures, status.state.runs, status.state.failures) == (
        0,
        3,
        2,
    )
    assert status.lag == dt.timedelta(0)


instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),  # noqa: DTZ001 (hypothesis wants naive bounds)
    max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(dt.UTC),
)


@given(
    at=instants,
    hour=st.integers(0, 23),
    every=st.sampled_from([5, 10, 600, 3600, 86400]),
    zone=st.sampled_from(["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_every_instant_lies_in_its_slot_and_the_next_slot_is_later(at, hour, every, zone):
    with override_settings(DAILY_SWEEP_HOUR=hour, TIME_ZONE=zone):
        _slots_hold(at, every)


def _slots_hold(at: dt.datetime, every: int) -> None:
    for sweep in (
        sweeps.Sweep("d", "x:y", sweeps.DAY, daily=True),
        sweeps.Sweep("i", "x:y", every),
    ):
        slot = sweep_slot(sweep, at)
        following = slot_after(sweep, slot)
        assert slot_start(slot) <= at < slot_start(following)
        assert sweep_slot(sweep, slot_start(following)) == following
        assert next_due(sweep, last_slot=slot, now=at) == slot_start(following)
        assert next_due(sweep, last_slot=slot - 1, now=at) == at
        assert sweep_lag(sweep, last_slot=slot, now=at) == dt.timedelta(0)
        assert sweep_lag(sweep, last_slot=-1, now=at) == at - slot_start(slot)


@pytest.mark.django_db
def test_a_release_that_changes_a_sweeps_interval_or_makes_it_daily_does_not_stall_it(
    monkeypatch, frozen_time, settings
):
    settings.TIME_ZONE = "Europe/Moscow"
    settings.DAILY_SWEEP_HOUR = 3
    frozen_time.move_to(_local(2, 12))
    monkeypatch.setattr(sweeps, "SWEEPS", (OFTEN,))
    RUNS.clear()
    sweeps_run_due()
    slower = sweeps.Sweep(OFTEN.name, OFTEN.target, 3600)
    monkeypatch.setattr(sweeps, "SWEEPS", (slower,))
    frozen_time.move_to(_local(2, 13))
    sweeps_run_due()
    daily = sweeps.Sweep(OFTEN.name, OFTEN.target, sweeps.DAY, daily=True)
    monkeypatch.setattr(sweeps, "SWEEPS", (daily,))
    frozen_time.move_to(_local(3, 3))
    sweeps_run_due()
    monkeypatch.setattr(sweeps, "SWEEPS", (OFTEN,))
    frozen_time.move_to(_local(3, 3, 0, 10))
    sweeps_run_due()
    assert RUNS["often"] == 4


RUN_TIMES: list[tuple[str, dt.datetime]] = []
HOURLY = sweeps.Sweep("test.hourly", f"{__name__}:hourly_sweep", 3600)
DAILY_NOTED = sweeps.Sweep(
    "test.daily_noted", f"{__name__}:daily_noted_sweep", sweeps.DAY, daily=True
)


def hourly_sweep() -> None:
    from lifelong import clock

    RUN_TIMES.append(("test.hourly", clock.now()))


def daily_noted_sweep() -> None:
    from lifelong import clock

    RUN_TIMES.append(("test.daily_noted", clock.now()))


@pytest.mark.django_db
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 2 * 86400), st.integers(1, 3)), min_size=1, max_size=25
    ),
    hour=st.integers(0, 23),
)
def test_schedulers_ticking_at_any_times_run_each_slot_once_and_never_skip_the_current(steps, hour):
    """However far apart the ticks and however many schedulers tick at once, each slot runs
    at most once, and after a tick every sweep has run its current slot."""
    import time_machine

    SweepState.objects.all().delete()
    RUN_TIMES.clear()
    now = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
    # Patched per example: hypothesis runs them all inside one call of the test.
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(DAILY_SWEEP_HOUR=hour, TIME_ZONE="Europe/Moscow"),
    ):
        patch.setattr(sweeps, "SWEEPS", (HOURLY, DAILY_NOTED))
        for seconds, schedulers in steps:
            now += dt.timedelta(seconds=seconds)
            with time_machine.travel(now, tick=False):
                for _ in range(schedulers):
                    sweeps_run_due()
            for sweep in (HOURLY, DAILY_NOTED):
                runs = [at for name, at in RUN_TIMES if name == sweep.name]
                slots = [sweep_slot(sweep, at) for at in runs]
                assert len(slots) == len(set(slots))
                assert slots[-1] == sweep_slot(sweep, now)
