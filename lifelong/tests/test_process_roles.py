"""Which process does what: `lifelong migrate` on its own and one node at a time, `lifelong
run` scheduling and migrating only in the embedded mode and showing a simulated clock, and
`lifelong simulate` touching nothing but the demo's database."""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection, connections

from lifelong import clock
from lifelong.cli import MIGRATION_LOCK_KEY, _migrate, main
from lifelong.customers.models import Customer
from lifelong.demo.generator import demo_build
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.jobs.models import SweepState
from lifelong.messaging.models import Message

REPO = Path(__file__).resolve().parents[2]


def _counts() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "events": Event.objects.count(),
        "messages": Message.objects.count(),
        "sweep states": SweepState.objects.count(),
    }


@pytest.mark.parametrize("shop", ["empty", "real customer", "demo and a real customer"])
@pytest.mark.django_db(transaction=True)
def test_simulate_refuses_a_database_that_is_not_a_demo_and_changes_nothing(
    shop, frozen_time, settings, capsys
):
    if shop != "empty":
        CustomerFactory.create(external_id="shop-1")
    if shop == "demo and a real customer":
        Customer.objects.all().delete()
        demo_build(customers=20, seed=1)
        CustomerFactory.create(external_id="shop-1")
    before = _counts()
    start = clock.now()
    assert main(["simulate", "--days", "3"]) == 1
    err = capsys.readouterr().err
    assert "lifelong simulate: This database is not a demo" in err
    assert "nothing was changed" in err
    assert _counts() == before
    assert clock.now() == start
    assert not (settings.VAR_DIR / "simulated-clock").exists()


@pytest.mark.django_db(transaction=True)
def test_simulate_runs_on_the_demo(frozen_time, settings, capsys):
    demo_build(customers=20, seed=1)
    start = clock.now()
    assert main(["simulate", "--days", "1"]) == 0
    assert clock.now() - start >= dt.timedelta(days=1)
    assert (settings.VAR_DIR / "simulated-clock").exists()
    assert SweepState.objects.filter(runs__gt=0).exists()


@pytest.mark.django_db(transaction=True)
def test_a_second_node_waits_for_the_first_ones_migration():
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite serves one machine")
    holder = connections.create_connection("default")
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
    done = threading.Event()

    def second_node() -> None:
        try:
            _migrate()
            done.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=second_node)
    thread.start()
    try:
        # The second node's session is queued behind the lock, not migrating.
        waiting = 0
        for _ in range(200):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                )
                waiting = cursor.fetchone()[0]
            if waiting:
                break
            time.sleep(0.05)
        assert waiting == 1
        assert not done.is_set()
    finally:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])
        holder.close()
    thread.join(60)
    assert done.is_set()


# `lifelong run` as its own process ----------------------------------------------------------


# These start `lifelong` processes on a SQLite database of their own whatever database the
# suite runs on, so the PostgreSQL run would only repeat them.
own_sqlite = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the processes use their own SQLite: run once, there"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lifelong(var_dir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFELONG_")}
    environ.update(LIFELONG_VAR_DIR=str(var_dir), **env)
    return subprocess.Popen(
        [sys.executable, "-m", "lifelong.cli", *args],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _serving(port: int) -> None:
    # Generous: a loaded machine builds the demo and imports every view slowly; this waits
    # for readiness, it does not time it.
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # answering, if not healthy (an unmigrated database)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _sweep_rows(var_dir: Path) -> int:
    with sqlite3.connect(var_dir / "lifelong.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM jobs_sweepstate").fetchone()[0])


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.terminate()
    return process.communicate(timeout=30)


@own_sqlite
def test_run_in_the_celery_mode_neither_migrates_nor_schedules(tmp_path):
    var_dir = tmp_path / "var"
    port = _free_port()
    run = _lifelong(var_dir, "run", "--port", str(port), LIFELONG_SCHEDULER="celery")
    try:
        _serving(port)
    finally:
        _stop(run)
    with sqlite3.connect(var_dir / "lifelong.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone() == (
            0,
        )
    migrate = _lifelong(var_dir, "migrate")
    out, _ = migrate.communicate(timeout=300)
    assert migrate.returncode == 0
    assert "up to date" in out
    run = _lifelong(var_dir, "run", "--port", str(port), LIFELONG_SCHEDULER="celery")
    try:
        _serving(port)
        time.sleep(3)  # the embedded scheduler would have claimed every sweep by now
        assert _sweep_rows(var_dir) == 0
    finally:
        _stop(run)


def _sweep_runs(var_dir: Path) -> int:
    with sqlite3.connect(var_dir / "lifelong.sqlite3") as db:
        return int(db.execute("SELECT coalesce(sum(runs), 0) FROM jobs_sweepstate").fetchone()[0])


@own_sqlite
def test_the_demo_in_the_celery_mode_serves_without_a_scheduler(tmp_path):
    var_dir = tmp_path / "var"
    port = _free_port()
    demo = _lifelong(
        var_dir, "demo", "--customers", "20", "--port", str(port), LIFELONG_SCHEDULER="celery"
    )
    try:
        _serving(port)
        built = _sweep_runs(var_dir)  # the demo ran every sweep once before serving
        assert built > 0
        time.sleep(3)  # the embedded scheduler would have run the due sweeps again by now
        assert _sweep_runs(var_dir) == built
    finally:
        _stop(demo)


@own_sqlite
def test_run_in_the_embedded_mode_migrates_schedules_and_shows_a_simulated_clock(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    (var_dir / "simulated-clock").write_text("86400.0\n")
    port = _free_port()
    run = _lifelong(var_dir, "run", "--port", str(port))
    try:
        _serving(port)
        deadline = time.monotonic() + 30
        while _sweep_rows(var_dir) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _sweep_rows(var_dir) > 0
    finally:
        _, err = _stop(run)
    assert "the clock runs 1 day, 0:00:00 ahead of real time" in err
    assert str(var_dir / "simulated-clock") in err


@own_sqlite
def test_simulate_on_a_fresh_database_refuses_before_migrating(tmp_path):
    var_dir = tmp_path / "var"
    simulate = _lifelong(var_dir, "simulate", "--days", "5")
    _, err = simulate.communicate(timeout=120)
    assert simulate.returncode == 1
    assert "This database is not a demo (it has no tables yet), so nothing was changed." in err
    with sqlite3.connect(var_dir / "lifelong.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    assert not (var_dir / "simulated-clock").exists()
