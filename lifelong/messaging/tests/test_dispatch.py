"""The outbox delivers each message at most once, resumes after a crash, and obeys the gates."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import ClassVar

import pytest
from django.db import connection, connections

from lifelong import clock
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging.channels.base import (
    Outgoing,
    SendResult,
    Transport,
    TransportError,
    register,
)
from lifelong.messaging.dispatch import LEASE, dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, SendingPolicy, Status, Suppression
from lifelong.messaging.services import message_enqueue

SENT: list[int] = []
_LOCK = threading.Lock()
# What else happens in the world while a RecordingTransport send is on the wire.
DURING_SEND: list[Callable[[], object]] = []
_hooks = threading.local()


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing in dispatch catches it."""


@register
class RecordingTransport(Transport):
    name = "test_recording"
    channels: ClassVar[tuple[str, ...]] = ("email", "sms")

    def send(self, message: Outgoing) -> SendResult:
        with _LOCK:
            SENT.append(message.message_id)
        if DURING_SEND and not getattr(_hooks, "running", False):
            _hooks.running = True  # a rival's own sends do not start yet another rival
            try:
                for hook in list(DURING_SEND):
                    hook()
            finally:
                _hooks.running = False
        return SendResult(provider_id=f"rec-{message.message_id}")


@register
class SlowTransport(Transport):
    """A slow server: every send takes config["seconds"] of real time."""

    name = "test_slow"
    channels: ClassVar[tuple[str, ...]] = ("email",)

    def send(self, message: Outgoing) -> SendResult:
        time.sleep(float(self.config["seconds"]))
        with _LOCK:
            SENT.append(message.message_id)
        return SendResult(provider_id=f"slow-{message.message_id}")


@register
class DyingTransport(Transport):
    """Sends `die_after` messages, then the process dies on the next call."""

    name = "test_dying"
    channels: ClassVar[tuple[str, ...]] = ("email",)

    def send(self, message: Outgoing) -> SendResult:
        if len(SENT) >= int(self.config["die_after"]):
            raise Killed
        SENT.append(message.message_id)
        return SendResult(provider_id=f"dying-{message.message_id}")


@register
class ScriptedTransport(Transport):
    """Fails the way config["error"] says."""

    name = "test_scripted"
    channels: ClassVar[tuple[str, ...]] = ("email", "push")

    def send(self, message: Outgoing) -> SendResult:
        kind = self.config["error"]
        raise TransportError(
            kind,
            permanent=kind == "permanent",
            bounce=kind == "bounce",
            may_have_sent=kind == "timeout",
        )


@register
class CountedTransport(Transport):
    """Counts its connections: each instance is one, opened when made, ended by close().
    The message with config["uncertain_id"] times out after it may have left."""

    name = "test_counted"
    channels: ClassVar[tuple[str, ...]] = ("email",)
    opened: ClassVar[list[CountedTransport]] = []
    closed: ClassVar[list[CountedTransport]] = []

    def __init__(self, config: dict[str, object]) -> None:
        super().__init__(config)
        with _LOCK:
            CountedTransport.opened.append(self)

    def send(self, message: Outgoing) -> SendResult:
        if message.message_id == self.config.get("uncertain_id"):
            raise TransportError("no answer after the message was sent", may_have_sent=True)
        with _LOCK:
            SENT.append(message.message_id)
        return SendResult(provider_id=f"counted-{message.message_id}")

    def close(self) -> None:
        with _LOCK:
            CountedTransport.closed.append(self)


@pytest.fixture(autouse=True)
def _reset_sent():
    SENT.clear()
    DURING_SEND.clear()
    yield
    SENT.clear()
    DURING_SEND.clear()


def _channel(transport: str = "test_recording", **config: object) -> ChannelConfig:
    row, _ = ChannelConfig.objects.update_or_create(
        channel="email", defaults={"transport": transport, "config": config, "active": True}
    )
    return row


