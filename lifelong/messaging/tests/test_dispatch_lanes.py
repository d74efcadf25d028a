"""Lanes: several SMTP connections per channel, each with a window of unrecorded sends.

Sent to a real SMTP sink in its own process, and counted on the raw messages it received:
every message goes out once, a crash leaves at most lanes x window messages `unknown`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
import time_machine
from django.db import connection, connections

from lifelong import clock
from lifelong.customers.models import Customer, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.messaging.channels.base import Outgoing, SendResult, Transport, register
from lifelong.messaging.dispatch import LEASE, dispatch_due, stale_claims_recover
from lifelong.messaging.models import ChannelConfig, Message, Status
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.tests import smtp_sink

MESSAGE_ID = re.compile(rb"^Message-ID: <(\d+)\.[0-9a-f]+@example\.ru>", re.MULTILINE)
LANES, WINDOW = 3, 4


@dataclasses.dataclass
class Sink:
    port: int
    out: Path
    process: subprocess.Popen[bytes]


@pytest.fixture
def sink(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Sink]:
    """A real SMTP server process; `indirect` parametrisation gives it a delay per message."""
    out = tmp_path / "received.bin"
    process, port = smtp_sink.start(out, delay=getattr(request, "param", 0.0))
    try:
        yield Sink(port, out, process)
    finally:
        smtp_sink.stop(process)


def _channel(port: int) -> None:
    ChannelConfig.objects.update_or_create(
        channel="email",
        defaults={
            "transport": "smtp",
            "active": True,
            "config": {
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "from_email": "shop@example.ru",
                "from_name": "Кофейня на углу",
                "timeout": 30,
            },
        },
    )


def _queue(customers: list[Customer], per_customer: int) -> list[Message]:
    return [
        message_enqueue(
            customer=customer,
            dedupe_key=f"order:{customer.pk}:{i}",
            channel="email",
            purpose=Purpose.TRANSACTIONAL,
            subject=f"Заказ № {customer.pk}-{i} принят",
            text="Здравствуйте!\n\nВаш заказ принят и уже собирается.",
        )[0]
        for customer in customers
        for i in range(per_customer)
    ]


def _received(out: Path) -> Counter[int]:
    """How many raw messages the sink received per outbox row (its id is in the Message-ID)."""
    counts: Counter[int] = Counter()
    for raw in smtp_sink.received(out):
        found = MESSAGE_ID.search(raw.split(b"\r\n\r\n", 1)[0])
        assert found, raw[:300]
        counts[int(found.group(1))] += 1
    return counts


@pytest.mark.django_db
def test_lanes_send_each_message_once_and_record_it_with_its_message_id(sink, frozen_time):
    port, out = sink.port, sink.out
    _channel(port)
    messages = _queue(CustomerFactory.create_batch(10), 5)

    assert dispatch_due(batch_size=25, lanes=LANES, window=WINDOW) == 50

    received = _received(out)
    assert received == Counter({m.pk: 1 for m in messages})
    rows = Message.objects.all()
    assert {row.status for row in rows} == {Status.SENT}
    assert {row.claim for row in rows} == {""}
    raw_ids = {
        found.group(1).decode()
        for raw in smtp_sink.received(out)
        if (found := re.search(rb"^Message-ID: (\S+)", raw, re.MULTILINE))
    }
    assert len(raw_ids) == 50
    assert {row.provider_id for row in rows} == raw_ids, "the Message-ID claimed is the one sent"
    assert Event.objects.filter(type="message_sent").count() == 50


@pytest.mark.django_db
def test_a_window_of_one_lane_records_in_groups_and_sends_in_id_order(sink, frozen_time):
    port, out = sink.port, sink.out
    _channel(port)
    messages = _queue(CustomerFactory.create_batch(3), 4)
    assert dispatch_due(batch_size=12, lanes=1, window=5) == 12
    order = [pk for raw in smtp_sink.received(out) for pk in _ids(raw)]
    assert order == sorted(m.pk for m in messages)
    assert set(Message.objects.values_list("status", flat=True)) == {Status.SENT}


def _ids(raw: bytes) -> list[int]:
    found = MESSAGE_ID.search(raw)
    return [int(found.group(1))] if found else []


def _database_url() -> str:
    """The test database as a LIFELONG_DATABASE_URL, for a process of its own."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgresql://{quote(db['USER'])}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


_DISPATCHER = f"""
import django

django.setup()
from lifelong.messaging.dispatch import dispatch_due

dispatch_due(batch_size=200, lanes={LANES}, window={WINDOW})
"""


