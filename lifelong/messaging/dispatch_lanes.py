"""Lanes: a batch sent over one or several connections per channel.

A lane is one claim token's messages, sent in id order over its own connection (one per
channel in it), taken from the run's `Transports` and given back when the batch ends, so
the next batch's lane goes on over it. Sending is mostly waiting (MAIL, RCPT, DATA each
wait for the server), so with several lanes each is a thread that does no database work,
and this thread does all of it: it records the lanes' results in groups as they come (one
transaction for whatever has arrived), renews the leases and tells a lane to stop once its
claim is lost. A single lane (LIFELONG_DISPATCH_LANES=1) sends in this thread and records a
window at a time: nothing to overlap with, and a transport may then use the caller's
database connection.

The bound on what a crash can leave `unknown`: a lane sends only while fewer than
`window` of its sends are unrecorded, and results are recorded in the order each lane
sent them, so its unrecorded sends are always the lowest unfinished ids of its claim,
which is what recovery marks `unknown` (dispatch.py). A lane also sends only while at
least half its lease is left, so a rival can never recover a claim whose lane may still
send (no query per send: the lease, renewed as it runs down, is the fence).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

from lifelong import clock
from lifelong.jobs.counters import channel_sends_add
from lifelong.messaging.channels.base import Outgoing, Transport, TransportError
from lifelong.messaging.dispatch_record import Result, Transports, outgoing, results_record, send
from lifelong.messaging.models import ChannelConfig, Message, Status

log = logging.getLogger("lifelong.messaging.dispatch")

# How often, at most, the recording thread looks at the leases when no result arrives.
POLL_SECONDS = 0.5
# How long results wait for more to be recorded with (a slow server's lanes fill slowly).
FLUSH_SECONDS = 0.2


@dataclasses.dataclass(eq=False)
class _Lane:
    claim: str
    items: list[tuple[Message, Outgoing | TransportError]]
    # One connection per channel: a lane of LIFELONG_DISPATCH_LANES=1 holds every channel
    # of its batch, one of several lanes a single channel.
    transports: dict[str, Transport | TransportError]
    held_until: dt.datetime
    # False once a send may have left half done (its connection is then not reused).
    clean: bool = True
    unrecorded: int = 0  # sent (or failed) and not yet committed
    remaining: int = 0  # rows of the claim still `sending` in the database
    lost: bool = False
    done: bool = False


@dataclasses.dataclass(eq=False)
class _Shared:
    window: int
    lease: dt.timedelta
    cond: threading.Condition = dataclasses.field(default_factory=threading.Condition)
    results: list[tuple[_Lane, Message, Result]] = dataclasses.field(default_factory=list)
    crashed: list[BaseException] = dataclasses.field(default_factory=list)
    stop: bool = False


def lanes_deliver(
    messages: Sequence[Message],
    *,
    configs: dict[str, ChannelConfig],
    window: int,
    lease: dt.timedelta,
    transports: Transports,
) -> int:
    """Send a claimed batch, one lane per claim token, over connections taken from
    `transports` (and given back) for the channels set up as `configs` (read with the
    claim); returns how many were recorded sent."""
    by_claim: dict[str, list[Message]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: m.pk):
        by_claim[message.claim].append(message)
    shared = _Shared(window=window, lease=lease)
    lanes = [_lane(claim, rows, configs, transports) for claim, rows in by_claim.items()]
    if len(lanes) == 1:
        return _deliver_inline(lanes[0], shared, transports)
    # Results are recorded once a lane has half a window of them (or a lane is blocked,
    # or they have waited a while): the other half goes on being sent meanwhile.
    enough = max(1, window // 2)
    waited_since: float | None = None
    threads = [
        threading.Thread(target=_run, args=(lane, shared), name=f"dispatch-lane-{n}")
        for n, lane in enumerate(lanes)
    ]
    tally: Counter[tuple[str, str]] = Counter()
    sent = 0
    try:
        for thread in threads:
            thread.start()
        while True:
            with shared.cond:
                while not (
                    any(lane.unrecorded >= enough for lane in lanes)
                    or (
                        shared.results
                        and waited_since is not None
                        and time.monotonic() - waited_since > FLUSH_SECONDS
                    )
                    or shared.crashed
                    or all(lane.done for lane in lanes)
                    or _renewal_due(lanes, lease)
                ):
                    if shared.results and waited_since is None:
                        waited_since = time.monotonic()
                    shared.cond.wait(FLUSH_SECONDS if shared.results else POLL_SECONDS)
                taken, shared.results = shared.results, []
                waited_since = None
                finished = all(lane.done for lane in lanes)
            if taken:
                recorded, lost = results_record([(m, r) for _lane, m, r in taken], tally)
                sent += recorded
                with shared.cond:
                    for lane, _message, _result in taken:
                        lane.unrecorded -= 1
                        lane.remaining -= 1
                    for lane in lanes:
                        lane.lost = lane.lost or lane.claim in lost
                    shared.cond.notify_all()
            _leases_renew(lanes, shared)
            if shared.crashed:
                raise shared.crashed[0]
            if finished:
                break
    finally:
        with shared.cond:
            shared.stop = True
            shared.cond.notify_all()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join()
        for lane in lanes:
            _transports_return(lane, transports)
        channel_sends_add(tally=tally)
    return sent


def _lane(
    claim: str, rows: list[Message], configs: dict[str, ChannelConfig], transports: Transports
) -> _Lane:
    items: list[tuple[Message, Outgoing | TransportError]] = []
    opened: dict[str, Transport | TransportError] = {}
    for message in rows:
        try:
            items.append((message, outgoing(message)))
        except TransportError as exc:
            items.append((message, exc))
        if message.channel not in opened:
            try:
                opened[message.channel] = transports.take(
                    message.channel, configs.get(message.channel)
                )
            except TransportError as exc:
                opened[message.channel] = exc
    held_until = rows[0].claimed_until
    assert held_until is not None
    return _Lane(claim, items, opened, held_until, remaining=len(rows))


def _deliver_inline(lane: _Lane, shared: _Shared, transports: Transports) -> int:
    """The one lane in this thread: each send with a free slot in the window (else the
    window is recorded first) and half the lease left (else it is renewed first)."""
    tally: Counter[tuple[str, str]] = Counter()
    pending: list[tuple[Message, Result]] = []
    sent = 0

    def record() -> int:
        recorded, lost = results_record(pending, tally)
        lane.remaining -= len(pending)
        lane.lost = lane.lost or lane.claim in lost
        del pending[:]
        return recorded

    try:
        for message, item in lane.items:
            if len(pending) >= shared.window:
                sent += record()
            if _renewal_due([lane], shared.lease):
                _leases_renew([lane], shared)
            if lane.lost:
                log.warning("dispatch_claim_lost", extra={"claim": lane.claim})
                break
            pending.append((message, _send(lane, message, item)))
        sent += record()
    finally:
        _transports_return(lane, transports)
        channel_sends_add(tally=tally)
    return sent


def _send(lane: _Lane, message: Message, item: Outgoing | TransportError) -> Result:
    transport = lane.transports[message.channel]
    if isinstance(item, TransportError):
        return item
    if isinstance(transport, TransportError):
        return transport
    result = send(transport, message, item)
    if isinstance(result, TransportError) and result.may_have_sent:
        lane.clean = False
    return result


def _transports_return(lane: _Lane, transports: Transports) -> None:
    for transport in lane.transports.values():
        if isinstance(transport, Transport):
            transports.give_back(transport, reusable=lane.clean)


def _run(lane: _Lane, shared: _Shared) -> None:
    """A lane's thread: its messages in order, each only with a free slot in the window
    and half the lease left."""
    try:
        for message, item in lane.items:
            with shared.cond:
                while not (shared.stop or lane.lost) and (
                    lane.unrecorded >= shared.window
                    or lane.held_until - clock.now() < shared.lease / 2
                ):
                    shared.cond.wait(POLL_SECONDS)
                if shared.stop or lane.lost:
                    break
                lane.unrecorded += 1
            result = _send(lane, message, item)
            with shared.cond:
                shared.results.append((lane, message, result))
                shared.cond.notify_all()
    except BaseException as exc:  # handed to the recording thread, which raises it
        with shared.cond:
            shared.crashed.append(exc)
            shared.stop = True
    finally:
        with shared.cond:
            lane.done = True
            shared.cond.notify_all()


def _renewal_due(lanes: Sequence[_Lane], lease: dt.timedelta) -> bool:
    # Renewed a little before a lane would wait for it: at 60 % of the lease left.
    soon = clock.now() + lease * 0.6
    return any(not lane.done and not lane.lost and lane.held_until < soon for lane in lanes)


def _leases_renew(lanes: Sequence[_Lane], shared: _Shared) -> None:
    now = clock.now()
    for lane in lanes:
        if lane.done or lane.lost or lane.held_until >= now + shared.lease * 0.6:
            continue
        until = now + shared.lease
        renewed = Message.objects.filter(claim=lane.claim, status=Status.SENDING).update(
            claimed_until=until
        )
        with shared.cond:
            # Rows whose results arrived since are still `sending` too: counted in remaining.
            if renewed == lane.remaining:
                lane.held_until = until
            else:
                log.warning("dispatch_claim_lost", extra={"claim": lane.claim})
                lane.lost = True
            shared.cond.notify_all()