def _queue(customer: Customer, n: int, purpose: str = Purpose.TRANSACTIONAL, tag: str = "m"):
    return [
        message_enqueue(
            customer=customer,
            dedupe_key=f"{tag}:{customer.pk}:{i}",
            channel="email",
            purpose=purpose,
            subject=f"Письмо {i}",
            text="Здравствуйте!",
        )[0]
        for i in range(n)
    ]


def _marketing_customer(**kwargs: object) -> Customer:
    customer = CustomerFactory.create(**kwargs)
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="test"
    )
    return customer


@pytest.mark.django_db
def test_enqueue_is_idempotent_by_dedupe_key():
    customer = CustomerFactory.create()
    first, created = message_enqueue(
        customer=customer, dedupe_key="k1", channel="email", purpose="transactional", text="a"
    )
    again, created_again = message_enqueue(
        customer=customer, dedupe_key="k1", channel="email", purpose="transactional", text="b"
    )
    assert created and not created_again
    assert again.pk == first.pk and Message.objects.count() == 1


@pytest.mark.django_db
def test_dispatch_sends_each_due_message_once_and_records_it(frozen_time):
    _channel()
    customer = CustomerFactory.create()
    messages = _queue(customer, 5)
    assert dispatch_due(batch_size=2) == 5
    assert dispatch_due() == 0
    assert sorted(SENT) == sorted(m.pk for m in messages)
    for message in Message.objects.all():
        assert message.status == Status.SENT
        assert message.provider_id == f"rec-{message.pk}"
        assert message.to == customer.email
    assert customer.events.filter(type="message_sent").count() == 5


@pytest.mark.django_db
def test_dispatch_killed_mid_batch_resumes_without_duplicates_or_losses(frozen_time):
    _channel("test_dying", die_after=3)
    customer = CustomerFactory.create()
    messages = _queue(customer, 10)
    with pytest.raises(Killed):
        dispatch_due(batch_size=10)
    assert Message.objects.filter(status=Status.SENT).count() == 3
    assert Message.objects.filter(status=Status.SENDING).count() == 7

    # A restarted dispatcher before the lease ends leaves the dead run's batch alone.
    _channel("test_recording")
    assert dispatch_due() == 0
    frozen_time.shift(LEASE + dt.timedelta(seconds=1))
    assert dispatch_due() == 6

    counts = Counter(SENT)
    assert max(counts.values()) == 1, "a message went out twice"
    statuses = dict(Message.objects.values_list("pk", "status"))
    in_flight = messages[3].pk  # the send the process died in: it may have left
    assert statuses[in_flight] == Status.UNKNOWN
    assert in_flight not in counts
    assert {pk for pk, s in statuses.items() if s == Status.SENT} == set(counts)
    assert len(counts) + 1 == len(messages), "every message is sent or flagged unknown"


