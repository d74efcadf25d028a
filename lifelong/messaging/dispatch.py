"""Delivery of the outbox: `dispatch_due` claims due messages in batches and sends them.

Crash safety. A batch is claimed in one transaction (status `sending`, a claim token, a
lease and, for email, the Message-ID the send will carry), then sent in id order. Each
claim token stands for one sequence of sends, and at most `window` of its messages are
ever sent but not yet recorded: the next send waits until the results before it are
committed (in one grouped statement). If the process dies mid-batch, the lease runs out
and `stale_claims_recover` finds the claim: its `window` lowest unfinished ids may have
left (they become `unknown`, never re-sent blindly, and can be matched against the mail
server's log by their Message-ID: `lifelong mail-log-reconcile`); the rest never
reached a transport and go back to the queue. The window travels in the token, so
recovery reads it from there, whatever the settings are by then.

With LIFELONG_DISPATCH_LANES above 1, each channel's share of a batch is dealt to that
many lanes (dispatch_lanes.py), each with its own claim token and connection; a crash
then leaves at most lanes x window `unknown` per channel. With one lane the whole batch is
one claim, sent in id order. Lanes 1 and window 1 is the old behaviour: one message at a
time, each recorded before the next.

Fencing. A slow batch may outlast its lease while its dispatcher is alive. A lane sends
only with at least half its lease left; below 60 % one committed UPDATE conditional on
the token renews the lease of every unrecorded row of the claim (the rows of a claim
always share one lease, so recovery still finds the messages in flight as the lowest
unfinished ids), and a lane whose rows were taken (fewer renewed than it holds, or a
result recorded on a row no longer its own) stops.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.lib.pg_array import in_values, pg_array
from lifelong.messaging.channels.base import TransportError, transport_class
from lifelong.messaging.dispatch_lanes import lanes_deliver
from lifelong.messaging.dispatch_record import Transports
from lifelong.messaging.gates import GATE_FIELDS, gates_apply
from lifelong.messaging.models import (
    DUE_STATUSES,
    WEBHOOK,
    ChannelConfig,
    Message,
    SendingPolicy,
    Status,
)
from lifelong.messaging.reach import ADDRESS_FIELDS, address_of

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# Invariant: LEASE / 2 > the longest one send can take (by default the transports time out
# well within it: HTTP 5 s to connect + 20 s to answer, SMTP 30 s per exchange). A send
# starts with at least half the lease left, so no rival recovers a batch while its holder
# is alive. If a send outlives the lease anyway, recovery marks that message `unknown`
# (never re-sent) and the holder's next check fails, which stops its batch.
LEASE = dt.timedelta(minutes=15)
# A claim token: 27 random hex digits, "w" and the window (hex has no "w": older tokens,
# all hex, had a window of 1).
TOKEN_WINDOW = re.compile(r"w(\d{4})$")


def dispatch_due(
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
    lease: dt.timedelta = LEASE,
    lanes: int | None = None,
    window: int | None = None,
) -> int:
    """Send every due message; returns how many were handed to a transport successfully.

    `lanes` and `window` default to LIFELONG_DISPATCH_LANES and LIFELONG_DISPATCH_WINDOW;
    a batch holds 100 messages, or 8 windows per lane where that is more.
    """
    lanes = lanes or settings.DISPATCH_LANES
    window = window or settings.DISPATCH_WINDOW
    # Enough per batch to keep every lane's window full for a while: a batch's end is a
    # pause (the last sends drain before the next claim).
    batch_size = batch_size or max(BATCH_SIZE, 8 * lanes * window)
    stale_claims_recover()
    sent = batches = 0
    transports = Transports()
    try:
        while max_batches is None or batches < max_batches:
            settled, going, configs = _claim(batch_size, lease, lanes=lanes, window=window)
            if not settled:
                break
            sent += lanes_deliver(
                going, configs=configs, window=window, lease=lease, transports=transports
            )
            batches += 1
    finally:
        transports.close()
    return sent


def token_new(window: int) -> str:
    return f"{uuid.uuid4().hex[:27]}w{window:04d}"


def token_window(claim: str) -> int:
    found = TOKEN_WINDOW.search(claim)
    return max(1, int(found.group(1))) if found else 1


def stale_claims_recover() -> int:
    """Settle claims whose dispatcher died (lease over). Returns rows settled."""
    now = clock.now()
    by_claim: dict[str, list[int]] = defaultdict(list)
    for pk, claim in Message.objects.filter(
        status=Status.SENDING, claimed_until__lt=now
    ).values_list("pk", "claim"):
        by_claim[claim].append(pk)
    settled = 0
    for claim, ids in by_claim.items():
        ids.sort()
        window = token_window(claim)
        # Only while still expired: the holder may have renewed since the read above.
        held = Message.objects.filter(claim=claim, status=Status.SENDING, claimed_until__lt=now)
        with transaction.atomic():
            settled += held.filter(pk__in=ids[:window]).update(
                status=Status.UNKNOWN,
                claim="",
                claimed_until=None,
                last_error="dispatcher stopped while sending; may have been delivered",
            )
            settled += held.filter(pk__in=ids[window:]).update(
                status=Status.QUEUED,
                claim="",
                claimed_until=None,
                next_attempt_at=now,
                attempts=F("attempts") - 1,
            )
        log.warning("dispatch_claim_recovered", extra={"claim": claim, "messages": len(ids)})
    return settled


def _claim(
    batch_size: int, lease: dt.timedelta, *, lanes: int, window: int
) -> tuple[int, list[Message], dict[str, ChannelConfig]]:
    """Claim up to a batch of due messages; returns (rows settled, rows to send, the active
    channels), each row to send carrying its claim token (one per lane of its channel) and
    provider reference.

    Rows the gates stop (deferred, cancelled, ...) are settled here and not sent.
    """
    now = clock.now()
    policy = SendingPolicy.current()
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:batch_size]
        )
        if not rows:
            return 0, [], {}
        # Locked, and read for their addresses and what the gates read.
        customers = {
            c.pk: c
            for c in Customer.objects.select_for_update(no_key=True)
            .filter(in_values("pk", {m.customer_id for m in rows if m.customer_id}))
            .only("pk", *ADDRESS_FIELDS.values(), *GATE_FIELDS)
            .order_by("pk")
        }
        configs = {c.channel: c for c in ChannelConfig.objects.filter(active=True)}
        for message in rows:
            customer = customers.get(message.customer_id) if message.customer_id else None
            if message.channel == WEBHOOK:
                message.to = str(message.payload.get("url", ""))
            elif customer is not None:
                message.to = address_of(customer, message.channel)
        verdicts = gates_apply(rows, now=now, policy=policy, customers=customers, configs=configs)
        going = [m for m in rows if verdicts[m.pk].status == Status.SENDING]
        tokens = _tokens(going, lanes=lanes, window=window)
        # The rows to send in one statement (each with its own token, address and provider
        # reference); the others with one UPDATE per outcome.
        groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
        for message in rows:
            verdict = verdicts[message.pk]
            message.status = verdict.status
            message.last_error = verdict.reason[:500]
            if verdict.status == Status.SENDING:
                message.claim, message.claimed_until = tokens[message.pk], now + lease
                message.attempts += 1
                config = configs.get(message.channel)
                message.transport = config.transport if config else ""
                message.provider_id = _reference(config, message.pk)
                continue
            if verdict.status == Status.DEFERRED and verdict.retry_at is not None:
                message.next_attempt_at = verdict.retry_at
            groups[message.status, message.last_error, message.next_attempt_at].append(message.pk)
        for (status, error, due), ids in groups.items():
            Message.objects.filter(pk__in=ids).update(
                status=status, last_error=error, claim="", claimed_until=None, next_attempt_at=due
            )
        _sending_mark(going, now + lease)
    return len(rows), going, configs


def _sending_mark(going: Sequence[Message], until: dt.datetime) -> None:
    """Rows to send become `sending` under their claim, in one statement."""
    if not going:
        return
    table = connection.ops.quote_name(Message._meta.db_table)
    columns: list[list[Any]] = [
        [m.pk for m in going],
        [m.to for m in going],
        [m.provider_id for m in going],
        [m.claim for m in going],
        [m.transport for m in going],
    ]
    set_ = (
        f"UPDATE {table} SET status = %s, last_error = '', claim = v.token, "  # noqa: S608
        "claimed_until = %s, transport = v.via, attempts = attempts + 1, "
        '"to" = v.addr, provider_id = v.ref '
    )
    if connection.vendor == "postgresql":
        # Arrays: five parameters whatever the batch size (fast to bind and to plan).
        sql = (
            f"{set_}FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[])"
            f" AS v (id, addr, ref, token, via) WHERE {table}.id = v.id"
        )
        params: list[Any] = [Status.SENDING, until, *map(pg_array, columns)]
    else:
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(going))
        sql = (
            f"WITH v (id, addr, ref, token, via) AS (VALUES {values}) "
            f"{set_}FROM v WHERE {table}.id = v.id"
        )
        rows = [value for row in zip(*columns, strict=True) for value in row]
        params = [*rows, Status.SENDING, until]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _tokens(going: Sequence[Message], *, lanes: int, window: int) -> dict[int, str]:
    """The claim token of each message to send: one for the batch with one lane (sent in
    id order whatever the channel), else one per lane of each channel, dealt in id order."""
    if lanes == 1:
        token = token_new(window)
        return {m.pk: token for m in going}
    by_channel: dict[str, list[int]] = defaultdict(list)
    for message in sorted(going, key=lambda m: m.pk):
        by_channel[message.channel].append(message.pk)
    tokens: dict[int, str] = {}
    for ids in by_channel.values():
        lane_tokens = [token_new(window) for _ in range(min(lanes, len(ids)))]
        for n, pk in enumerate(ids):
            tokens[pk] = lane_tokens[n % len(lane_tokens)]
    return tokens


def _reference(config: ChannelConfig | None, message_id: int) -> str:
    if config is None:
        return ""
    try:
        maker = transport_class(config.transport)
    except TransportError:
        return ""  # the send fails on the same error, with the reason
    return maker.reference_new(config.config, message_id)[:200]
