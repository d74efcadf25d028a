"""Dispatch benchmark: `dispatch_due` over SMTP against a bare smtplib loop, same sink process.

    .venv/bin/python bench/dispatch_bench.py                       # 20,000 messages
    .venv/bin/python bench/dispatch_bench.py --messages 2000       # smoke run
    .venv/bin/python bench/dispatch_bench.py --lanes 1 --window 8 --workers 1 --no-reference
    .venv/bin/python bench/dispatch_bench.py --messages 1000000 --workers 1 --ours-only
    .venv/bin/python bench/dispatch_bench.py --messages 300 --profile

Recreates the database named by LIFELONG_DATABASE_URL (its name must contain "bench"; default
postgresql://postgres@127.0.0.1:5432/lifelong_bench_dispatch; it must be PostgreSQL and is
dropped first) and migrates it. Set-up, not timed, set-based: M customers with email
addresses and M queued transactional emails (an order confirmation in Russian, about 1 KB of
text), each due a millisecond after the one before (--same-due-time: all at one instant),
and the email channel on the "smtp" transport pointing at the sink (no TLS, no login, no
DKIM). Every run sends to a fresh SMTP sink in its own process
(lifelong/messaging/tests/smtp_sink.py: aiosmtpd, each message appended to a file before
DATA is answered).

Timed:
  floor:     a plain loop of smtplib `sendmail` over the same M messages (same addresses,
             subjects and texts, base64 UTF-8, headers by string formatting), over as many
             connections at once as ours has lanes (--floor-connections to change it); once
             over one connection at the start, as context (the bench's floor before issue 16
             was that loop: there is no other old floor).
  reference: `dispatch_due(lanes=1, window=1)`: one connection, each message recorded
             before the next is sent (the old behaviour, with today's composing and indexes).
             Skipped with --no-reference or --ours-only.
  ours:      `dispatch_due(lanes=L, window=W)` until nothing is due, in 1 worker and, with
             --workers 1,4, in 4 worker processes at once (SKIP LOCKED shares the batches).
             The floor runs again right before each (not with --ours-only), and the ratio is
             to that floor.
Between runs the outbox is put back to queued (not timed).

Checks, for every run of dispatch_due: the sink received exactly M messages, one per outbox
row (the row id is in the Message-ID), the Message-IDs received are the provider ids of the
rows marked sent, and, with a reference run, each message's bytes are those of the reference
run once Message-ID and Date are set aside. Without a reference the sink's file is streamed
into a temporary table and checked in SQL (a million messages is 1.5 GB). Prints messages/s,
the ratio to the floor run just before (and to the one-connection floor, the issue's), how
busy the sink process was (its CPU time over the run: at 100 % the sink bounds the run) and
the load average (sampled while ours runs). `--profile` runs the
one-worker `ours` under cProfile (top 15) and prints the database time by statement.
`--keep` keeps the database. Not part of the test suite.
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
import threading
import time
from pathlib import Path

from journeys_bench import (
    LoadSampler,
    bench_database_url,
    customers_insert,
    drop_database,
    insert_select,
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
from lifelong.jobs.heap import heap_settle
from lifelong.messaging.dispatch import dispatch_due

heap_settle()  # as a Celery worker process does when it starts
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

    def busy(self, seconds: float) -> str:
        """The share of `seconds` the sink process spent on a core (Linux): near 100 %, the
        sink is what bounds the run."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return f"sink busy {used / seconds:.0%}"

    def received(self) -> list[bytes]:
        self.module.stop(self.process)
        messages = self.module.received(self.out)
        self._remove()
        return messages

    def ids_check(self, label: str, count: int) -> int:
        """Reads the sink's file as a stream (a million messages is 1.5 GB) and checks in SQL
        that each of the `count` rows was received exactly once, carrying the Message-ID
        stored on the row marked sent; returns the average size."""
        from django.db import connection

        self.module.stop(self.process)
        received = size = 0
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE bench_received (row_id bigint, message_id text)")
            with (
                self.out.open("rb") as stream,
                cursor.cursor.copy("COPY bench_received FROM STDIN") as copy,
            ):
                while line := stream.readline():
                    raw = stream.read(int(line))
                    stream.read(1)
                    found = MESSAGE_ID.search(raw.split(b"\r\n\r\n", 1)[0])
                    row = ROW_ID.match(found.group(1)) if found else None
                    if found is None or row is None:
                        raise SystemExit(f"{label}: a message without a row id in its Message-ID")
                    copy.write_row((int(row.group(1)), found.group(1).decode()))
                    received += 1
                    size += len(raw)
            cursor.execute(
                "SELECT count(DISTINCT r.row_id),"
                " count(*) FILTER (WHERE m.status = 'sent' AND m.provider_id = r.message_id),"
                " (SELECT count(*) FROM messaging_message WHERE status = 'sent')"
                " FROM bench_received r LEFT JOIN messaging_message m ON m.id = r.row_id"
            )
            distinct, matching, sent = cursor.fetchone()
            cursor.execute("DROP TABLE bench_received")
        self._remove()
        if not received == distinct == matching == sent == count:
            raise SystemExit(
                f"{label}: {received:,} received for {distinct:,} rows, {matching:,} with the"
                f" Message-ID of their row marked sent, {sent:,} rows sent; expected {count:,}"
            )
        return size // count

    def _remove(self) -> None:
        self.out.unlink()
        self.out.parent.rmdir()