@pytest.mark.django_db
def test_a_batch_that_outlasts_its_lease_keeps_it_while_it_sends(frozen_time):
    _channel()
    messages = _queue(CustomerFactory.create(), 5)

    def rival() -> None:
        # Each send takes most of a lease; another dispatcher sweeps meanwhile.
        frozen_time.shift(LEASE * 0.6)
        dispatch_due()

    DURING_SEND.append(rival)
    assert dispatch_due(batch_size=5) == 5

    assert Counter(SENT) == Counter(m.pk for m in messages), "each message once, none lost"
    assert set(Message.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.django_db
def test_a_dispatcher_that_lost_its_claim_stops_its_batch(frozen_time):
    _channel()
    first, *rest = _queue(CustomerFactory.create(), 5)

    def overtaken() -> None:
        # The first send outlives the lease: a rival settles the batch and sends the rest.
        DURING_SEND.clear()
        frozen_time.shift(LEASE + dt.timedelta(seconds=1))
        assert dispatch_due() == len(rest)

    DURING_SEND.append(overtaken)
    dispatch_due(batch_size=5)

    assert Counter(SENT) == Counter(m.pk for m in [first, *rest]), "each message once"
    statuses = dict(Message.objects.values_list("pk", "status"))
    # It was on the wire when the rival took over: never re-sent, left for a person.
    assert statuses.pop(first.pk) == Status.UNKNOWN
    assert set(statuses.values()) == {Status.SENT}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_slow_server_and_a_short_lease_send_nothing_twice_and_lose_nothing():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    lease = dt.timedelta(seconds=4)
    _channel("test_slow", seconds=0.2)
    messages = [m for c in CustomerFactory.create_batch(7) for m in _queue(c, 5)]
    errors: list[BaseException] = []

    def long_batch() -> None:
        # 25 sends of 0.2 s: the batch outlasts its lease, no single send does.
        try:
            dispatch_due(batch_size=25, max_batches=1, lease=lease)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def sweeper() -> None:
        # Another dispatcher, started once the long batch is claimed: small batches, each
        # run first settling claims whose lease ran out, until nothing is left to send.
        deadline = time.monotonic() + 120  # a bound on the loop, not a timing assertion
        try:
            while (
                time.monotonic() < deadline
                and not Message.objects.filter(status=Status.SENDING).exists()
            ):
                time.sleep(0.01)
            while (
                time.monotonic() < deadline
                and Message.objects.filter(status__in=[Status.QUEUED, Status.SENDING]).exists()
            ):
                dispatch_due(batch_size=2, max_batches=1, lease=lease)
                time.sleep(0.05)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=long_batch), threading.Thread(target=sweeper)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = Counter(SENT)
    assert [pk for pk, n in counts.items() if n > 1] == [], "sent twice"
    assert set(counts) == {m.pk for m in messages}, "every message sent"
    assert set(Message.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.django_db(transaction=True)
def test_four_concurrent_dispatchers_send_each_message_exactly_once():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; SKIP LOCKED needs PostgreSQL")
    _channel()
    customers = CustomerFactory.create_batch(40)
    messages = [m for c in customers for m in _queue(c, 5)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            dispatch_due(batch_size=7)
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
    assert sorted(SENT) == sorted(m.pk for m in messages)
    assert Message.objects.exclude(status=Status.SENT).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_respect_the_frequency_cap():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    _channel()
    SendingPolicy.objects.update_or_create(
        pk=1,
        defaults={"cap_count": 3, "cap_hours": 24, "quiet_start": "00:00", "quiet_end": "00:00"},
    )
    customer = _marketing_customer()
    _queue(customer, 12, purpose=Purpose.MARKETING)
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            dispatch_due(batch_size=1)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(SENT) == 3
    assert Message.objects.filter(status=Status.DEFERRED).count() == 9


@pytest.mark.django_db
def test_withdrawing_consent_cancels_queued_marketing_at_once(frozen_time):
    _channel()
    customer = _marketing_customer()
    marketing = _queue(customer, 3, purpose=Purpose.MARKETING, tag="mk")
    transactional = _queue(customer, 2, purpose=Purpose.TRANSACTIONAL, tag="tx")
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=False, source="api"
    )
    assert set(
        Message.objects.filter(pk__in=[m.pk for m in marketing]).values_list("status", flat=True)
    ) == {Status.CANCELLED}
    dispatch_due()
    assert sorted(SENT) == sorted(m.pk for m in transactional)


@pytest.mark.django_db
def test_marketing_without_consent_is_cancelled_transactional_goes(frozen_time):
    _channel()
    customer = CustomerFactory.create()
    _queue(customer, 1, purpose=Purpose.MARKETING, tag="mk")
    _queue(customer, 1, purpose=Purpose.TRANSACTIONAL, tag="tx")
    assert dispatch_due() == 1
    marketing = Message.objects.get(purpose=Purpose.MARKETING)
    assert marketing.status == Status.CANCELLED
    assert "consent" in marketing.last_error


@pytest.mark.django_db
def test_frequency_cap_defers_until_a_slot_frees(frozen_time):
    _channel()
    SendingPolicy.objects.update_or_create(pk=1, defaults={"cap_count": 2, "cap_hours": 24})
    customer = _marketing_customer()
    _queue(customer, 3, purpose=Purpose.MARKETING)
    assert dispatch_due() == 2
    deferred = Message.objects.get(status=Status.DEFERRED)
    assert deferred.last_error == "frequency cap"
    assert deferred.next_attempt_at == clock.now() + dt.timedelta(hours=24)
    frozen_time.shift(dt.timedelta(hours=23))
    assert dispatch_due() == 0
    frozen_time.shift(dt.timedelta(hours=1, seconds=1))
    assert dispatch_due() == 1
    # Transactional mail is exempt from the cap.
    _queue(customer, 2, purpose=Purpose.TRANSACTIONAL, tag="tx")
    assert dispatch_due() == 2


@pytest.mark.django_db
def test_per_channel_cap_applies_to_its_channel(frozen_time):
    config = _channel()
    config.cap_count, config.cap_hours = 1, 48
    config.save()
    customer = _marketing_customer()
    _queue(customer, 2, purpose=Purpose.MARKETING)
    assert dispatch_due() == 1
    assert Message.objects.get(status=Status.DEFERRED).next_attempt_at == clock.now() + (
        dt.timedelta(hours=48)
    )


@pytest.mark.django_db
def test_quiet_hours_defer_to_the_morning_in_the_customers_zone(frozen_time):
    _channel()
    # 2026-03-02 10:00 UTC is 19:00 in Vladivostok (UTC+10): inside 18:00-09:00.
    SendingPolicy.objects.update_or_create(
        pk=1, defaults={"quiet_start": dt.time(18), "quiet_end": dt.time(9)}
    )
    far_east = _marketing_customer(time_zone="Asia/Vladivostok")
    moscow = _marketing_customer(time_zone="Europe/Moscow")  # 13:00 there
    _queue(far_east, 1, purpose=Purpose.MARKETING, tag="fe")
    _queue(moscow, 1, purpose=Purpose.MARKETING, tag="msk")
    _queue(far_east, 1, purpose=Purpose.TRANSACTIONAL, tag="fe-tx")
    assert dispatch_due() == 2
    deferred = Message.objects.get(status=Status.DEFERRED)
    assert deferred.customer_id == far_east.pk
    assert deferred.next_attempt_at == dt.datetime(2026, 3, 2, 23, 0, tzinfo=dt.UTC)  # 09:00 +10
    frozen_time.move_to(dt.datetime(2026, 3, 2, 23, 0, 1, tzinfo=dt.UTC))
    assert dispatch_due() == 1


@pytest.mark.django_db
def test_deferred_marketing_expires_instead_of_arriving_late(frozen_time):
    _channel()
    SendingPolicy.objects.update_or_create(
        pk=1, defaults={"cap_count": 1, "cap_hours": 24 * 7, "expire_hours": 48}
    )
    customer = _marketing_customer()
    _queue(customer, 2, purpose=Purpose.MARKETING)
    dispatch_due()
    frozen_time.shift(dt.timedelta(days=8))
    assert dispatch_due() == 0
    assert Message.objects.filter(status=Status.EXPIRED).count() == 1


@pytest.mark.django_db
def test_transient_errors_retry_with_backoff_then_fail(frozen_time):
    _channel("test_scripted", error="transient")
    SendingPolicy.objects.update_or_create(pk=1, defaults={"max_attempts": 3})
    customer = CustomerFactory.create()
    (message,) = _queue(customer, 1)
    waits = []
    for _ in range(3):
        dispatch_due()
        message.refresh_from_db()
        waits.append(message.next_attempt_at - clock.now())
        frozen_time.shift(dt.timedelta(hours=1))
    assert waits[:2] == [dt.timedelta(minutes=1), dt.timedelta(minutes=2)]
    assert message.status == Status.FAILED and message.attempts == 3


@pytest.mark.django_db
def test_bounce_fails_and_suppresses_the_address(frozen_time):
    _channel("test_scripted", error="bounce")
    customer = CustomerFactory.create(email="Gone@Example.ru")
    _queue(customer, 1, tag="a")
    dispatch_due()
    assert Message.objects.get().status == Status.FAILED
    assert Suppression.objects.filter(channel="email", address="gone@example.ru").exists()
    # Later mail to that address is suppressed before it reaches a transport.
    _channel()
    _queue(customer, 1, tag="b")
    assert dispatch_due() == 0
    assert Message.objects.get(dedupe_key__startswith="b:").status == Status.SUPPRESSED


@pytest.mark.django_db
def test_timeout_after_the_request_left_is_unknown_and_never_resent(frozen_time):
    _channel("test_scripted", error="timeout")
    customer = CustomerFactory.create()
    _queue(customer, 1)
    dispatch_due()
    assert Message.objects.get().status == Status.UNKNOWN
    _channel()
    frozen_time.shift(dt.timedelta(days=1))
    assert dispatch_due() == 0 and SENT == []


@pytest.mark.django_db
@pytest.mark.parametrize("lanes", [1, 2])
def test_a_run_keeps_its_connections_from_batch_to_batch(frozen_time, lanes):
    CountedTransport.opened.clear()
    CountedTransport.closed.clear()
    _channel("test_counted")
    _queue(CustomerFactory.create(), 12)
    assert dispatch_due(batch_size=4, lanes=lanes, window=2) == 12
    assert sorted(SENT) == sorted(Message.objects.values_list("pk", flat=True))
    # One connection per lane for all three batches, each ended once, when the run ends.
    assert len(CountedTransport.opened) == lanes
    assert sorted(map(id, CountedTransport.closed)) == sorted(map(id, CountedTransport.opened))


@pytest.mark.django_db
def test_a_connection_whose_send_may_have_left_half_done_is_not_reused(frozen_time):
    CountedTransport.opened.clear()
    CountedTransport.closed.clear()
    messages = _queue(CustomerFactory.create(), 6)
    _channel("test_counted", uncertain_id=messages[1].pk)
    assert dispatch_due(batch_size=3, lanes=1, window=1) == 5
    assert Message.objects.get(pk=messages[1].pk).status == Status.UNKNOWN
    # The first batch's connection is ended after it; the second batch opens its own.
    first, second = CountedTransport.opened
    assert CountedTransport.closed == [first, second]


@pytest.mark.django_db
def test_missing_address_is_suppressed_not_retried(frozen_time):
    _channel()
    customer = CustomerFactory.create(email="")
    _queue(customer, 1)
    assert dispatch_due() == 0
    assert Message.objects.get().status == Status.SUPPRESSED


@pytest.mark.django_db
def test_dispatch_queries_do_not_grow_with_the_batch(frozen_time, django_assert_max_num_queries):
    _channel()
    customers = CustomerFactory.create_batch(20)
    for customer in customers:
        consent_record(
            customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
        )
        _queue(customer, 1, purpose=Purpose.MARKETING)
    # Claiming and gating a batch is a fixed number of queries; each send then costs five
    # (claim check, then savepoint, status update, timeline event, release). Counting the
    # batch's sends costs one query per channel, three the first time (the row is made).
    with django_assert_max_num_queries(20 + 3 + 20 * 5):
        assert dispatch_due(batch_size=50) == 20


@pytest.mark.django_db
def test_a_dead_push_subscription_is_dropped_so_an_older_one_is_used(frozen_time):
    from lifelong.messaging.models import PushSubscription

    ChannelConfig.objects.create(
        channel="push", transport="test_scripted", config={"error": "bounce"}
    )
    customer = CustomerFactory.create()
    older = PushSubscription.objects.create(
        customer=customer, endpoint="https://push.example/old", p256dh="k", auth="a"
    )
    frozen_time.shift(dt.timedelta(minutes=1))
    PushSubscription.objects.create(
        customer=customer, endpoint="https://push.example/new", p256dh="k", auth="a"
    )
    message_enqueue(
        customer=customer, dedupe_key="p1", channel="push", purpose="transactional", text="Hi"
    )
    dispatch_due()
    assert list(customer.push_subscriptions.values_list("pk", flat=True)) == [older.pk]
    assert not Suppression.objects.exists()
