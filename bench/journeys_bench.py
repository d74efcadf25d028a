"""Journey engine benchmark: `advance_due` against a fair floor of the same writes.

    .venv/bin/python bench/journeys_bench.py                       # 100,000 enrollments
    .venv/bin/python bench/journeys_bench.py --enrollments 5000    # smoke run
    .venv/bin/python bench/journeys_bench.py --send                # + a send node (outbox row)
    .venv/bin/python bench/journeys_bench.py --enrollments 20000 --profile --workers 1
    .venv/bin/python bench/journeys_bench.py --enrollments 1000000 --send --workers 4

Recreates the database named by LIFELONG_DATABASE_URL (its name must contain "bench"; default
postgresql://postgres@127.0.0.1:5432/lifelong_bench_journeys; it must be PostgreSQL and is
dropped first) and migrates it. Set-up, not timed: N customers (a third of them in Kazan),
one active journey, N enrollments due now (each an `INSERT ... SELECT`, about a minute for a
million, as if a manual trigger had just enrolled everyone). The journey is a realistic
welcome chain, four steps per enrollment:

    tag "welcome" -> condition city = Kazan -> set attribute "offer" (two branches)
        [-> send a welcome email from a template (rendered, queued in the outbox), with --send]
        -> wait 1 day

Timed, each from the same starting rows (put back and the tables rewritten in between):
  old floor:  one raw `UPDATE journeys_enrollment` of the end positions only (context: no
              correct implementation can approach it, it writes none of the effects).
  fair floor: hand-written set-based SQL doing exactly the writes the product must do, in
              one transaction: the step records, the tag links, the attribute, the outbox
              rows (subject and text rendered in SQL), the new positions.
  ours x1:    `advance_due()` in this process until none is due (after `warm_up()`: what a
              long-running worker has done once, not timed).
  ours xN:    `advance_due()` in N worker processes at once (started and set up first,
              timed from the moment they are told to go). `--workers` lists the worker
              counts to run, 1,4 by default. Each warms up before it is told to go.

Each run is checked against the fair floor's rows (the reference): the same step records
(enrollment, node, visit, outcome), the same outbox rows (key, customer, subject, texts), the
same positions, tags and attributes. Prints enrollments/s for each, ours / fair floor, and
the load average before and after (and during ours: sampled, with progress every minute).
`--profile` runs ours x1 under cProfile and prints the top functions and statements.
`--keep` keeps the database. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import json
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
FIRST_NAMES = [
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Татьяна",
    "Ирина",
    "Светлана",
    "Екатерина",
    "Юлия",
    "Анастасия",
    "Дарья",
    "Марина",
    "Людмила",
    "Виктория",
    "Ксения",
    "Алина",
    "Галина",
    "Надежда",
    "Полина",
    "Александр",
    "Сергей",
    "Дмитрий",
    "Андрей",
    "Алексей",
    "Максим",
    "Евгений",
    "Иван",
    "Михаил",
    "Николай",
    "Владимир",
    "Артём",
    "Павел",
    "Роман",
    "Олег",
    "Игорь",
    "Денис",
    "Никита",
    "Константин",
    "Илья",
]
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


def insert_select(model: Any, chosen: dict[str, str], source: str, params: dict[str, Any]) -> int:
    """One `INSERT INTO model's table SELECT ... source`: the `chosen` columns as SQL, every
    other column its model default (a time as now(), a JSON default as JSON); returns rows."""
    from django.db import connection

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(f'"{field.column}"')
        if field.column in chosen:
            values.append(chosen[field.column])
            continue
        blank = None if field.null else ""
        default = field.get_default() if field.has_default() else blank
        if hasattr(default, "tzinfo"):
            values.append("now()")
            continue
        if isinstance(default, dict | list):
            default = json.dumps(default)
        params[f"d_{field.column}"] = default
        values.append(f"%(d_{field.column})s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({', '.join(columns)})"
            f" SELECT {', '.join(values)} {source}",
            params,
        )
        return int(cursor.rowcount)


def customers_insert(count: int) -> None:
    """`count` customers C0..C{count-1} in one statement (a third in each city), in id order.
    Nine in ten have one of forty common first names, the tenth a name of their own: the
    templates' grammar reads names, and real customers share a few hundred of them."""
    from lifelong.customers.models import Customer

    insert_select(
        Customer,
        {
            "external_id": "'C' || i",
            "first_name": "CASE WHEN mod(i, 10) = 9 THEN 'Гость' || i"
            " ELSE (%(names)s::text[])[mod(i, 40) + 1] END",
            "last_name": "'Иванова' || i",
            "email": "'c' || i || '@example.ru'",
            "attributes": "jsonb_build_object('city', (%(cities)s::text[])[mod(i, 3) + 1])",
            "source": "'bench'",
        },
        "FROM generate_series(0, %(last)s) AS i ORDER BY i",
        {"cities": list(CITIES), "names": list(FIRST_NAMES), "last": count - 1},
    )


