"""Dispatch benchmark: `dispatch_due` over SMTP against a bare smtplib loop, same sink process.

    .venv/bin/python bench/dispatch_bench.py                       # 20,000 messages
    .venv/bin/python bench/dispatch_bench.py --messages 2000       # smoke run
    .venv/bin/python bench/dispatch_bench.py --lanes 4 --window 8 --workers 1,4
    .venv/bin/python bench/dispatch_bench.py --messages 300 --profile

Recreates the database named by LIFELONG_DATABASE_URL (its name must contain "bench"; default
postgresql://postgres@127.0.0.1:5432/lifelong_bench_dispatch; it must be PostgreSQL and is
dropped first) and migrates it. Set-up, not timed: M customers with email addresses and M
queued transactional emails (an order confirmation in Russian, about 1 KB of text;
bulk_create), and the email channel on the "smtp" transport pointing at the sink (no TLS, no
login, no DKIM). Every run sends to a fresh SMTP sink in its own process
(lifelong/messaging/tests/smtp_sink.py: aiosmtpd, each message appended to a file before
DATA is answered).

Timed:
  floor:     one smtplib connection, a plain loop of `sendmail` over the same M messages
             (same addresses, subjects and texts, base64 UTF-8, headers by string formatting).
             The bench's floor before issue 16 was the same loop: there is no other old floor.
  reference: `dispatch_due(lanes=1, window=1)`: one connection, each message recorded
             before the next is sent (the old behaviour, with today's composing and indexes).
  ours:      `dispatch_due(lanes=L, window=W)` until nothing is due, in 1 worker and, with
             --workers 1,4, in 4 worker processes at once (SKIP LOCKED shares the batches).
             The floor runs again right before each, and the ratio is to that floor.
Between runs the outbox is put back to queued (not timed).

Checks, for every run of dispatch_due: the sink received exactly M messages, one per outbox
row (the row id is in the Message-ID), the Message-IDs received are the provider ids of the
rows marked sent, and each message's bytes are those of the reference run once Message-ID
and Date are set aside. Prints messages/s, the ratio to the floor and the load average.
`--profile` runs the one-worker `ours` under cProfile (top 15) and prints the database time
by statement. `--keep` keeps the database. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from journeys_bench import (
    bench_database_url,
    drop_database,
    load,
    recreate_database,
    run_timed,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/lifelong_bench_dispatch"
FROM_EMAIL = "shop@example.ru"
FROM_NAME = "Кофейня на углу"
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
ROW_ID = re.compile(rb"^<(\d+)\.")
VOLATILE = re.compile(rb"^(?:Message-ID|Date):[^\r\n]*\r\n", re.IGNORECASE | re.MULTILINE)
ORDER_TEXT = """Анна, здравствуйте!

Ваш заказ № {number} принят и уже собирается на складе. Состав заказа:

  Кофе в зёрнах «Эфиопия Иргачеффе», 250 г — 2 шт. — 1 380 ₽
  Фильтры бумажные для воронки V60, 100 шт. — 1 шт. — 450 ₽
  Доставка курьером — 0 ₽

Итого: 1 830 ₽, оплачено картой.

Курьер привезёт заказ завтра с 10:00 до 14:00 и позвонит за час до приезда.
Отследить заказ и изменить время доставки можно в личном кабинете.

Спасибо, что выбрали нас!
Команда магазина «Кофейня на углу»"""
WORKER = """
import sys
import django

django.setup()
from lifelong.messaging.dispatch import dispatch_due

