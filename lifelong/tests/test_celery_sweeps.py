"""The distributed engine: a real Celery worker on the machine's RabbitMQ runs a sweep."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from lifelong import clock
from lifelong.accounts.services import api_key_create
from lifelong.celery import app, run_sweep
from lifelong.events.models import IdempotentRequest


@pytest.fixture
def no_heartbeat():
    # With AMQP heartbeats the worker's event loop sleeps up to seconds between polls, so the
    # in-process test worker takes ~8 s to notice it should stop; production keeps them on.
    previous = app.conf.broker_heartbeat
    app.conf.broker_heartbeat = 0
    yield
    app.conf.broker_heartbeat = previous


@pytest.mark.django_db(transaction=True)
def test_beat_schedule_covers_every_sweep_and_worker_runs_one(no_heartbeat):
    from lifelong.jobs.sweeps import SWEEPS

    assert set(app.conf.beat_schedule) == {s.name for s in SWEEPS}
    key, _ = api_key_create(name="shop", scopes=["read"])
    old = IdempotentRequest.objects.create(
        key="old", api_key=key, request_hash="h", created_at=clock.now() - dt.timedelta(days=2)
    )
    fresh = IdempotentRequest.objects.create(key="fresh", api_key=key, request_hash="h")
    # A queue of our own, so a stray worker elsewhere on the broker cannot take the message.
    queue = f"test-{uuid.uuid4().hex}"
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=60
    ):
        run_sweep.apply_async(args=("idempotency.prune",), queue=queue)
        deadline = time.monotonic() + 30
        while IdempotentRequest.objects.filter(pk=old.pk).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)
    remaining = set(IdempotentRequest.objects.values_list("pk", flat=True))
    assert remaining == {fresh.pk}
    assert old.pk not in remaining


@pytest.mark.django_db(transaction=True)
def test_worker_advances_a_journey_and_dispatches_its_message(no_heartbeat):
    from lifelong.factories import CustomerFactory
    from lifelong.journeys.models import JourneyStatus
    from lifelong.journeys.services import enrollment_start, journey_create, journey_status_set
    from lifelong.messaging.models import ChannelConfig, Message, Status, Template

    ChannelConfig.objects.create(channel="email", transport="sandbox")
    Template.objects.create(
        slug="hello", name="Привет", channel="email", purpose="transactional", body_text="Привет!"
    )
    journey = journey_create(
        name="Celery",
        slug="celery",
        definition={
            "trigger": {"kind": "manual"},
            "start": "hello",
            "nodes": [{"id": "hello", "type": "send", "template": "hello"}],
        },
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    enrollment = enrollment_start(journey=journey, customer=CustomerFactory.create())
    assert enrollment is not None
    queue = f"test-{uuid.uuid4().hex}"
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=60
    ):
        run_sweep.apply_async(args=("journeys.advance_due",), queue=queue)
        run_sweep.apply_async(args=("messaging.dispatch_due",), queue=queue)
        deadline = time.monotonic() + 30
        while (
            not Message.objects.filter(status=Status.SENT).exists() and time.monotonic() < deadline
        ):
            time.sleep(0.2)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)
    message = Message.objects.get()
    assert message.status == Status.SENT
    assert message.enrollment_id == enrollment.pk