def set_up(count: int, *, send: bool) -> int:
    """Customers, the journey and its due enrollments (set-based SQL); returns the journey id."""
    from django.db import connection

    from lifelong.customers.models import Channel, Purpose
    from lifelong.journeys.models import Enrollment, JourneyStatus
    from lifelong.journeys.services import journey_create, journey_status_set
    from lifelong.messaging.models import ChannelConfig, Template

    customers_insert(count)
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
    insert_select(
        Enrollment,
        {
            "journey_id": "%(journey)s",
            "version_id": "%(version)s",
            "customer_id": "c.id",
            "key": "'once'",
            "current_node": "'welcome_tag'",
            "next_run_at": "now()",
        },
        "FROM customers_customer c ORDER BY c.id",
        {"journey": journey.pk, "version": journey.current_version_id},
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return journey.pk


DUE = "journey_id = %(journey)s AND status = 'active' AND next_run_at <= now()"
KAZAN_SQL = "c.attributes->>'city' = %(kazan)s"


def old_floor(journey_id: int, count: int, *, send: bool) -> float:
    """The raw UPDATE that moves the same rows to where the engine leaves them (positions only)."""
    from django.db import connection, transaction

    visits = (
        '{"welcome_tag": 1, "is_kazan": 1, "offer_delivery": 1, '
        + ('"welcome_mail": 1, ' if send else "")
        + '"wait_day": 1}'
    )
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "UPDATE journeys_enrollment SET current_node = 'wait_day', visits = %(visits)s::jsonb,"
            " waiting = true, wait_started_at = now(), next_run_at = now() + interval '1 day'"
            f" WHERE {DUE}",
            {"visits": visits, "journey": journey_id},
        )
        elapsed = time.perf_counter() - started
        if cursor.rowcount != count:
            raise SystemExit(f"old floor updated {cursor.rowcount} rows, expected {count}")
    reset(journey_id)
    return elapsed


def fair_floor(journey_id: int, count: int, *, send: bool) -> float:
    """Hand-written set-based SQL writing exactly what the product writes, in one transaction."""
    from django.db import connection, transaction

    params: dict[str, object] = {"journey": journey_id, "kazan": KAZAN, "text": WELCOME_TEXT}
    mail_step = "('welcome_mail', 'queued on email')," if send else ""
    mail_visit = '"welcome_mail": 1, ' if send else ""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO customers_tag (name) VALUES ('welcome') ON CONFLICT DO NOTHING")
        cursor.execute(
            "INSERT INTO customers_customer_tags (customer_id, tag_id)"
            " SELECT e.customer_id, t.id FROM journeys_enrollment e"
            f" JOIN customers_tag t ON t.name = 'welcome' WHERE {DUE} ON CONFLICT DO NOTHING",
            params,
        )
        cursor.execute(
            "INSERT INTO journeys_steprun (enrollment_id, node_id, visit, ran_at, outcome, problem)"
            " SELECT e.id, s.node, 1, now(), s.outcome, false"
            " FROM journeys_enrollment e JOIN customers_customer c ON c.id = e.customer_id,"
            f" LATERAL (VALUES ('welcome_tag', 'tag add'),"
            f" ('is_kazan', CASE WHEN {KAZAN_SQL} THEN 'yes' ELSE 'no' END),"
            f" (CASE WHEN {KAZAN_SQL} THEN 'offer_pickup' ELSE 'offer_delivery' END,"
            f" 'attribute set'), {mail_step} ('wait_day', 'waiting')) AS s (node, outcome)"
            f" WHERE {DUE}",
            params,
        )
        if send:
            _floor_outbox(params)
        cursor.execute(
            "UPDATE customers_customer c SET attributes = c.attributes || jsonb_build_object("
            f"'offer', CASE WHEN {KAZAN_SQL} THEN 'pickup' ELSE 'delivery' END)"
            f" FROM journeys_enrollment e WHERE e.customer_id = c.id AND {DUE}",
            params,
        )
        cursor.execute(
            "UPDATE journeys_enrollment e SET current_node = 'wait_day', waiting = true,"
            " wait_started_at = now(), next_run_at = now() + interval '1 day',"
            ' visits = (\'{"welcome_tag": 1, "is_kazan": 1, "\' || CASE WHEN'
            f" {KAZAN_SQL} THEN 'offer_pickup' ELSE 'offer_delivery' END"
            f' || \'": 1, {mail_visit}"wait_day": 1}}\')::jsonb'
            f" FROM customers_customer c WHERE c.id = e.customer_id AND {DUE}",
            params,
        )
        if cursor.rowcount != count:
            raise SystemExit(f"fair floor moved {cursor.rowcount} rows, expected {count}")
    return time.perf_counter() - started


