"""`lifelong mail-log-reconcile`: `unknown` emails a Postfix log shows taken become `sent`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lifelong import clock
from lifelong.cli import main
from lifelong.customers.models import Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.messaging.models import Message, Status

LOG = Path(__file__).parent / "data" / "postfix-mail.log"
MSK = dt.timezone(dt.timedelta(hours=3))


def _message(label: str, status: str, *, channel: str = "email") -> Message:
    customer = CustomerFactory.create()
    return Message.objects.create(
        customer=customer,
        dedupe_key=f"t:{label}",
        channel=channel,
        purpose=Purpose.TRANSACTIONAL,
        subject="Заказ принят",
        to=customer.email,
        status=status,
        provider_id=f"<{label}@shop.ru>",
        last_error="dispatcher stopped while sending; may have been delivered",
    )


@pytest.fixture
def outbox(db) -> dict[str, Message]:
    return {
        "taken": _message("1001.5f2c9a1e0b7d4c33", Status.UNKNOWN),
        "aborted": _message("1002.0c1d2e3f4a5b6c7d", Status.UNKNOWN),
        "deferred": _message("1003.a1b2c3d4e5f60718", Status.UNKNOWN),
        "recorded": _message("1004.99aa88bb77cc66dd", Status.SENT),
        "bounced": _message("1005.1234567890abcdef", Status.UNKNOWN),
        "absent": _message("1006.feedfacecafebeef", Status.UNKNOWN),
        "sms": _message("1001.5f2c9a1e0b7d4c33-sms", Status.UNKNOWN, channel="sms"),
    }


def _statuses(outbox: dict[str, Message]) -> dict[str, str]:
    return {name: Message.objects.get(pk=m.pk).status for name, m in outbox.items()}


def test_messages_the_server_took_are_marked_sent_and_no_others(outbox, frozen_time, capsys):
    assert main(["mail-log-reconcile", str(LOG)]) == 0

    assert _statuses(outbox) == {
        "taken": Status.SENT,
        "aborted": Status.UNKNOWN,  # cleanup saw it, the transfer broke off: not taken
        "deferred": Status.SENT,  # taken; the server's own delivery is its business
        "recorded": Status.SENT,
        "bounced": Status.SENT,  # taken, then bounced by the recipient's server
        "absent": Status.UNKNOWN,
        "sms": Status.UNKNOWN,
    }
    taken = Message.objects.get(pk=outbox["taken"].pk)
    assert taken.sent_at == dt.datetime(2026, 3, 2, 13, 0, 1, 230071, tzinfo=MSK)
    assert taken.last_error == ""
    # A classic syslog line has no year: the time of the reconciliation stands in.
    assert Message.objects.get(pk=outbox["bounced"].pk).sent_at == clock.now()
    assert Message.objects.get(pk=outbox["recorded"].pk).sent_at is None  # untouched
    sent_events = Event.objects.filter(type="message_sent")
    assert sorted(e.properties["message_id"] for e in sent_events) == sorted(
        outbox[name].pk for name in ("taken", "deferred", "bounced")
    )
    assert capsys.readouterr().out.strip() == (
        "4 Message-IDs taken by the server in the log; marked 3 unknown emails sent; 2 stay unknown"
    )

    # Running it again changes nothing.
    assert main(["mail-log-reconcile", str(LOG)]) == 0
    assert Event.objects.filter(type="message_sent").count() == 3


def test_a_dry_run_reports_and_changes_nothing(outbox, frozen_time, capsys):
    assert main(["mail-log-reconcile", "--dry-run", str(LOG)]) == 0
    assert capsys.readouterr().out.strip() == (
        "4 Message-IDs taken by the server in the log; would mark 3 unknown emails sent; "
        "2 stay unknown"
    )
    assert Message.objects.filter(status=Status.UNKNOWN).count() == 6
    assert not Event.objects.filter(type="message_sent").exists()