@pytest.mark.parametrize("sink", [0.05], indirect=True)
@pytest.mark.django_db(transaction=True)
def test_a_dispatcher_killed_mid_batch_leaves_at_most_lanes_times_window_unknown(sink):
    port, out = sink.port, sink.out
    _channel(port)
    messages = _queue(CustomerFactory.create_batch(30), 3)
    env = {**os.environ, "LIFELONG_DATABASE_URL": _database_url()}
    dispatcher = subprocess.Popen([sys.executable, "-c", _DISPATCHER], env=env)
    deadline = time.monotonic() + 120  # a bound on the wait, not a timing assertion
    while len(smtp_sink.received(out)) < 20 and time.monotonic() < deadline:
        assert dispatcher.poll() is None, "the dispatcher ended before it was killed"
        time.sleep(0.01)
    os.kill(dispatcher.pid, signal.SIGKILL)
    dispatcher.wait(30)

    sending = Message.objects.filter(status=Status.SENDING).count()
    assert 0 < sending < len(messages), "killed mid-batch"
    # The lease runs out; the next dispatcher settles the dead one's claims and sends the rest.
    with time_machine.travel(clock.now() + LEASE + dt.timedelta(seconds=1), tick=True):
        assert stale_claims_recover() == sending
        dispatch_due(batch_size=200, lanes=LANES, window=WINDOW)
    # Messages the sink was still answering when the dispatcher died are in its file too.
    smtp_sink.stop(sink.process)

    received = _received(out)
    statuses = dict(Message.objects.values_list("pk", "status"))
    unknown = {pk for pk, status in statuses.items() if status == Status.UNKNOWN}
    assert [pk for pk, n in received.items() if n > 1] == [], "sent twice"
    assert len(unknown) <= LANES * WINDOW
    assert set(statuses.values()) <= {Status.SENT, Status.UNKNOWN}
    sent = {pk for pk, status in statuses.items() if status == Status.SENT}
    assert sent <= set(received), "every message marked sent was received"
    assert set(received) - sent <= unknown, "what left unrecorded is flagged unknown"


@pytest.mark.postgres
@pytest.mark.parametrize("sink", [0.1], indirect=True)
@pytest.mark.django_db(transaction=True)
def test_four_dispatchers_with_lanes_and_a_short_lease_send_each_message_once(sink):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; SKIP LOCKED needs PostgreSQL")
    port, out = sink.port, sink.out
    _channel(port)
    messages = _queue(CustomerFactory.create_batch(60), 4)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            # Batches of 40 over three lanes: grouped recording from four processes' worth
            # of dispatchers at once, each renewing its leases as it goes.
            dispatch_due(batch_size=40, lanes=LANES, window=WINDOW, lease=dt.timedelta(seconds=3))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _received(out) == Counter({m.pk: 1 for m in messages})
    assert set(Message.objects.values_list("status", flat=True)) == {Status.SENT}
    assert Event.objects.filter(type="message_sent").count() == len(messages)


SENT: list[int] = []
_overtaken = threading.Event()
TRAVELLER: list[Any] = []  # the test's frozen clock, for the transport to move


@register
class OvertakenTransport(Transport):
    """Its first send outlives the lease: meanwhile a rival settles the expired claims (in
    the lane's own thread, on its own database connection)."""

    name = "test_lane_overtaken"
    channels: ClassVar[tuple[str, ...]] = ("email",)

    def send(self, message: Outgoing) -> SendResult:
        if not _overtaken.is_set():
            _overtaken.set()
            TRAVELLER[0].shift(LEASE + dt.timedelta(seconds=1))
            try:
                stale_claims_recover()
            finally:
                connections.close_all()
        SENT.append(message.message_id)
        return SendResult(provider_id=f"ov-{message.message_id}")


@pytest.mark.django_db(transaction=True)
def test_lanes_whose_claims_were_taken_over_stop_and_send_nothing_twice():
    SENT.clear()
    _overtaken.clear()
    messages = _queue(CustomerFactory.create_batch(4), 4)
    ChannelConfig.objects.update_or_create(
        channel="email", defaults={"transport": "test_lane_overtaken", "active": True}
    )
    with time_machine.travel(clock.now(), tick=False) as traveller:
        TRAVELLER[:] = [traveller]
        dispatch_due(batch_size=16, lanes=2, window=2, max_batches=1)
        first_run = Counter(SENT)
        dispatch_due(lanes=2, window=2)
    counts = Counter(SENT)
    statuses = dict(Message.objects.values_list("pk", "status"))
    unknown = {pk for pk, status in statuses.items() if status == Status.UNKNOWN}
    assert [pk for pk, n in counts.items() if n > 1] == [], "sent twice"
    assert len(unknown) <= 2 * 2
    assert set(statuses.values()) <= {Status.SENT, Status.UNKNOWN}
    assert {pk for pk, s in statuses.items() if s == Status.SENT} == set(counts) - unknown
    if unknown:
        # The rival settled the claims before the holder renewed them (when the renewal
        # comes first, the rival finds nothing expired and the holder sends everything).
        assert len(first_run) < len(messages), "the overtaken lanes stopped"
    else:
        assert set(counts) == {m.pk for m in messages}
