"""Journey engine benchmark: `advance_due` against a raw SQL UPDATE of the same rows.

    .venv/bin/python bench/journeys_bench.py                       # 100,000 enrollments
    .venv/bin/python bench/journeys_bench.py --enrollments 5000    # smoke run
    .venv/bin/python bench/journeys_bench.py --send                # + a send node (outbox row)
    .venv/bin/python bench/journeys_bench.py --enrollments 20000 --profile

Recreates the database named by LIFELONG_DATABASE_URL (its name must contain "bench"; default
postgresql://postgres@127.0.0.1:5432/lifelong_bench_journeys; it must be PostgreSQL and is
dropped first) and migrates it. Set-up, not timed: N customers (a third of them in Kazan),
one active journey, N enrollments due now (bulk_create, as if a manual trigger had just
enrolled everyone). The journey is a realistic welcome chain, four steps per enrollment:

    tag "welcome" -> condition city = Kazan -> set attribute "offer" (two branches)
        [-> send a welcome email from a template (rendered, queued in the outbox), with --send]
        -> wait 1 day

Timed:
  floor: one raw `UPDATE journeys_enrollment SET current_node, visits, waiting,
         wait_started_at, next_run_at WHERE <due>` over the same N rows, i.e. the end
         position the engine writes, without its step records and effects. The rows are
         then put back and the table rewritten (VACUUM FULL) before ours runs.
  ours:  `lifelong.journeys.engine.advance_due()` until none is due; steps = StepRun rows.

Prints steps/s, enrollments/s, the floor's rows/s and ours / floor (enrollments against
rows), the load average before and after, and checks every enrollment ended up waiting at
the last node with one step record per node. `--profile` runs ours under cProfile and
prints the top 15 functions. `--keep` keeps the database. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/lifelong_bench_journeys"
KAZAN = "Казань"
CITIES = ("Москва", KAZAN, "Тверь")
WELCOME_TEXT = """{{ customer.first_name }}, здравствуйте!

Спасибо, что вы с нами. Мы подготовили для вас подборку новинок сезона и бесплатную
доставку первого заказа от 2 000 ₽. Если будут вопросы, просто ответьте на это письмо.

С уважением, команда магазина"""


def definition(*, send: bool) -> dict[str, object]:
    after_offer = "welcome_mail" if send else "wait_day"
    nodes: list[dict[str, object]] = [
        {"id": "welcome_tag", "type": "tag", "action": "add", "tag": "welcome",
         "next": "is_kazan"},
        {
            "id": "is_kazan",
            "type": "condition",
            "rule": {"op": "and", "rules": [
                {"kind": "attribute", "key": "city", "op": "eq", "value": KAZAN}]},
            "yes": "offer_pickup",
            "no": "offer_delivery",
        },
        {"id": "offer_pickup", "type": "attribute", "key": "offer", "value": "pickup",
         "next": after_offer},
        {"id": "offer_delivery", "type": "attribute", "key": "offer", "value": "delivery",
         "next": after_offer},
        {"id": "wait_day", "type": "wait", "days": 1},
    ]  # fmt: skip
    if send:
        nodes.append(
            {"id": "welcome_mail", "type": "send", "template": "welcome", "next": "wait_day"}
        )
    return {"trigger": {"kind": "manual"}, "start": "welcome_tag", "nodes": nodes}


def bench_database_url(default: str) -> str | None:
    """LIFELONG_DATABASE_URL, or `default` when unset; None (having said why) unless it names
    a PostgreSQL database with "bench" in its name, since the bench drops and recreates it.
    """
    url = os.environ.get("LIFELONG_DATABASE_URL") or default
    name = psycopg.conninfo.conninfo_to_dict(url).get("dbname", "") if "://" in url else ""
    if not url.startswith("postgres") or "bench" not in str(name):
        print(
            f"LIFELONG_DATABASE_URL must name a PostgreSQL database with 'bench' in its name"
            f" (it is dropped and recreated), e.g. {default}",
            file=sys.stderr,
        )
        return None
    return url


def recreate_database(url: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = info["dbname"]
    admin = psycopg.conninfo.make_conninfo("", **{**info, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    from django.db import connections

    connections.close_all()
    info = psycopg.conninfo.conninfo_to_dict(url)
    admin = psycopg.conninfo.make_conninfo("", **{**info, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{info["dbname"]}"')


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def set_up(count: int, *, send: bool) -> int:
    """Customers, the journey and its due enrollments; returns the journey id."""
    from django.db import connection

    from lifelong import clock
    from lifelong.customers.models import Channel, Customer, Purpose
    from lifelong.journeys.models import Enrollment, JourneyStatus
    from lifelong.journeys.services import journey_create, journey_status_set
    from lifelong.messaging.models import ChannelConfig, Template

    Customer.objects.bulk_create(
        (
            Customer(
                external_id=f"C{i}",
                first_name="Анна",
                last_name=f"Иванова{i}",
                email=f"c{i}@example.ru",
                attributes={"city": CITIES[i % 3]},
                source="bench",
            )
            for i in range(count)
        ),
        batch_size=5000,
    )
    if send:
        ChannelConfig.objects.create(channel=Channel.EMAIL, transport="sandbox")
        Template.objects.create(
            slug="welcome",
            name="Добро пожаловать",
            channel=Channel.EMAIL,
            purpose=Purpose.TRANSACTIONAL,
            subject="{{ customer.first_name }}, добро пожаловать в наш магазин",
            body_text=WELCOME_TEXT,
        )
    journey = journey_create(
        name="Добро пожаловать", slug="welcome", definition=definition(send=send)
    )
    journey.refresh_from_db()  # journey_create saved the version through another instance
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    now = clock.now()
    Enrollment.objects.bulk_create(
        (
            Enrollment(
                journey_id=journey.pk,
                version_id=journey.current_version_id,
                customer_id=pk,
                key="once",
                current_node="welcome_tag",
                next_run_at=now,
                entered_at=now,
            )
            for pk in Customer.objects.order_by("pk").values_list("pk", flat=True).iterator()
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return journey.pk


def floor(journey_id: int, count: int, *, send: bool) -> float:
    """The raw UPDATE that moves the same rows to where the engine leaves them."""
    from django.db import connection

    visits = (
        '{"welcome_tag": 1, "is_kazan": 1, "offer_delivery": 1, '
        + ('"welcome_mail": 1, ' if send else "")
        + '"wait_day": 1}'
    )
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            """
            UPDATE journeys_enrollment
            SET current_node = 'wait_day', visits = %s::jsonb, waiting = true,
                wait_started_at = now(), next_run_at = now() + interval '1 day'
            WHERE journey_id = %s AND status = 'active' AND next_run_at <= now()
            """,
            [visits, journey_id],
        )
        elapsed = time.perf_counter() - started
        if cursor.rowcount != count:
            raise SystemExit(f"floor updated {cursor.rowcount} rows, expected {count}")
        # Back to the start, and a rewritten table, so ours finds what the floor found.
        cursor.execute(
            "UPDATE journeys_enrollment SET current_node = 'welcome_tag', visits = '{}',"
            " waiting = false, wait_started_at = NULL, next_run_at = now()"
            " WHERE journey_id = %s",
            [journey_id],
        )
        cursor.execute("VACUUM FULL ANALYZE journeys_enrollment")
    return elapsed


class StatementTimer:
    """Database time by statement shape (the SQL up to its first parameter or VALUES)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql = re.sub(r'"s\d+_x\d+"', '"s…"', sql)
            shape = re.split(r"%s|\bVALUES\b|\bCASE\b", " ".join(sql.split()), maxsplit=1)[0]
            self.seconds[shape[:110]] += time.perf_counter() - started
            self.calls[shape[:110]] += 1

    def report(self, total: float) -> None:
        print(f"\nSQL time by statement ({sum(self.seconds.values()):.2f} s of {total:.2f} s):")
        for shape, seconds in sorted(self.seconds.items(), key=lambda kv: -kv[1])[:15]:
            print(f"{seconds:8.2f} s {self.calls[shape]:8,}x  {shape}")


