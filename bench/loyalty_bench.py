"""Loyalty benchmark: the checkout API's latency and the earning sweep's postings per second.

    .venv/bin/python bench/loyalty_bench.py                      # 1,000,000 members
    .venv/bin/python bench/loyalty_bench.py --members 20000      # quick check, about a minute

Recreates the database named by LIFELONG_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/lifelong_bench_loyalty; the name must contain "bench"
because it is dropped), migrates it and builds, inside PostgreSQL (INSERT ... SELECT over
generate_series, indexes and constraints rebuilt after the load), N members: customers,
2,000 products, the programme on (1 point per 100 roubles, 14 pending days, 12 months'
expiry, up to 50 % of an order in points) and per member one gift of 1,000-9,999 points as a
real ledger posting (transaction, released lot, two entries, cached balance).

1. Checkout latency through HTTP: `lifelong run` in production mode (waitress, 8 threads,
   PostgreSQL, no sweeps in the web process) is started as its own process; 8 client
   processes with keep-alive HTTP connections each run checkouts for distinct random members:
   quote a cart of 1-4 lines, reserve up to 500 of the points the quote allows, confirm
   (every fourth for less). Writes carry an Idempotency-Key, as a till would send. Then 8
   clients only quoting, then one client only quoting (no request queued before it). Prints
   p50/p95/p99 per operation after a warm-up that is not counted.
2. Bulk earning: an orders CSV (`--orders`, default members / 10; 1-3 lines, paid) goes
   through `lifelong import orders` (timed, not in the ratio), then:
   floor: hand-written SQL writes the same earn rows (transaction with its recorded lines,
          pending lot, four entries, the accounts' pending and status balances) for every
          order, set-based,
          in one transaction, keys `floor:earn:order:<id>`;
   ours:  the `loyalty.earn` sweep (`loyalty_earn()`) reads the import's events and posts
          the earns (`earn:order:<id>`).
   Prints postings (earn transactions) per second of each and ours / floor.

Then it checks itself: every checkout succeeded and each member's balance is the gift less
what was confirmed; each order's earn equals the floor's points; every pending balance is
twice its orders' points (floor and ours); `lifelong loyalty verify`'s checks pass. Exit
status 1 on any difference. Load average before and after. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import math
import multiprocessing
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/lifelong_bench_loyalty"
PRODUCTS = 2000
ORDER_HEADER = "Номер заказа;Клиент;Дата;Статус;Артикул;Товар;Количество;Цена;Сумма\n"
MAX_RESERVE = 500
WARMUP = 10  # checkouts per client before timing starts
SINGLE_QUOTES = 1000


def product_price(i: int) -> int:
    """Product i's price in whole roubles (the same formula as the SQL that makes them)."""
    return 99 + (i * 37) % 4900


def gift(customer_id: int) -> int:
    """The points each member starts with (the same formula as the SQL)."""
    return 1000 + (customer_id * 7919) % 9000


def print_load(when: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)")


def step(what: str, started: float) -> None:
    print(f"  {what}: {time.perf_counter() - started:.1f}s", flush=True)


# -- building the members, set-based -----------------------------------------------------------