def _floor_outbox(params: dict[str, object]) -> None:
    """The outbox rows, rendered in SQL; columns the engine leaves at their defaults get them."""
    from lifelong.messaging.models import Message

    insert_select(
        Message,
        {
            "customer_id": "c.id",
            "dedupe_key": "'j' || e.id || ':welcome_mail:1'",
            "channel": "'email'",
            "purpose": "'transactional'",
            "template_id": "(SELECT id FROM messaging_template WHERE slug = 'welcome')",
            "subject": "c.first_name || ', добро пожаловать в наш магазин'",
            "body_text": "replace(%(text)s, '{{ customer.first_name }}', c.first_name)",
            "journey_id": "e.journey_id",
            "enrollment_id": "e.id",
            "node_id": "'welcome_mail'",
        },
        f"FROM journeys_enrollment e JOIN customers_customer c ON c.id = e.customer_id WHERE {DUE}",
        params,
    )


def reset(journey_id: int) -> None:
    """Every row back to where the set-up left it, and the written tables rewritten."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM journeys_steprun")
        cursor.execute("DELETE FROM messaging_message")
        cursor.execute("DELETE FROM customers_customer_tags")
        cursor.execute("UPDATE customers_customer SET attributes = attributes - 'offer'")
        cursor.execute(
            "UPDATE journeys_enrollment SET status = 'active', current_node = 'welcome_tag',"
            " visits = '{}', waiting = false, wait_started_at = NULL, waiting_for = '',"
            " next_run_at = now(), ended_at = NULL, exit_reason = '' WHERE journey_id = %s",
            [journey_id],
        )
        for table in (
            "journeys_steprun",
            "messaging_message",
            "customers_customer_tags",
            "customers_customer",
            "journeys_enrollment",
        ):
            cursor.execute(f"VACUUM FULL ANALYZE {table}")


def digest() -> dict[str, str]:
    """What a run wrote, as digests that leave out times: the reference comparison."""
    from django.db import connection

    queries = {
        "steps": "SELECT md5(string_agg(concat_ws(':', enrollment_id, node_id, visit, outcome,"
        " problem), '|' ORDER BY enrollment_id, node_id, visit)) FROM journeys_steprun",
        "outbox": "SELECT md5(string_agg(concat_ws(':', dedupe_key, customer_id, channel,"
        " purpose, template_id, subject, body_text, body_html, payload::text, status,"
        " journey_id, enrollment_id, node_id), '|' ORDER BY dedupe_key)) FROM messaging_message",
        "positions": "SELECT md5(string_agg(concat_ws(':', id, status, current_node,"
        " visits::text, waiting, next_run_at - wait_started_at, exit_reason), '|'"
        " ORDER BY id)) FROM journeys_enrollment",
        "customers": "SELECT md5(string_agg(concat_ws(':', c.id, c.attributes::text,"
        " (SELECT string_agg(tag_id::text, ',' ORDER BY tag_id) FROM customers_customer_tags"
        " WHERE customer_id = c.id)), '|' ORDER BY c.id)) FROM customers_customer c",
    }
    with connection.cursor() as cursor:
        result = {}
        for name, sql in queries.items():
            cursor.execute(sql)
            result[name] = cursor.fetchone()[0] or ""
    return result


def compare(reference: dict[str, str], name: str) -> None:
    differ = [key for key, value in digest().items() if reference[key] != value]
    if differ:
        raise SystemExit(f"{name}: differs from the fair floor's rows in {', '.join(differ)}")


def workers_run(url: str, count: int) -> float:
    """`count` worker processes, each set up first, then told to go at once; seconds to done."""
    import subprocess

    env = {**os.environ, "LIFELONG_DATABASE_URL": url}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("a worker failed to start")
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.communicate()
        if proc.returncode:
            raise SystemExit("a worker failed")
    return time.perf_counter() - started


def warm_up() -> None:
    """What a long-running worker has done once before any batch, and a process started for
    the bench has not: the modules imported, the URL patterns resolved, the morphology
    dictionary loaded, the template compiled, the heap settled (jobs/heap.py). It renders the
    welcome message for the first customer and stores nothing (about 1.5 s, which a
    10,000-enrollment run would otherwise count against us)."""
    from lifelong.customers.models import Customer
    from lifelong.jobs.heap import heap_settle
    from lifelong.journeys.engine import advance_due  # noqa: F401 (imports the node kinds)
    from lifelong.messaging.models import SendingPolicy, Template
    from lifelong.messaging.outbox import Outgoing, messages_build

    template = Template.objects.filter(slug="welcome").first()
    customer = Customer.objects.order_by("pk").first()
    if template is not None and customer is not None:
        item = Outgoing(customer=customer, dedupe_key="warm-up", channel=template.channel)
        messages_build(
            [item],
            template=template,
            purpose=template.purpose,
            policy=SendingPolicy.current(),
            journey_id=None,
            node_id="",
        )
    heap_settle()


def worker() -> int:
    """One worker process: set up and warm, say so, wait for the word, advance everything due."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")
    import django

    django.setup()
    from lifelong.journeys.engine import advance_due

    warm_up()
    print("ready", flush=True)
    sys.stdin.readline()
    advance_due()
    return 0