def run_timed(func: Callable[[], object], *, profile: bool) -> float:
    """Seconds `func` takes; with `profile`, under cProfile and a statement timer (both print)."""
    from django.db import connection

    if not profile:
        started = time.perf_counter()
        func()
        return time.perf_counter() - started
    profiler, timer = cProfile.Profile(), StatementTimer()
    with connection.execute_wrapper(timer):
        started = time.perf_counter()
        profiler.enable()
        func()
        profiler.disable()
        elapsed = time.perf_counter() - started
    for order in ("tottime", "cumulative"):
        print(f"\ncProfile, top 15 by {order}:")
        pstats.Stats(profiler).sort_stats(order).print_stats(15)
    timer.report(elapsed)
    return elapsed


def check(count: int, *, send: bool) -> int:
    """Every enrollment waits at the last node with one step per node; returns the steps."""
    from lifelong.customers.models import Customer
    from lifelong.journeys.models import Enrollment, StepRun
    from lifelong.messaging.models import Message

    per_enrollment = 5 if send else 4
    steps = StepRun.objects.count()
    waiting = Enrollment.objects.filter(current_node="wait_day", waiting=True).count()
    failed = Enrollment.objects.exclude(exit_reason="").count()
    tagged = Customer.objects.filter(tags__name="welcome").count()
    pickup = Customer.objects.filter(attributes__offer="pickup").count()
    problems = []
    if steps != per_enrollment * count:
        problems.append(f"{steps:,} step records, expected {per_enrollment * count:,}")
    if waiting != count or failed:
        problems.append(f"{waiting:,} waiting at the last node, {failed:,} failed")
    if tagged != count or pickup != len(range(1, count, 3)):
        problems.append(f"{tagged:,} tagged, {pickup:,} with the pickup offer")
    if send and Message.objects.filter(subject__startswith="Анна, ").count() != count:
        problems.append(f"{Message.objects.count():,} outbox rows, expected {count:,}")
    if problems:
        raise SystemExit("check failed: " + "; ".join(problems))
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--send", action="store_true", help="add a send node (outbox row)")
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

    call_command("migrate", verbosity=0)
    count = args.enrollments
    try:
        started = time.perf_counter()
        journey_id = set_up(count, send=args.send)
        print(
            f"set-up: {count:,} customers and enrollments in "
            f"{time.perf_counter() - started:.1f} s (not timed); "
            f"chain: tag, condition, attribute, {'send, ' if args.send else ''}wait",
            flush=True,
        )
        print(f"load average before: {load()}", flush=True)
        floor_s = floor(journey_id, count, send=args.send)
        print(
            f"floor: raw UPDATE of {count:,} rows in {floor_s:.2f} s = "
            f"{count / floor_s:,.0f} rows/s",
            flush=True,
        )
        from lifelong.journeys.engine import advance_due

        ours_s = run_timed(advance_due, profile=args.profile)
        steps = check(count, send=args.send)
        print(
            f"ours:  advance_due, {count:,} enrollments, {steps:,} steps in {ours_s:.2f} s = "
            f"{steps / ours_s:,.0f} steps/s, {count / ours_s:,.0f} enrollments/s",
            flush=True,
        )
        print(f"ours / floor (enrollments/s against rows/s): {floor_s / ours_s:.2%}")
        print(f"load average after: {load()}")
    finally:
        if not args.keep:
            drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