def _fill(cursor: Any, table: str, given: dict[str, str]) -> tuple[str, str]:
    """Columns and expressions for an INSERT ... SELECT that names `given` and fills every other
    NOT NULL column without a default with its type's zero (other engineers add columns)."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL",
        [table],
    )
    zero = {"boolean": "false", "jsonb": "'{}'::jsonb", "json": "'{}'::json"}
    exprs = dict(given)
    for column, data_type in cursor.fetchall():
        if column in exprs or column == "id":
            continue
        if "timestamp" in data_type or data_type == "date":
            exprs[column] = "now()"
        elif data_type in zero:
            exprs[column] = zero[data_type]
        elif data_type in {"character varying", "text"}:
            exprs[column] = "''"
        else:
            exprs[column] = "0"
    return ", ".join(exprs), ", ".join(exprs.values())


def members_build(members: int) -> None:
    from django.db import connection
    from segments_bench import bare_table

    from lifelong import clock
    from lifelong.loyalty.ledger import _system_accounts
    from lifelong.loyalty.models import EarningRule, Programme, RuleKind

    now = clock.now()
    programme = Programme.current()
    programme.enabled = True
    programme.started_at = now.replace(year=now.year - 1)
    programme.save()
    EarningRule.objects.create(kind=RuleKind.PURCHASE, name="1 балл за 100 ₽")
    issued = _system_accounts()["issued"]
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        started = time.perf_counter()
        columns, values = _fill(
            cursor,
            "commerce_product",
            {
                "sku": "'SKU-' || lpad(g::text, 5, '0')",
                "name": "'Товар ' || g",
                "category": "'Категория ' || (g % 40)",
                "price": "99 + (g * 37) % 4900",
                "currency": "'RUB'",
                "active": "true",
            },
        )
        cursor.execute(
            f"INSERT INTO commerce_product ({columns}) SELECT {values}"
            f" FROM generate_series(0, {PRODUCTS - 1}) g"
        )
        columns, values = _fill(
            cursor,
            "customers_customer",
            {
                "external_id": "'C' || lpad(g::text, 7, '0')",
                "first_name": "'Анна'",
                "last_name": "'Иванова'",
                "email": "'c' || g || '@example.ru'",
                "phone": "'+7916' || lpad(g::text, 7, '0')",
                "language": "'ru'",
                "time_zone": "'Europe/Moscow'",
                "source": "'bench'",
                "created_at": "now() - interval '2 years'",
            },
        )
        with bare_table(cursor, "customers_customer"):
            cursor.execute(
                f"INSERT INTO customers_customer ({columns}) SELECT {values}"
                " FROM generate_series(1, %s) g",
                [members],
            )
        step(f"{members:,} customers, {PRODUCTS:,} products", started)

        # The gift: one award per member, as points_award would post it (released lot).
        started = time.perf_counter()
        with bare_table(cursor, "loyalty_account"):
            cursor.execute(
                "INSERT INTO loyalty_account (kind, customer_id, available, pending, held, status)"
                " SELECT 'customer', id, 1000 + (id * 7919) %% 9000, 0, 0, 0"
                " FROM customers_customer",
                [],
            )
        columns, values = _fill(
            cursor,
            "loyalty_transaction",
            {
                "key": "'bench:gift:' || c.id",
                "kind": "'award'",
                "customer_id": "c.id",
                "occurred_at": "now() - (c.id % 300) * interval '1 day'",
                "created_at": "now()",
            },
        )
        with bare_table(cursor, "loyalty_transaction"):
            cursor.execute(
                f"INSERT INTO loyalty_transaction ({columns}) SELECT {values}"
                " FROM customers_customer c ORDER BY c.id"
            )
        with bare_table(cursor, "loyalty_lot"):
            cursor.execute(
                "INSERT INTO loyalty_lot (customer_id, source_id, points, remaining,"
                " pending_until, released, expires_at)"
                " SELECT t.customer_id, t.id, 1000 + (t.customer_id * 7919) %% 9000,"
                " 1000 + (t.customer_id * 7919) %% 9000, NULL, true,"
                " t.occurred_at + interval '12 months'"
                " FROM loyalty_transaction t WHERE t.key LIKE 'bench:gift:%%'",
                [],
            )
        with bare_table(cursor, "loyalty_entry"):
            cursor.execute(
                "INSERT INTO loyalty_entry (transaction_id, account_id, bucket, points, lot_id)"
                " SELECT x.transaction_id, x.account_id, 1, x.points, x.lot_id FROM ("
                "  SELECT l.source_id AS transaction_id, a.id AS account_id, l.points,"
                "         l.id AS lot_id, 0 AS side"
                "  FROM loyalty_lot l JOIN loyalty_account a ON a.customer_id = l.customer_id"
                "  UNION ALL"
                "  SELECT l.source_id, %s, -l.points, NULL, 1 FROM loyalty_lot l"
                " ) x ORDER BY x.transaction_id, x.side",
                [issued],
            )
        step(f"{members:,} gifts: accounts, transactions, lots, entries", started)
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")
        step("VACUUM ANALYZE", started)


# -- the HTTP checkout clients (separate processes: no GIL shared with the server) --------------


def _client(
    port: int,
    secret: str,
    jobs: list[tuple[str, list[dict[str, Any]]]],
    barrier: Any,
    results: Any,
    quote_only: bool,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {
        "Host": "127.0.0.1",
        "Authorization": f"Bearer {secret}",
        "Content-Type": "application/json",
        # What nginx in front of the app says (deploy/nginx): the client used HTTPS.
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "127.0.0.2",
    }

    def call(path: str, body: dict[str, Any], key: bool) -> tuple[int, dict[str, Any], float]:
        sent = dict(headers, **({"Idempotency-Key": str(uuid.uuid4())} if key else {}))
        started = time.perf_counter()
        conn.request("POST", path, body=json.dumps(body), headers=sent)
        response = conn.getresponse()
        content = response.read()
        elapsed = time.perf_counter() - started
        try:
            data = json.loads(content)
        except ValueError:
            data = {"raw": content[:200].decode(errors="replace")}
        return response.status, data, elapsed

    times: dict[str, list[float]] = {"quote": [], "reserve": [], "confirm": []}
    outcome: list[tuple[str, int, int]] = []  # (member, points confirmed, hold id)
    errors: list[str] = []
    wall = time.perf_counter()
    for n, (member, lines) in enumerate(jobs):
        if n == WARMUP:
            barrier.wait()
            wall = time.perf_counter()
        timed = n >= WARMUP
        status, quote, elapsed = call(
            "/api/v1/loyalty/quote", {"customer_external_id": member, "lines": lines}, False
        )
        if timed:
            times["quote"].append(elapsed)
        if quote_only and status == 200:
            continue
        points = min(MAX_RESERVE, int(quote.get("max_burn", 0)))
        if status != 200 or points < 1:
            errors.append(f"quote {member}: {status} {quote}")
            continue
        order = f"B-{member}"
        status, hold, elapsed = call(
            "/api/v1/loyalty/holds",
            {"customer_external_id": member, "order_external_id": order, "points": points},
            True,
        )
        if timed:
            times["reserve"].append(elapsed)
        if status != 201:
            errors.append(f"reserve {member}: {status} {hold}")
            continue
        spend = points - points // 3 if n % 4 == 3 else points
        status, done, elapsed = call(
            f"/api/v1/loyalty/holds/{hold['id']}/confirm", {"points": spend}, True
        )
        if timed:
            times["confirm"].append(elapsed)
        if status != 200 or done.get("confirmed_points") != spend:
            errors.append(f"confirm {member}: {status} {done}")
            continue
        outcome.append((member, spend, hold["id"]))
    wall = time.perf_counter() - wall
    conn.close()
    results.put({"times": times, "outcome": outcome, "errors": errors, "wall": wall})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_start(db_url: str, var_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {
        **os.environ,
        "LIFELONG_PRODUCTION": "1",
        "LIFELONG_SECRET_KEY": secrets.token_urlsafe(50),
        "LIFELONG_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "LIFELONG_ALLOWED_HOSTS": "127.0.0.1",
        "LIFELONG_SITE_URL": "https://127.0.0.1",
        "LIFELONG_TRUSTED_PROXIES": "127.0.0.1",
        "LIFELONG_DATABASE_URL": db_url,
        "LIFELONG_VAR_DIR": str(var_dir),
        # The sweeps run elsewhere (Celery in production): none in the web process, so the
        # earning sweep below is the only one posting.
        "LIFELONG_SCHEDULER": "celery",
        "LIFELONG_LOG_LEVEL": "WARNING",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    lifelong = Path(sys.executable).parent / "lifelong"
    var_dir.mkdir(parents=True, exist_ok=True)
    log = (var_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [str(lifelong), "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped: see {var_dir / 'server.log'}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return process, port
        except OSError:
            pass
        time.sleep(0.3)
    process.terminate()
    log.close()
    tail = (var_dir / "server.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the server did not answer /healthz in 120 s:\n{tail}")


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _carts(numbers: list[int], clients: int, rnd: random.Random) -> list[list[Any]]:
    """Per client, its (member, cart lines) jobs."""
    jobs: list[list[tuple[str, list[dict[str, Any]]]]] = [[] for _ in range(clients)]
    for n, number in enumerate(numbers):
        lines = [
            {
                "sku": f"SKU-{sku:05d}",
                "quantity": rnd.choice((1, 1, 1, 2, 3)),
                "price": f"{product_price(sku)}.00",
            }
            for sku in rnd.sample(range(PRODUCTS), rnd.choice((1, 1, 2, 2, 3, 4)))
        ]
        jobs[n % clients].append((f"C{number:07d}", lines))
    return jobs


def _clients_run(port: int, secret: str, jobs: list[list[Any]], quote_only: bool) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(jobs)), ctx.Queue()
    workers = [
        ctx.Process(target=_client, args=(port, secret, job, barrier, results, quote_only))
        for job in jobs
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=3600) for _ in workers]
    for worker in workers:
        worker.join()
    return reports


def _latency_print(title: str, reports: list[Any], ops: tuple[str, ...]) -> float:
    """Print the table; returns the quotes' p95 in ms."""
    wall = max(r["wall"] for r in reports)
    print(f"{title} ({wall:.1f}s):")
    print(f"  {'':8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'requests/s':>11}")
    for op in ops:
        values = [t for r in reports for t in r["times"][op]]
        ms = [percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99, 1.0)]
        print(f"  {op:8} " + " ".join(f"{x:6.1f}ms" for x in ms) + f" {len(values) / wall:11.1f}")
    quote_p95 = percentile([t for r in reports for t in r["times"]["quote"]], 0.95) * 1000
    print(
        f"  quote p95 {quote_p95:.1f} ms: aim under 50 ms {'met' if quote_p95 < 50 else 'MISSED'}"
    )
    return quote_p95


