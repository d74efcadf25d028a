"""What the dispatcher does around one send: the transport, the Outgoing, the send itself,
and recording results in groups (one UPDATE per claim for the sent ones, their timeline
events in one insert), for the lanes (dispatch_lanes.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, F, Value, When

from lifelong import clock
from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.jobs.counters import FAILED, SENT
from lifelong.messaging import links
from lifelong.messaging.channels.base import (
    Outgoing,
    SendResult,
    Transport,
    TransportError,
    transport_class,
)
from lifelong.messaging.models import (
    ChannelConfig,
    Message,
    PushSubscription,
    SendingPolicy,
    Status,
)
from lifelong.messaging.services import message_event_build, suppression_add

log = logging.getLogger("lifelong.messaging.dispatch")

# The only headers a message's payload may ask for: an email reply's place in its thread.
THREAD_HEADERS = ("In-Reply-To", "References")
MAX_BACKOFF = dt.timedelta(hours=6)
# One result of a send: what the transport answered, or why it did not take the message.
Result = SendResult | TransportError


class _Partial(Exception):
    """Some rows of a group were no longer ours: record the group row by row."""


def transport_open(channel: str, config: ChannelConfig | None = None) -> Transport:
    """The channel's transport, from its set-up row (read here unless given)."""
    if config is None:
        config = ChannelConfig.objects.filter(channel=channel, active=True).first()
    if config is None:
        raise TransportError(f"channel {channel} is not set up", permanent=True)
    return transport_class(config.transport)(config.config)


