"""Dispatch benchmark: `dispatch_due` over SMTP against a bare smtplib loop, same local sink.

    .venv/bin/python bench/dispatch_bench.py                     # 20,000 messages
    .venv/bin/python bench/dispatch_bench.py --messages 2000     # smoke run

Recreates the database named by LIFELONG_DATABASE_URL (its name must contain "bench"; default
postgresql://postgres@127.0.0.1:5432/lifelong_bench_dispatch; it must be PostgreSQL and is
dropped first) and migrates it. Starts an SMTP sink (aiosmtpd, in this process, on a free
port of 127.0.0.1) that records every message's Message-ID. Set-up, not timed: M customers
with email addresses and M queued transactional emails (an order confirmation in Russian,
about 1 KB of text; bulk_create), and the email channel set up with the "smtp" transport
pointing at the sink (no TLS, no login, no DKIM).

Timed:
  floor: one smtplib connection, a plain loop of `sendmail` over the same M messages
         (the same addresses, subjects and texts, MIME-encoded the same way: base64 UTF-8).
  ours:  `lifelong.messaging.dispatch.dispatch_due()` until nothing is due: claims batches,
         applies the gates, composes with the email package, sends over one connection per
         batch, records each message as sent with a `message_sent` event.

Prints messages/s for both and ours / floor, the average size the sink received from each,
and checks that the sink got exactly M messages from each with M distinct Message-IDs, and
that ours are exactly the outbox rows marked sent. `--profile` runs ours under cProfile
(top 15) and prints the database time by statement. `--keep` keeps the database. Not
part of the test suite.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import smtplib
import socket
import sys
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
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
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
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


class Sink:
    """aiosmtpd handler: remembers the Message-ID and size of everything it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, int]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        head = content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        self.received.append((found.group(1) if found else b"", len(content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def set_up(count: int, port: int) -> None:
    from django.db import connection

    from lifelong import clock
    from lifelong.customers.models import Channel, Customer, Purpose
    from lifelong.messaging.models import ChannelConfig, Message, SendingPolicy

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
    ChannelConfig.objects.create(
        channel=Channel.EMAIL,
        transport="smtp",
        config={
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_email": FROM_EMAIL,
            "from_name": "Кофейня на углу",
        },
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
                f"Message-ID: <floor-{pk}@example.ru>\r\n"
                f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
                f"From: =?utf-8?b?{base64.b64encode('Кофейня на углу'.encode()).decode()}?="
                f" <{FROM_EMAIL}>\r\n"
                f"To: {to}\r\n"
                f"Subject: =?utf-8?b?{base64.b64encode(subject.encode()).decode()}?=\r\n"
                'Content-Type: text/plain; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: base64\r\n"
                "MIME-Version: 1.0\r\n\r\n"
            )
            smtp.sendmail(FROM_EMAIL, [to], head.encode() + body)
    return time.perf_counter() - started


def check(label: str, received: list[tuple[bytes, int]], count: int) -> float:
    """Exactly `count` messages with distinct Message-IDs; returns their average size."""
    distinct = len({mid for mid, _size in received if mid})
    if len(received) != count or distinct != count:
        raise SystemExit(
            f"{label}: the sink received {len(received):,} messages with {distinct:,} distinct "
            f"Message-IDs, expected {count:,}"
        )
    return sum(size for _mid, size in received) / count


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
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
    from lifelong.messaging.models import Message, Status

    call_command("migrate", verbosity=0)
    count = args.messages
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), ready_timeout=30)
    controller.start()
    try:
        started = time.perf_counter()
        set_up(count, controller.port)
        print(
            f"set-up: {count:,} customers and queued emails in "
            f"{time.perf_counter() - started:.1f} s (not timed)",
            flush=True,
        )
        print(f"load average before: {load()}", flush=True)
        floor_s = floor(controller.port)
        floor_size = check("floor", sink.received, count)
        print(
            f"floor: smtplib loop, {count:,} messages in {floor_s:.2f} s = "
            f"{count / floor_s:,.0f} messages/s (average {floor_size:,.0f} bytes)",
            flush=True,
        )
        sink.received.clear()
        ours_s = run_timed(dispatch_due, profile=args.profile)
        ours_size = check("ours", sink.received, count)
        sent_ids = set(
            Message.objects.filter(status=Status.SENT).values_list("provider_id", flat=True)
        )
        if sent_ids != {mid.decode() for mid, _size in sink.received}:
            raise SystemExit(
                f"ours: {len(sent_ids):,} rows marked sent do not match the sink's Message-IDs"
            )
        print(
            f"ours:  dispatch_due, {count:,} messages in {ours_s:.2f} s = "
            f"{count / ours_s:,.0f} messages/s (average {ours_size:,.0f} bytes)",
            flush=True,
        )
        print(f"ours / floor: {floor_s / ours_s:.2%}")
        print(f"load average after: {load()}")
    finally:
        controller.stop()
        if not args.keep:
            drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