def set_up(count: int, *, same_due_time: bool) -> None:
    """M customers and M queued emails, set-based (a million in about a minute and a half).

    Each message is due a millisecond after the one before, as if enqueued over time;
    with `same_due_time` all are due at one instant, as one enqueue statement writes them
    (the claim then sorts the whole queue each batch: see bench/README.md, "Dispatch")."""
    from django.db import connection

    from lifelong.messaging.models import Message, SendingPolicy

    customers_insert(count)
    SendingPolicy.current()
    insert_select(
        Message,
        {
            "customer_id": "c.id",
            "dedupe_key": "'order:' || c.n || ':confirmation'",
            "channel": "'email'",
            "purpose": "'transactional'",
            "subject": "'Заказ № ' || c.n || ' принят'",
            "body_text": "replace(%(text)s, '{number}', c.n::text)",
            "next_attempt_at": "now()"
            if same_due_time
            else "now() - interval '1 millisecond' * (%(count)s - c.n + 99999)",
        },
        "FROM (SELECT id, 99999 + row_number() OVER (ORDER BY id) AS n"
        " FROM customers_customer) c ORDER BY c.id",
        {"text": ORDER_TEXT, "count": count},
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
    """Every message queued again, its send and timeline event forgotten (not timed); each
    keeps the due time the set-up gave it."""
    from django.db import connection

    from lifelong.events.models import Event
    from lifelong.messaging.models import Message, Status

    Event.objects.filter(type="message_sent").delete()
    Message.objects.update(
        status=Status.QUEUED,
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


def floor(port: int, connections: int) -> float:
    """A bare smtplib loop: the same messages, built with string formatting, over
    `connections` connections at once (one thread each, a contiguous share of the rows)."""
    from lifelong.messaging.models import Message

    rows = list(
        Message.objects.order_by("pk").values_list("pk", "customer__email", "subject", "body_text")
    )
    share = -(-len(rows) // connections)
    threads = [
        threading.Thread(target=_floor_loop, args=(port, rows[at : at + share]))
        for at in range(0, len(rows), share)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _floor_loop(port: int, rows: list[tuple[int, str, str, str]]) -> None:
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


def sent_so_far(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM messaging_message WHERE status = 'sent'"
        ).fetchone()
    return f"{row[0] if row else 0:,} sent"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--workers", default="1,4", help="worker counts to run ours with")
    parser.add_argument(
        "--floor-connections",
        type=int,
        help="connections of the floor run before each of ours (default: as many as lanes)",
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the lanes 1 window 1 reference run (and the byte-for-byte comparison)",
    )
    parser.add_argument(
        "--ours-only",
        action="store_true",
        help="no floor and no reference: ours alone, checked by count and Message-IDs"
        " (the 1,000,000-message run)",
    )
    parser.add_argument(
        "--same-due-time",
        action="store_true",
        help="every message due at the same instant (by default a millisecond apart)",
    )
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
    connections = args.floor_connections or args.lanes
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    try:
        started = time.perf_counter()
        set_up(count, same_due_time=args.same_due_time)
        print(
            f"set-up: {count:,} customers and queued emails in "
            f"{time.perf_counter() - started:.1f} s (not timed)",
            flush=True,
        )
        print(f"load average before: {load()}", flush=True)

        if not args.ours_only:
            sink = Sink()
            floor_s = one_s = floor(sink.port, 1)
            busy = sink.busy(floor_s)
            floor_size = sum(len(raw) for raw in sink.received()) // count
            print(
                f"floor: smtplib loop, one connection: {count / floor_s:,.0f} messages/s "
                f"({floor_s:.2f} s, {floor_size:,} bytes each, {busy}; the issue's floor and"
                " the bench's old one is this loop)",
                flush=True,
            )

        reference: dict[int, bytes] = {}
        dirty = False
        if not (args.ours_only or args.no_reference):
            sink = Sink()
            channel_point(sink.port)
            ref_s = run_timed(lambda: dispatch_due(lanes=1, window=1), profile=False)
            received = sink.received()
            reference = by_row("reference", received, count)
            ref_size = check("reference", received, count, {})
            dirty = True
            print(
                f"reference: dispatch_due lanes 1 window 1: {count / ref_s:,.0f} messages/s "
                f"({ref_s:.2f} s, {ref_size:,} bytes each) = {floor_s / ref_s:.1%} of the floor",
                flush=True,
            )

        for workers in [int(n) for n in args.workers.split(",")]:
            if dirty:
                outbox_reset()
            if not args.ours_only:
                # The floor again right before: on a shared machine the load moves in minutes.
                sink = Sink()
                print(f"load average before floor and ours x{workers}: {load()}", flush=True)
                floor_s = floor(sink.port, connections)
                busy = sink.busy(floor_s)
                sink.received()
                print(
                    f"floor again, {connections} connection(s): {count / floor_s:,.0f} "
                    f"messages/s ({floor_s:.2f} s, {busy})",
                    flush=True,
                )
            sink = Sink()
            channel_point(sink.port)
            print(f"load average before ours x{workers}: {load()}", flush=True)
            progress = (lambda: sent_so_far(url)) if args.ours_only else None
            with LoadSampler(progress=progress) as sampler:
                if workers == 1:
                    ours_s = run_timed(
                        lambda: dispatch_due(lanes=args.lanes, window=args.window),
                        profile=args.profile,
                    )
                else:
                    ours_s = workers_run(workers, args.lanes, args.window)
            busy = sink.busy(ours_s)
            dirty = True
            label = f"ours x{workers}"
            if reference:
                size = check(label, sink.received(), count, reference)
            else:
                size = sink.ids_check(label, count)
            ratio = (
                ""
                if args.ours_only
                else f" = {floor_s / ours_s:.1%} of the floor ({one_s / ours_s:.1%} of the"
                " one-connection floor)"
            )
            print(
                f"ours: dispatch_due lanes {args.lanes} window {args.window}, {workers} "
                f"worker(s): {count / ours_s:,.0f} messages/s ({ours_s:.2f} s, {size:,} "
                f"bytes each, {busy}){ratio}; load during (min / mean / max) "
                f"{sampler.summary()}",
                flush=True,
            )
            print(
                f"checked: {count:,} messages received, one per row, each with its row's"
                f" Message-ID{', byte for byte the reference' if reference else ''}",
                flush=True,
            )
        print(f"load average after: {load()}")
    finally:
        if not args.keep:
            drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