class Transports:
    """The connections of one dispatch run, handed from batch to batch: opening one (an SMTP
    session: connect, EHLO, perhaps STARTTLS and login) costs several sends. A connection is
    given back only by a lane whose sends all ended cleanly, and is reused only for the same
    channel settings. `close` ends them all."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str], list[Transport]] = defaultdict(list)
        self._keys: dict[int, tuple[str, str]] = {}

    def take(self, channel: str, config: ChannelConfig | None) -> Transport:
        """An idle connection with these settings, else a new one (raises TransportError)."""
        key = (channel, repr(config.transport) + repr(config.config) if config else "")
        idle = self._idle[key]
        transport = idle.pop() if idle else transport_open(channel, config)
        self._keys[id(transport)] = key
        return transport

    def give_back(self, transport: Transport, *, reusable: bool) -> None:
        key = self._keys.pop(id(transport), None)
        if reusable and key is not None:
            self._idle[key].append(transport)
        else:
            transport_close(transport)

    def close(self) -> None:
        for idle in self._idle.values():
            for transport in idle:
                transport_close(transport)
        self._idle.clear()


def transport_close(transport: Transport) -> None:
    try:
        transport.close()
    except Exception:
        log.exception("transport_close_failed")


def send(transport: Transport, message: Message, outgoing: Outgoing) -> Result:
    try:
        return transport.send(outgoing)
    except TransportError as exc:
        return exc
    except Exception as exc:
        # A bug inside a transport: we cannot tell whether anything left.
        log.exception("transport_crashed", extra={"message_id": message.pk})
        return TransportError(repr(exc), may_have_sent=True)


def outgoing(message: Message) -> Outgoing:
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
        reference=message.provider_id,
    )


def results_record(
    results: Sequence[tuple[Message, Result]], tally: Counter[tuple[str, str]]
) -> tuple[int, set[str]]:
    """Record sends and failures, each under its message's claim; returns how many were
    recorded sent and the claims found lost (a rival recovered some of their rows: their
    holder must stop)."""
    now = clock.now()
    by_claim: dict[str, list[tuple[Message, SendResult]]] = defaultdict(list)
    for message, result in results:
        if isinstance(result, SendResult):
            by_claim[message.claim].append((message, result))
    try:
        recorded = _sent_record(by_claim, now, careful=False)
    except _Partial:
        # Rolled back whole: once more, finding out first which rows are still ours.
        recorded = _sent_record(by_claim, now, careful=True)
    held = {message.pk for message in recorded}
    lost = {m.claim for m, r in results if isinstance(r, SendResult) and m.pk not in held}
    for message in recorded:
        tally[message.channel, SENT] += 1
    for message, result in results:
        if isinstance(result, TransportError):
            failure_record(message.claim, message, result)
            tally[message.channel, FAILED] += 1
    return len(recorded), lost


def _sent_record(
    by_claim: dict[str, list[tuple[Message, SendResult]]], now: dt.datetime, *, careful: bool
) -> list[Message]:
    """The UPDATE of the sent rows and one insert of their timeline events, in one
    transaction. Not careful: one UPDATE, all rows expected to be ours still (raises
    _Partial, rolling back, when not); careful: per claim, the rows still ours are locked
    and read first."""
    recorded: list[Message] = []
    with transaction.atomic():
        if not careful:
            # One UPDATE for every claim: a row still ours carries the token it was sent
            # under, and a rival's token is never one of ours.
            group = [pair for pairs in by_claim.values() for pair in pairs]
            ids = [message.pk for message, _result in group]
            if _one_statement(group):
                if _sent_and_timeline(ids, list(by_claim), now) != len(ids):
                    raise _Partial
                return [message for message, _result in group]
            ours = Message.objects.filter(claim__in=list(by_claim), status=Status.SENDING)
            if ids and ours.filter(pk__in=ids).update(**_sent_fields(group, now)) != len(ids):
                raise _Partial
            recorded = [message for message, _result in group]
        for claim, group in by_claim.items() if careful else ():
            ours = Message.objects.filter(claim=claim, status=Status.SENDING)
            ids = [message.pk for message, _result in group]
            held = set(ours.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
            group = [(m, r) for m, r in group if m.pk in held]
            for pk in sorted(set(ids) - held):
                log.error("dispatch_claim_lost", extra={"message_id": pk})
            if group:
                ours.filter(pk__in=held).update(**_sent_fields(group, now))
            recorded += [message for message, _result in group]
        events_record(
            event
            for message in recorded
            if (event := message_event_build(message, "message_sent", now)) is not None
        )
    return recorded


def _one_statement(group: Sequence[tuple[Message, SendResult]]) -> bool:
    """PostgreSQL, and no provider named an id of its own (email's was stored at the claim)."""
    return connection.vendor == "postgresql" and all(
        result.provider_id[:200] == message.provider_id for message, result in group
    )


def _sent_and_timeline(ids: list[int], claims: list[str], now: dt.datetime) -> int:
    """PostgreSQL: the rows to sent and their `message_sent` events (what
    message_event_build makes) in one statement, one round trip; returns rows updated."""
    message, event = Message._meta.db_table, Event._meta.db_table
    sql = f"""
        WITH sent AS (
            UPDATE {message} SET status = %(sent)s, sent_at = %(now)s, claim = '',
                claimed_until = NULL, last_error = ''
            WHERE id = ANY(%(ids)s::bigint[]) AND claim = ANY(%(claims)s::text[])
                AND status = %(sending)s
            RETURNING id, customer_id, channel, journey_id, enrollment_id, node_id, subject
        ), timeline AS (
            INSERT INTO {event} (customer_id, type, properties, occurred_at, received_at, source)
            SELECT customer_id, 'message_sent', jsonb_build_object(
                    'channel', channel, 'message_id', id, 'journey_id', journey_id,
                    'enrollment_id', enrollment_id, 'node_id', node_id,
                    'subject', left(subject, 200)
                ), %(now)s, %(now)s, 'messaging'
            FROM sent WHERE customer_id IS NOT NULL ORDER BY id
        )
        SELECT count(*) FROM sent
    """  # noqa: S608 - table names are ours
    params: dict[str, Any] = {
        "sent": Status.SENT,
        "sending": Status.SENDING,
        "now": now,
        "ids": ids,
        "claims": claims,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def _sent_fields(group: Sequence[tuple[Message, SendResult]], now: dt.datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": Status.SENT,
        "sent_at": now,
        "claim": "",
        "claimed_until": None,
        "last_error": "",
    }
    # Email's id was stored at the claim; other providers name theirs in the answer.
    changed = [
        When(pk=message.pk, then=Value(result.provider_id[:200]))
        for message, result in group
        if result.provider_id[:200] != message.provider_id
    ]
    if changed:
        fields["provider_id"] = Case(*changed, default=F("provider_id"))
    return fields


def failure_record(claim: str, message: Message, exc: TransportError) -> None:
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
