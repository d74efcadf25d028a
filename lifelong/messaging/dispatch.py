"""Delivery of the outbox: `dispatch_due` claims due messages in batches and sends them.

Crash safety. A batch is claimed in one transaction (status `sending`, a claim token and a
lease), then sent one message at a time in id order, each result committed before the next
send starts. If the process dies mid-batch, the lease runs out and `stale_claims_recover`
finds the batch: the lowest unfinished id may have left (it becomes `unknown`, never
re-sent blindly); the rest never reached a transport and go back to the queue.

Fencing. A slow batch may outlast its lease while its dispatcher is alive. So before each
send the dispatcher checks that it still holds the message (its claim token is still on
the row; recovery clears it) and stops the batch the moment it does not. Once half the
lease is spent, that check is one committed UPDATE conditional on the token that renews
the lease of every unsent row of the batch: the rows of a claim always share one lease,
so recovery still finds the message in flight as the lowest unfinished id. Renewing the
whole rest before every send would rewrite O(batch²) rows; it halved throughput.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence

from django.db import transaction
from django.db.models import F

from lifelong import clock
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.jobs.counters import FAILED, SENT, channel_sends_add
from lifelong.messaging import links
from lifelong.messaging.channels.base import (
    Outgoing,
    SendResult,
    Transport,
    TransportError,
    transport_class,
)
from lifelong.messaging.gates import gates_apply
from lifelong.messaging.models import (
    DUE_STATUSES,
    WEBHOOK,
    ChannelConfig,
    Message,
    PushSubscription,
    SendingPolicy,
    Status,
)
from lifelong.messaging.services import address_of, message_event, suppression_add

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# Invariant: LEASE / 2 > the longest one send can take (by default the transports time out
# well within it: HTTP 5 s to connect + 20 s to answer, SMTP 30 s per exchange). A send
# starts with at least half the lease left, so no rival recovers a batch while its holder
# is alive. If a send outlives the lease anyway, recovery marks that message `unknown`
# (never re-sent) and the holder's next check fails, which stops its batch.
LEASE = dt.timedelta(minutes=15)
# The only headers a message's payload may ask for: an email reply's place in its thread.
THREAD_HEADERS = ("In-Reply-To", "References")
MAX_BACKOFF = dt.timedelta(hours=6)


def dispatch_due(
    *, batch_size: int = BATCH_SIZE, max_batches: int | None = None, lease: dt.timedelta = LEASE
) -> int:
    """Send every due message; returns how many were handed to a transport successfully."""
    stale_claims_recover()
    sent = batches = 0
    while max_batches is None or batches < max_batches:
        claim, settled, going = _claim(batch_size, lease)
        if not settled:
            break
        sent += _deliver(claim, going, lease)
        batches += 1
    return sent


def stale_claims_recover() -> int:
    """Settle batches whose dispatcher died (lease over). Returns rows settled."""
    now = clock.now()
    by_claim: dict[str, list[int]] = defaultdict(list)
    for pk, claim in Message.objects.filter(
        status=Status.SENDING, claimed_until__lt=now
    ).values_list("pk", "claim"):
        by_claim[claim].append(pk)
    settled = 0
    for claim, ids in by_claim.items():
        ids.sort()
        # Only while still expired: the holder may have renewed since the read above.
        held = Message.objects.filter(claim=claim, status=Status.SENDING, claimed_until__lt=now)
        with transaction.atomic():
            settled += held.filter(pk=ids[0]).update(
                status=Status.UNKNOWN,
                claim="",
                claimed_until=None,
                last_error="dispatcher stopped while sending; may have been delivered",
            )
            settled += held.filter(pk__in=ids[1:]).update(
                status=Status.QUEUED,
                claim="",
                claimed_until=None,
                next_attempt_at=now,
                attempts=F("attempts") - 1,
            )
        log.warning("dispatch_claim_recovered", extra={"claim": claim, "messages": len(ids)})
    return settled


def _claim(batch_size: int, lease: dt.timedelta) -> tuple[str, int, list[Message]]:
    """Claim up to a batch of due messages; returns (claim, rows settled, rows to send).

    Rows the gates stop (deferred, cancelled, ...) are settled here and not sent.
    """
    now = clock.now()
    claim = uuid.uuid4().hex
    policy = SendingPolicy.current()
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:batch_size]
        )
        if not rows:
            return claim, 0, []
        customers = {
            c.pk: c
            for c in Customer.objects.select_for_update(no_key=True)
            .filter(pk__in=sorted({m.customer_id for m in rows if m.customer_id}))
            .order_by("pk")
        }
        configs = dict(
            ChannelConfig.objects.filter(active=True).values_list("channel", "transport")
        )
        for message in rows:
            customer = customers.get(message.customer_id) if message.customer_id else None
            if message.channel == WEBHOOK:
                message.to = str(message.payload.get("url", ""))
            elif customer is not None:
                message.to = address_of(customer, message.channel)
        verdicts = gates_apply(rows, now=now, policy=policy)
        going: list[Message] = []
        # One UPDATE per outcome rather than a CASE per row; the address each message
        # went to is written with its result.
        groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
        for message in rows:
            verdict = verdicts[message.pk]
            message.status = verdict.status
            message.last_error = verdict.reason[:500]
            if verdict.status == Status.SENDING:
                message.claim, message.claimed_until = claim, now + lease
                message.attempts += 1
                message.transport = configs.get(message.channel, "")
                going.append(message)
            elif verdict.status == Status.DEFERRED and verdict.retry_at is not None:
                message.next_attempt_at = verdict.retry_at
            key = (
                message.status,
                message.last_error,
                message.claim,
                message.claimed_until,
                message.transport,
                message.next_attempt_at,
            )
            groups[key].append(message.pk)
        for (status, error, token, until, transport, due), ids in groups.items():
            extra = {"attempts": F("attempts") + 1} if status == Status.SENDING else {}
            Message.objects.filter(pk__in=ids).update(
                status=status,
                last_error=error,
                claim=token,
                claimed_until=until,
                transport=transport,
                next_attempt_at=due,
                **extra,
            )
    return claim, len(rows), going


def _deliver(claim: str, messages: Sequence[Message], lease: dt.timedelta) -> int:
    opened: dict[str, Transport] = {}
    sent = 0
    tally: Counter[tuple[str, str]] = Counter()
    batch = sorted(messages, key=lambda m: m.pk)
    # The claim gave the whole batch one lease; the checks renew it as it runs down.
    held_until = batch[0].claimed_until if batch else None
    try:
        for n, message in enumerate(batch):
            assert held_until is not None
            held_until = _claim_check(claim, batch[n:], held_until, lease)
            if held_until is None:
                log.warning("dispatch_claim_lost", extra={"claim": claim, "message_id": message.pk})
                break
            try:
                transport = opened.get(message.channel)
                if transport is None:
                    transport = opened[message.channel] = _transport_open(message.channel)
                result = transport.send(_outgoing(message))
            except TransportError as exc:
                _record_failure(claim, message, exc)
                tally[message.channel, FAILED] += 1
            except Exception as exc:
                # A bug inside a transport: we cannot tell whether anything left.
                log.exception("transport_crashed", extra={"message_id": message.pk})
                _record_failure(claim, message, TransportError(repr(exc), may_have_sent=True))
                tally[message.channel, FAILED] += 1
            else:
                recorded = _record_sent(claim, message, result)
                sent += recorded
                tally[message.channel, SENT] += recorded
    finally:
        for transport in opened.values():
            try:
                transport.close()
            except Exception:
                log.exception("transport_close_failed")
        channel_sends_add(tally=tally)
    return sent


def _claim_check(
    claim: str, rest: Sequence[Message], held_until: dt.datetime, lease: dt.timedelta
) -> dt.datetime | None:
    """Before a send: the lease `rest` (the unsent batch) is held until, or None once lost."""
    now = clock.now()
    if held_until - now < lease / 2:
        held_until = now + lease
        renewed = Message.objects.filter(
            pk__in=[m.pk for m in rest], claim=claim, status=Status.SENDING
        ).update(claimed_until=held_until)
        return held_until if renewed == len(rest) else None
    held = Message.objects.filter(pk=rest[0].pk, claim=claim, status=Status.SENDING).exists()
    return held_until if held else None


def _transport_open(channel: str) -> Transport:
    config = ChannelConfig.objects.filter(channel=channel, active=True).first()
    if config is None:
        raise TransportError(f"channel {channel} is not set up", permanent=True)
    return transport_class(config.transport)(config.config)


def _outgoing(message: Message) -> Outgoing:
    payload = dict(message.payload)
    to = message.to
    if message.channel == Channel.PUSH:
        subscription = PushSubscription.objects.filter(pk=to).first()
        if subscription is None:
            raise TransportError("push subscription is gone", permanent=True)
        to = subscription.endpoint
        payload["keys"] = {"p256dh": subscription.p256dh, "auth": subscription.auth}
    marketing = message.purpose == Purpose.MARKETING
    unsubscribe = token = ""
    if marketing and message.channel == Channel.EMAIL and message.customer_id:
        unsubscribe = links.unsubscribe_url(
            customer_id=message.customer_id, channel=message.channel
        )
        token = links.unsubscribe_token(customer_id=message.customer_id, channel=message.channel)
    # Threading headers a producer asked for (a staff reply answering a customer's mail).
    asked = payload.pop("headers", None)
    headers = (
        {name: str(asked[name]) for name in THREAD_HEADERS if name in asked}
        if isinstance(asked, dict)
        else {}
    )
    return Outgoing(
        message_id=message.pk,
        channel=message.channel,
        to=to,
        subject=message.subject,
        text=message.body_text,
        html=message.body_html,
        marketing=marketing,
        payload=payload,
        unsubscribe_url=unsubscribe,
        unsubscribe_token=token,
        headers=headers,
    )


def _record_sent(claim: str, message: Message, result: SendResult) -> int:
    now = clock.now()
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, claim=claim, status=Status.SENDING).update(
            to=message.to,
            status=Status.SENT,
            sent_at=now,
            provider_id=result.provider_id[:200],
            claim="",
            claimed_until=None,
            last_error="",
        )
        if not updated:
            log.error("dispatch_claim_lost", extra={"message_id": message.pk})
            return 0
        message_event(message, "message_sent", now)
    return 1


def _record_failure(claim: str, message: Message, exc: TransportError) -> None:
    now = clock.now()
    error = str(exc)[:500]
    fields: dict[str, object] = {
        "to": message.to,
        "claim": "",
        "claimed_until": None,
        "last_error": error,
    }
    if exc.may_have_sent:
        fields["status"] = Status.UNKNOWN
    elif exc.permanent or message.attempts >= SendingPolicy.current().max_attempts:
        fields["status"] = Status.FAILED
    else:
        backoff = min(dt.timedelta(minutes=2 ** (message.attempts - 1)), MAX_BACKOFF)
        fields.update(status=Status.QUEUED, next_attempt_at=now + backoff)
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, claim=claim, status=Status.SENDING).update(**fields)
        if exc.bounce and message.channel == Channel.PUSH:
            # A dead subscription is removed, so an older working one becomes the address.
            PushSubscription.objects.filter(pk=message.to).delete()
        elif exc.bounce:
            suppression_add(channel=message.channel, address=message.to, reason=error)
    log.warning(
        "message_send_failed",
        extra={"message_id": message.pk, "status": fields["status"], "error": error},
    )
