"""The clock moves only forward; `lifelong simulate` advances it on the demo and runs every
sweep."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong import clock
from lifelong.accounts.services import api_key_create
from lifelong.cli import main
from lifelong.demo.generator import demo_build
from lifelong.events.models import IdempotentRequest
from lifelong.factories import UserFactory


def test_clock_advances_and_refuses_to_go_back(frozen_time):
    start = clock.now()
    clock.advance(dt.timedelta(days=2))
    assert clock.now() - start == dt.timedelta(days=2)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(dt.timedelta(seconds=-1))


@pytest.mark.django_db(transaction=True)
def test_simulate_moves_time_and_runs_sweeps(frozen_time, capsys):
    demo_build(customers=20, seed=1)
    key, _ = api_key_create(name="shop", scopes=["read"], actor=UserFactory())
    IdempotentRequest.objects.create(key="k", api_key=key, request_hash="h")
    start = clock.now()
    assert main(["simulate", "--days", "2"]) == 0
    # The demo's days start at its first pass of the morning, so the clock ends on one.
    assert dt.timedelta(days=2) <= clock.now() - start < dt.timedelta(days=3)
    # The idempotency prune sweep ran at the simulated time and forgot the day-old key.
    assert not IdempotentRequest.objects.exists()
    assert "day 2/2" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_simulated_time_outlives_the_simulate_command(frozen_time, settings):
    from lifelong.cli import _setup

    demo_build(customers=20, seed=1)
    start = clock.now()
    assert main(["simulate", "--days", "3"]) == 0
    moved = clock.now() - start
    assert moved >= dt.timedelta(days=3)
    clock.reset()  # a new process, e.g. `lifelong run` afterwards
    _setup()
    assert clock.now() - start == moved
    clock.offset_forget(settings.VAR_DIR / "simulated-clock")
    _setup()
    assert clock.now() == start
