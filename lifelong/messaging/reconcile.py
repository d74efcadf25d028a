"""Matching `unknown` emails against the mail server's log: `lifelong mail-log-reconcile`.

A dispatcher that dies between a send and its record leaves the message `unknown` (never
re-sent). Its Message-ID was stored when it was claimed, so the mail server's log tells
whether the server took it. Postfix logs, per queue id:

    postfix/cleanup[…]: 4F1A22C0123: message-id=<7.0123456789abcdef@shop.ru>
    postfix/qmgr[…]: 4F1A22C0123: from=<shop@shop.ru>, size=1234, nrcpt=1 (queue active)

cleanup names the Message-ID while the message arrives, before the server has answered
for it; a message counts as taken only once the queue manager has it (the qmgr `from=`
line) or a delivery agent reports on it (`status=`): an aborted transfer has neither.
Matched `unknown` messages become `sent` with a timeline event; nothing else changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable

from django.db import transaction

from lifelong import clock
from lifelong.customers.models import Channel
from lifelong.events.services import events_record
from lifelong.messaging.models import Message, Status
from lifelong.messaging.services import message_event_build

# "<queue id>: message-id=<…>" from cleanup; the queue id is hex (short) or base-52 (long).
CLEANUP = re.compile(r"postfix(?:/[\w.-]+)*/cleanup\[\d+\]: (\w+): message-id=(<[^>\s]+>)")
QUEUED = re.compile(r"postfix(?:/[\w.-]+)*/qmgr\[\d+\]: (\w+): from=<")
DELIVERY = re.compile(r"postfix(?:/[\w.-]+)*/\w+\[\d+\]: (\w+): to=<[^>]*>.* status=\w+")
# RFC 3339 stamps (rsyslog's default on current systems); the classic "Dec  5 19:30:01"
# has no year or zone, so such lines give no time and the message's sent time is now.
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))\s")
CHUNK = 500


@dataclasses.dataclass
class Reconciled:
    accepted: int  # Message-IDs the log shows the server took
    matched: list[int]  # unknown messages now marked sent
    still_unknown: int  # unknown emails the log does not show


def mail_log_read(lines: Iterable[str]) -> dict[str, dt.datetime | None]:
    """Message-ID -> when the server took it (None when the log line has no full date)."""
    ids: dict[str, tuple[str, dt.datetime | None]] = {}
    taken: set[str] = set()
    for line in lines:
        if found := CLEANUP.search(line):
            stamp = STAMP.match(line)
            at = dt.datetime.fromisoformat(stamp.group(1)) if stamp else None
            ids[found.group(1)] = (found.group(2), at)
        elif found := QUEUED.search(line) or DELIVERY.search(line):
            taken.add(found.group(1))
    return {ids[queue][0]: ids[queue][1] for queue in taken if queue in ids}


def unknown_reconcile(*, lines: Iterable[str], dry_run: bool = False) -> Reconciled:
    """Mark `unknown` emails whose Message-ID the mail log shows taken as `sent`."""
    accepted = mail_log_read(lines)
    ids = sorted(accepted)
    matched: list[int] = []
    now = clock.now()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with transaction.atomic():
            rows = list(
                Message.objects.select_for_update()
                .filter(channel=Channel.EMAIL, status=Status.UNKNOWN, provider_id__in=chunk)
                .order_by("pk")
            )
            if dry_run:
                matched += [row.pk for row in rows]
                continue
            for row in rows:
                row.status, row.sent_at = Status.SENT, accepted[row.provider_id] or now
                row.last_error = ""
            Message.objects.bulk_update(rows, ["status", "sent_at", "last_error"])
            events_record(
                event
                for row in rows
                if (event := message_event_build(row, "message_sent", row.sent_at or now))
            )
            matched += [row.pk for row in rows]
    left = Message.objects.filter(channel=Channel.EMAIL, status=Status.UNKNOWN).count()
    still = left - (len(matched) if dry_run else 0)
    return Reconciled(accepted=len(accepted), matched=matched, still_unknown=still)


def reconcile_command(path: str, *, dry_run: bool) -> int:
    """`lifelong mail-log-reconcile`: read a log file ("-" for standard input), report."""
    import sys

    if path == "-":
        result = unknown_reconcile(lines=sys.stdin, dry_run=dry_run)
    else:
        with open(path, encoding="utf-8", errors="replace") as log:
            result = unknown_reconcile(lines=log, dry_run=dry_run)
    verb = "would mark" if dry_run else "marked"
    print(
        f"{result.accepted} Message-IDs taken by the server in the log; {verb} "
        f"{len(result.matched)} unknown emails sent; {result.still_unknown} stay unknown"
    )
    return 0