print("ready", flush=True)
sys.stdin.readline()
dispatch_due(lanes=int(sys.argv[1]), window=int(sys.argv[2]))
"""


class Sink:
    """The SMTP sink process of one run and the file it writes."""

    def __init__(self) -> None:
        from lifelong.messaging.tests import smtp_sink

        self.module = smtp_sink
        self.out = Path(tempfile.mkdtemp(prefix="dispatch-bench-")) / "received.bin"
        self.process, self.port = smtp_sink.start(self.out)

    def received(self) -> list[bytes]:
        self.module.stop(self.process)
        messages = self.module.received(self.out)
        self.out.unlink()
        self.out.parent.rmdir()
        return messages


def set_up(count: int) -> None:
    from django.db import connection

    from lifelong import clock
    from lifelong.customers.models import Channel, Customer, Purpose
    from lifelong.messaging.models import Message, SendingPolicy

    Customer.objects.bulk_create(
        (
            Customer(
                external_id=f"C{i}",
                first_name="Анна",
                last_name=f"Иванова{i}",
                email=f"c{i}@example.ru",
                source="bench",
            )
            for i in range(count)
        ),
        batch_size=5000,
    )
    SendingPolicy.current()
    now = clock.now()
    Message.objects.bulk_create(
        (
            Message(
                customer_id=pk,
                dedupe_key=f"order:{100000 + i}:confirmation",
                channel=Channel.EMAIL,
                purpose=Purpose.TRANSACTIONAL,
                subject=f"Заказ № {100000 + i} принят",
                body_text=ORDER_TEXT.format(number=100000 + i),
                next_attempt_at=now,
                created_at=now,
            )
            for i, pk in enumerate(
                Customer.objects.order_by("pk").values_list("pk", flat=True).iterator()
            )
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def channel_point(port: int) -> None:
    from lifelong.customers.models import Channel
    from lifelong.messaging.models import ChannelConfig

    ChannelConfig.objects.update_or_create(
        channel=Channel.EMAIL,
        defaults={
            "transport": "smtp",
            "active": True,
            "config": {
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "from_email": FROM_EMAIL,
                "from_name": FROM_NAME,
            },
        },
    )


def outbox_reset() -> None:
    """Every message queued again, its send and timeline event forgotten (not timed)."""
    from django.db import connection

    from lifelong import clock
    from lifelong.events.models import Event
    from lifelong.messaging.models import Message, Status

    Event.objects.filter(type="message_sent").delete()
    Message.objects.update(
        status=Status.QUEUED,
        next_attempt_at=clock.now(),
        attempts=0,
        sent_at=None,
        provider_id="",
        claim="",
        claimed_until=None,
        to="",
        transport="",
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def floor(port: int) -> float:
    """A bare smtplib loop: the same messages, built with string formatting, one connection."""
    from lifelong.messaging.models import Message

    rows = list(
        Message.objects.order_by("pk").values_list("pk", "customer__email", "subject", "body_text")
    )
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.ehlo()
        for pk, to, subject, text in rows:
            body = base64.encodebytes(text.replace("\n", "\r\n").encode()).replace(b"\n", b"\r\n")
            head = (
                f"Message-ID: <{pk}.floor@example.ru>\r\n"
                f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
                f"From: =?utf-8?b?{base64.b64encode(FROM_NAME.encode()).decode()}?="
                f" <{FROM_EMAIL}>\r\n"
                f"To: {to}\r\n"
                f"Subject: =?utf-8?b?{base64.b64encode(subject.encode()).decode()}?=\r\n"
                'Content-Type: text/plain; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: base64\r\n"
                "MIME-Version: 1.0\r\n\r\n"
            )
            smtp.sendmail(FROM_EMAIL, [to], head.encode() + body)
    return time.perf_counter() - started


def by_row(label: str, received: list[bytes], count: int) -> dict[int, bytes]:
    """Each outbox row's message as received, checking there is exactly one per row."""
    rows: dict[int, bytes] = {}
    for raw in received:
        found = MESSAGE_ID.search(raw.split(b"\r\n\r\n", 1)[0])
        row = ROW_ID.match(found.group(1)) if found else None
        if row is None or int(row.group(1)) in rows:
            raise SystemExit(f"{label}: a message without a row id, or a row received twice")
        rows[int(row.group(1))] = raw
    if len(rows) != count or len(received) != count:
        raise SystemExit(f"{label}: the sink received {len(received):,}, expected {count:,}")
    return rows