def checkout_bench(
    db_url: str, var_dir: Path, members: int, checkouts: int, clients: int, rnd: random.Random
) -> tuple[dict[str, int], int]:
    """Run the clients; returns points confirmed per member external id, and the failures."""
    from lifelong.accounts.models import ApiScope
    from lifelong.accounts.services import api_key_create

    secret = api_key_create(name="bench till", scopes=[ApiScope.READ, ApiScope.LOYALTY])[1]
    per_client = checkouts // clients + WARMUP
    # Distinct members: each checks out once (an order has one open hold).
    checkout_jobs = _carts(rnd.sample(range(1, members + 1), per_client * clients), clients, rnd)
    quote_jobs = _carts(rnd.sample(range(1, members + 1), per_client * clients), clients, rnd)
    # One client: the time of one quote with no other request queued before it.
    single = min(SINGLE_QUOTES, checkouts) + WARMUP
    single_jobs = _carts(rnd.sample(range(1, members + 1), single), 1, rnd)
    process, port = _server_start(db_url, var_dir)
    try:
        reports = _clients_run(port, secret, checkout_jobs, quote_only=False)
        quotes = _clients_run(port, secret, quote_jobs, quote_only=True)
        alone = _clients_run(port, secret, single_jobs, quote_only=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    errors = [e for r in reports + quotes + alone for e in r["errors"]]
    for error in errors[:10]:
        print(f"  FAILED {error}")
    _latency_print(
        f"checkout through HTTP, {clients} clients each quoting, reserving and confirming, "
        f"{checkouts:,} checkouts after a warm-up of {WARMUP * clients}",
        reports,
        ("quote", "reserve", "confirm"),
    )
    _latency_print(
        f"quotes alone through HTTP, {clients} clients, {checkouts:,} quotes after a warm-up",
        quotes,
        ("quote",),
    )
    _latency_print(
        f"quotes through HTTP, one client, {single - WARMUP:,} quotes after a warm-up",
        alone,
        ("quote",),
    )
    confirmed = {member: spend for r in reports for member, spend, _hold in r["outcome"]}
    return confirmed, len(errors)


# -- bulk earning: import, floor, sweep -----------------------------------------------------------


def orders_write(path: Path, orders: int, members: int, rnd: random.Random) -> None:
    from lifelong import clock

    now = clock.now()
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(ORDER_HEADER)
        for n in range(orders):
            member = rnd.randrange(1, members + 1)
            placed = now - dt.timedelta(minutes=rnd.randrange(1, 10 * 24 * 60))
            lines = [
                (sku, rnd.choice((1, 1, 1, 2, 3)))
                for sku in rnd.sample(range(PRODUCTS), rnd.choice((1, 1, 2, 2, 3)))
            ]
            total = sum(product_price(sku) * q for sku, q in lines)
            head = f"Z{n:08d};C{member:07d};{placed:%d.%m.%Y %H:%M};оплачен"
            for sku, quantity in lines:
                out.write(
                    f"{head};SKU-{sku:05d};Товар {sku};{quantity};"
                    f"{product_price(sku)},00;{total},00\n"
                )


# The floor: what the sweep writes for the paid orders, in plain SQL over all of them at once.
FLOOR_SQL = (
    """
    CREATE TEMP TABLE floor_earn ON COMMIT DROP AS
    SELECT e.id AS event_id, o.id AS order_id, o.customer_id, e.occurred_at,
           floor(o.total / 100)::int AS points, a.id AS account_id,
           'floor:earn:order:' || o.id AS key,
           -- What the earn records of its lines per SKU (quantity, money, weighted money),
           -- for refunds by line; the floor writes it too.
           (SELECT jsonb_agg(jsonb_build_array(l.sku, l.q::text, l.money::text,
                                               l.money::text))
            FROM (SELECT sku, sum(quantity) AS q, sum(quantity * price) AS money
                  FROM commerce_orderline WHERE order_id = o.id GROUP BY sku) l) AS lines
    FROM events_event e
    JOIN commerce_order o ON o.id = (e.properties->>'order_id')::bigint
    JOIN loyalty_account a ON a.customer_id = o.customer_id
    WHERE e.type = 'order_paid' AND e.id > %(after)s
    """,
    """
    INSERT INTO loyalty_transaction ({columns})
    SELECT {values} FROM floor_earn f ORDER BY f.event_id
    """,
    """
    INSERT INTO loyalty_lot (customer_id, source_id, points, remaining, pending_until,
                             released, expires_at)
    SELECT f.customer_id, t.id, f.points, f.points, f.occurred_at + interval '14 days', false,
           f.occurred_at + interval '12 months'
    FROM floor_earn f JOIN loyalty_transaction t ON t.key = f.key
    WHERE f.points > 0
    """,
    """
    INSERT INTO loyalty_entry (transaction_id, account_id, bucket, points, lot_id)
    SELECT t.id, x.account_id, x.bucket, x.points, x.lot_id
    FROM floor_earn f JOIN loyalty_transaction t ON t.key = f.key
    JOIN loyalty_lot l ON l.source_id = t.id
    CROSS JOIN LATERAL (VALUES (f.account_id, 2, f.points, l.id),
                               (%(issued)s, 1, -f.points, NULL::bigint),
                               (f.account_id, 4, f.points, NULL::bigint),
                               (%(issued)s, 4, -f.points, NULL::bigint))
        AS x(account_id, bucket, points, lot_id)
    ORDER BY t.id
    """,
    """
    UPDATE loyalty_account a SET pending = a.pending + s.points, status = a.status + s.points
    FROM (SELECT account_id, sum(points) AS points FROM floor_earn GROUP BY account_id) s
    WHERE a.id = s.account_id
    """,
)


def _has_column(conn: psycopg.Connection[Any], table: str, column: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
        [table, column],
    ).fetchone()
    return found is not None


def floor_run(db_url: str, after: int, rule_id: int, issued: int) -> tuple[float, int]:
    with psycopg.connect(db_url) as conn:
        columns, values = _fill(
            conn.cursor(),
            "loyalty_transaction",
            {
                "key": "f.key",
                "kind": "'earn'",
                "customer_id": "f.customer_id",
                "occurred_at": "f.occurred_at",
                "created_at": "now()",
                "order_id": "f.order_id",
                "rule_id": str(rule_id),
                "event_id": "f.event_id",
            }
            | ({"lines": "f.lines"} if _has_column(conn, "loyalty_transaction", "lines") else {}),
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for sql in FLOOR_SQL:
                cursor.execute(
                    sql.format(columns=columns, values=values),
                    {"after": after, "issued": issued},
                )
            cursor.execute("SELECT count(*) FROM floor_earn")
            count = cursor.fetchone()[0]  # type: ignore[index]
        conn.commit()
        return time.perf_counter() - started, count


def earning_bench(db_url: str, workdir: Path, members: int, orders: int, rnd: random.Random) -> int:
    from django.db import connection
    from django.db.models import Max

    from lifelong.events.csv_import import import_file_cli
    from lifelong.events.models import Event
    from lifelong.loyalty.earning import cursor_start, loyalty_earn
    from lifelong.loyalty.ledger import _system_accounts
    from lifelong.loyalty.models import EarningRule, RuleKind, Transaction, TxKind

    path = workdir / "orders.csv"
    orders_write(path, orders, members, rnd)
    cursor_start()  # the sweep reads from here: the orders below
    after = Event.objects.aggregate(m=Max("pk"))["m"] or 0
    started = time.perf_counter()
    if import_file_cli(kind="orders", path=str(path), dry_run=False) != 0:
        print("FAILED: the orders import")
        return 1
    print(f"orders import: {orders:,} orders in {time.perf_counter() - started:.1f}s (not timed)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    rule = EarningRule.objects.get(kind=RuleKind.PURCHASE)
    floor, floor_count = floor_run(db_url, after, rule.pk, _system_accounts()["issued"])
    print(
        f"floor: {floor_count:,} earns (transaction, lot, 4 entries, balances) by hand-written "
        f"SQL in {floor:.2f}s = {floor_count / floor:,.0f} postings/s"
    )
    started = time.perf_counter()
    loyalty_earn()
    ours = time.perf_counter() - started
    count = Transaction.objects.filter(kind=TxKind.EARN, key__startswith="earn:order:").count()
    print(
        f"ours: loyalty.earn posted {count:,} earns in {ours:.2f}s = {count / ours:,.0f} postings/s"
    )
    ratio = (count / ours) / (floor_count / floor)
    aim = "met" if ratio >= 0.25 else "MISSED"
    print(f"ratio ours/floor: {ratio:.1%} (aim at least 25 %: {aim})")
    failures = 0
    if count != orders or floor_count != orders:
        print(f"FAILED: {orders:,} orders, {floor_count:,} floor earns, {count:,} ours")
        failures += 1
    # Each order's earn must be the floor's points; each member's pending twice their orders'.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
                SELECT t.order_id,
                    sum(CASE WHEN t.key LIKE 'floor:%%' THEN e.points ELSE 0 END) AS floor,
                    sum(CASE WHEN t.key LIKE 'earn:%%' THEN e.points ELSE 0 END) AS ours
                FROM loyalty_transaction t
                JOIN loyalty_entry e ON e.transaction_id = t.id AND e.bucket = 2
                WHERE t.kind = 'earn' GROUP BY t.order_id
            ) x WHERE floor <> ours
            """
        )
        differ = cursor.fetchone()[0]
        cursor.execute(
            """
            SELECT count(*) FROM loyalty_account a
            LEFT JOIN (SELECT customer_id, sum(floor(total / 100)) AS points
                       FROM commerce_order GROUP BY customer_id) o
                ON o.customer_id = a.customer_id
            WHERE a.kind = 'customer' AND a.pending <> 2 * COALESCE(o.points, 0)
            """
        )
        pending_off = cursor.fetchone()[0]
    if differ or pending_off:
        print(
            f"FAILED: {differ} orders earned other points than the floor's; "
            f"{pending_off} pending balances differ"
        )
        failures += 1
    return failures


# -- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, help="orders to import (default members / 10)")
    parser.add_argument("--checkouts", type=int, default=4000, help="timed checkouts (all clients)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    orders = args.orders if args.orders is not None else max(1, args.members // 10)

    db_url = os.environ.get("LIFELONG_DATABASE_URL") or DEFAULT_URL
    conninfo = psycopg.conninfo.conninfo_to_dict(db_url)
    name = str(conninfo.get("dbname", ""))
    if "bench" not in name:
        print(f"the database name must contain 'bench' (it is dropped): {name!r}", file=sys.stderr)
        return 2
    admin = psycopg.conninfo.make_conninfo("", **{**conninfo, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    workdir = Path(tempfile.mkdtemp(prefix="lifelong-loyalty-bench-"))
    os.environ["LIFELONG_DATABASE_URL"] = db_url
    os.environ["LIFELONG_VAR_DIR"] = str(workdir / "var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")
    print(f"$ {' '.join(sys.argv)}  ({args.members:,} members, database {name})")
    print_load("before")
    rnd = random.Random(args.seed)
    failures = 0
    try:
        import django
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        print(f"building {args.members:,} members:")
        members_build(args.members)
        step("all of the set-up", started)

        connections.close_all()
        confirmed, failed = checkout_bench(
            db_url, workdir / "var", args.members, args.checkouts, args.clients, rnd
        )
        failures += failed
        from lifelong.loyalty.models import Account, Hold, HoldStatus

        accounts = Account.objects.filter(customer__external_id__in=list(confirmed)).values_list(
            "customer__external_id", "customer_id", "available", "held"
        )
        wrong = [
            ext
            for ext, customer_id, available, held in accounts
            if available != gift(customer_id) - confirmed[ext] or held != 0
        ]
        holds = Hold.objects.filter(status=HoldStatus.CONFIRMED).count()
        if wrong or holds != len(confirmed) or len(accounts) != len(confirmed):
            print(f"FAILED: {len(wrong)} balances differ from gift - spent; {holds} holds")
            failures += 1

        failures += earning_bench(db_url, workdir, args.members, orders, rnd)

        from lifelong.loyalty.verify import ledger_verify

        started = time.perf_counter()
        report = ledger_verify()
        print(
            f"lifelong loyalty verify: {'consistent' if report.ok else 'MISMATCH'} "
            f"({time.perf_counter() - started:.1f}s)"
        )
        for line in report.lines():
            print(f"  {line}")
        failures += not report.ok
        print_load("after")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print(f"{failures} check(s) FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