class LoadSampler:
    """The 1-minute load average every `every` seconds while a run lasts, printed with
    `progress()` (if given) each minute; `summary()` gives min / mean / max."""

    def __init__(self, every: float = 10.0, progress: Callable[[], str] | None = None) -> None:
        import threading

        self.samples: list[float] = []
        self.every, self.progress = every, progress
        self.started = time.perf_counter()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoadSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _run(self) -> None:
        printed = time.perf_counter()
        while not self.done.wait(self.every):
            self.samples.append(os.getloadavg()[0])
            if time.perf_counter() - printed >= 60:
                printed = time.perf_counter()
                extra = f", {self.progress()}" if self.progress else ""
                print(
                    f"  {printed - self.started:6.0f} s: load {self.samples[-1]:.2f}{extra}",
                    flush=True,
                )

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        mean = sum(self.samples) / len(self.samples)
        return f"{min(self.samples):.1f} / {mean:.1f} / {max(self.samples):.1f}"


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
    rendered = Message.objects.filter(subject__endswith=", добро пожаловать в наш магазин")
    if send and rendered.exclude(subject__startswith="{").count() != count:
        problems.append(f"{Message.objects.count():,} outbox rows, expected {count:,}")
    if problems:
        raise SystemExit("check failed: " + "; ".join(problems))
    return steps


def report(name: str, seconds: float, count: int, fair_s: float | None) -> None:
    ratio = f" {fair_s / seconds:8.1%} of the fair floor" if fair_s else ""
    print(f"{name:42} {seconds:8.2f} s {count / seconds:12,.0f} enrollments/s{ratio}", flush=True)


def still_due(url: str, journey_id: int) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM journeys_enrollment WHERE NOT waiting AND journey_id = %s",
            [journey_id],
        ).fetchone()
    return f"{row[0] if row else 0:,} not yet waiting"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--send", action="store_true", help="add a send node (outbox row)")
    parser.add_argument(
        "--workers", default="1,4", help="worker counts to run ours with (1 runs in this process)"
    )
    parser.add_argument("--profile", action="store_true", help="run ours x1 under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()

    url = bench_database_url(DEFAULT_URL)
    if url is None:
        return 2
    os.environ["LIFELONG_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")
    recreate_database(url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

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
        reset(journey_id)
        old_s = old_floor(journey_id, count, send=args.send)
        report("old floor (positions only)", old_s, count, None)
        fair_s = fair_floor(journey_id, count, send=args.send)
        report("fair floor (every write, set-based SQL)", fair_s, count, None)
        reference = digest()
        check(count, send=args.send)
        from lifelong.journeys.engine import advance_due

        for workers in [int(n) for n in args.workers.split(",")]:
            reset(journey_id)
            print(f"load average before ours x{workers}: {load()}", flush=True)
            with LoadSampler(progress=lambda: still_due(url, journey_id)) as sampler:
                if workers == 1:
                    warm_up()
                    ours_s = run_timed(advance_due, profile=args.profile)
                else:
                    connections.close_all()
                    ours_s = workers_run(url, workers)
            check(count, send=args.send)
            compare(reference, f"ours x{workers}")
            report(f"ours, {workers} worker(s)", ours_s, count, fair_s)
            print(f"  load during (min / mean / max): {sampler.summary()}", flush=True)
        print("checked: step records, outbox rows, positions, tags and attributes as the floor's")
        print(f"load average after: {load()}")
    finally:
        if not args.keep:
            drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