def check(label: str, received: list[bytes], count: int, reference: dict[int, bytes]) -> int:
    """One message per row, the rows' provider ids, the reference's bytes; average size."""
    from lifelong.messaging.models import Message, Status

    rows = by_row(label, received, count)
    sent = dict(Message.objects.filter(status=Status.SENT).values_list("pk", "provider_id"))
    for pk, raw in rows.items():
        found = MESSAGE_ID.search(raw)
        if found is None or sent.get(pk) != found.group(1).decode():
            raise SystemExit(f"{label}: row {pk} is not marked sent with the Message-ID sent")
        if reference and VOLATILE.sub(b"", raw) != VOLATILE.sub(b"", reference[pk]):
            raise SystemExit(f"{label}: row {pk} differs from the reference run's message")
    return sum(len(raw) for raw in received) // count


def workers_run(count: int, lanes: int, window: int) -> float:
    """`count` dispatcher processes started together; seconds until all are done."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "lifelong.settings"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(lanes), str(window)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("a worker failed")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--workers", default="1,4", help="worker counts to run ours with")
    parser.add_argument("--profile", action="store_true", help="run ours under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = bench_database_url(DEFAULT_URL)
    if url is None:
        return 2
    os.environ["LIFELONG_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")
    recreate_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    from lifelong.messaging.dispatch import dispatch_due

    call_command("migrate", verbosity=0)
    count = args.messages
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    try:
        started = time.perf_counter()
        set_up(count)
        print(
            f"set-up: {count:,} customers and queued emails in "
            f"{time.perf_counter() - started:.1f} s (not timed)",
            flush=True,
        )
        print(f"load average before: {load()}", flush=True)

        sink = Sink()
        floor_s = floor(sink.port)
        floor_size = sum(len(raw) for raw in sink.received()) // count
        print(
            f"floor: smtplib loop, one connection: {count / floor_s:,.0f} messages/s "
            f"({floor_s:.2f} s, {floor_size:,} bytes each; the old floor is this loop)",
            flush=True,
        )

        sink = Sink()
        channel_point(sink.port)
        ref_s = run_timed(lambda: dispatch_due(lanes=1, window=1), profile=False)
        received = sink.received()
        reference = by_row("reference", received, count)
        ref_size = check("reference", received, count, {})
        print(
            f"reference: dispatch_due lanes 1 window 1: {count / ref_s:,.0f} messages/s "
            f"({ref_s:.2f} s, {ref_size:,} bytes each) = {floor_s / ref_s:.1%} of the floor",
            flush=True,
        )

        for workers in [int(n) for n in args.workers.split(",")]:
            outbox_reset()
            # The floor again right before: on a shared machine the load moves in minutes.
            sink = Sink()
            print(f"load average before floor and ours x{workers}: {load()}", flush=True)
            floor_s = floor(sink.port)
            sink.received()
            print(f"floor again: {count / floor_s:,.0f} messages/s ({floor_s:.2f} s)", flush=True)
            sink = Sink()
            channel_point(sink.port)
            if workers == 1:
                ours_s = run_timed(
                    lambda: dispatch_due(lanes=args.lanes, window=args.window),
                    profile=args.profile,
                )
            else:
                ours_s = workers_run(workers, args.lanes, args.window)
            size = check(f"ours x{workers}", sink.received(), count, reference)
            print(
                f"ours: dispatch_due lanes {args.lanes} window {args.window}, {workers} "
                f"worker(s): {count / ours_s:,.0f} messages/s ({ours_s:.2f} s, {size:,} "
                f"bytes each) = {floor_s / ours_s:.1%} of the floor",
                flush=True,
            )
        print(f"load average after: {load()}")
    finally:
        if not args.keep:
            drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
