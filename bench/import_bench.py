"""CSV import benchmark: our orders import against its fair floor, measured in the same run.

    LIFELONG_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/import_bench.py --rows 1000000

It creates (and afterwards drops) its own databases on that server: the one the URL names, or
`lifelong_bench` when the URL names `postgres` (so that two people can bench at once), plus
two copies of it suffixed `_floor` and `_floor2`. It writes a realistic shop export (one row
per order line, ~2.5 lines per order, customers = rows / 5, Russian headers, `;`, decimal
commas, dd.mm.yyyy dates), imports the customers and products (timed, not in the ratio),
copies the database and measures:

  fair floor: hand-written set-based SQL doing exactly the writes the import must do (the
         orders, lines and events into the real tables, with their indexes and foreign keys,
         and the customers' summaries), in one transaction, on a copy; run before and after
         ours, and the faster of the two counts;
  old floor: COPY of the file into an unindexed table of text columns (context only: no
         correct import can approach it);
  ours:  `lifelong import orders FILE` (import_file_cli).

It prints rows/s for each and ours / fair floor, checks that both wrote the same rows (orders,
lines, events, summaries), times a re-import of the same file, and prints the load average
before and after (the machine may be shared: compare ratios within one run). Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "lifelong_bench"

ORDER_HEADER = "Номер заказа;Клиент;Дата;Статус;Артикул;Товар;Количество;Цена;Сумма\n"
STATUSES = ["оплачен"] * 6 + ["доставлен"] * 3 + ["отменен"]
FIRST = ["Анна", "Ольга", "Мария", "Иван", "Пётр", "Сергей", "Елена", "Дмитрий"]
LAST = ["Иванова", "Петрова", "Смирнова", "Кузнецов", "Попов", "Соколов", "Лебедева"]


def money(value: int) -> str:
    """Kopecks as '1 234,50'."""
    rubles, kopecks = divmod(value, 100)
    return f"{rubles:,}".replace(",", "\u00a0") + f",{kopecks:02d}"


def write_files(directory: Path, rows: int, seed: int) -> tuple[Path, Path, Path, int]:
    rnd = random.Random(seed)
    customers = max(1, rows // 5)
    products = 2000
    customers_path = directory / "customers.csv"
    with customers_path.open("w", encoding="utf-8", newline="") as out:
        out.write("Код клиента;Фамилия;Имя;Телефон;Email;Пол;Дата рождения\n")
        for i in range(customers):
            birthday = dt.date(1960, 1, 1) + dt.timedelta(days=rnd.randrange(16000))
            out.write(
                f"C{i:07d};{rnd.choice(LAST)};{rnd.choice(FIRST)};+7916{i:07d};"
                f"c{i}@example.ru;{rnd.choice('мж')};{birthday:%d.%m.%Y}\n"
            )
    products_path = directory / "products.csv"
    prices = [rnd.randrange(9_900, 500_000) for _ in range(products)]
    with products_path.open("w", encoding="utf-8", newline="") as out:
        out.write("Артикул;Название;Категория;Цена\n")
        for i, price in enumerate(prices):
            out.write(f"SKU-{i:05d};Товар {i};Категория {i % 40};{money(price)}\n")
    orders_path = directory / "orders.csv"
    start = dt.datetime(2022, 1, 1)
    written = order_no = 0
    with orders_path.open("w", encoding="utf-8", newline="") as out:
        out.write(ORDER_HEADER)
        while written < rows:
            order_no += 1
            n_lines = min(rows - written, rnd.choice((1, 1, 2, 2, 3, 3, 4, 5)))
            lines = []
            for _ in range(n_lines):
                sku = rnd.randrange(products)
                lines.append((sku, rnd.choice((1, 1, 1, 2, 3)), prices[sku]))
            total = sum(q * p for _, q, p in lines)
            placed = start + dt.timedelta(minutes=rnd.randrange(3 * 365 * 24 * 60))
            head = (
                f"Z{order_no:08d};C{rnd.randrange(customers):07d};{placed:%d.%m.%Y %H:%M};"
                f"{rnd.choice(STATUSES)}"
            )
            for sku, quantity, price in lines:
                out.write(
                    f"{head};SKU-{sku:05d};Товар {sku};{quantity};{money(price)};{money(total)}\n"
                )
            written += n_lines
    return customers_path, products_path, orders_path, order_no


def admin_execute(server_url: str, sql: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql)


def copy_floor(db_url: str, orders_path: Path) -> float:
    """The old floor: COPY of the file into an unindexed table of text columns."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_staging (order_id text, customer text,"
            " placed text, status text, sku text, name text, quantity text, price text, total text)"
        )
        conn.execute("TRUNCATE bench_staging")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            copy_sql = "COPY bench_staging FROM STDIN (FORMAT csv, DELIMITER ';', HEADER true)"
            with cur.copy(copy_sql) as copy, orders_path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_staging")
        conn.commit()
    return elapsed


# The fair floor: hand-written set-based SQL doing exactly the writes the import must do
# for this file (orders, their lines, the events with order_upsert's keys and properties,
# the customers' summaries) into the real tables, with their indexes and foreign keys, in
# one transaction. It parses in SQL and checks nothing: no validation, no idempotency
# (every order is new), no staging of checked values.
_AMOUNT = "translate({}, ',' || chr(160) || ' ', '.')::numeric(14, 2)"
FAIR_FLOOR_SQL = (
    """
CREATE TEMPORARY TABLE raw (n bigserial, order_no text, customer text, placed text,
    status text, sku text, name text, quantity text, price text, total text)
""",
    """
CREATE TEMPORARY TABLE new_orders AS
SELECT DISTINCT ON (r.order_no) r.n, r.order_no, COALESCE(c.merged_into_id, c.id) AS customer_id,
    to_timestamp(r.placed, 'DD.MM.YYYY HH24:MI')::timestamp AT TIME ZONE %(tz)s::text AS placed_at,
    CASE r.status WHEN 'оплачен' THEN 'paid' WHEN 'доставлен' THEN 'delivered'
        WHEN 'отменен' THEN 'cancelled' ELSE 'placed' END AS status,
    """
    + _AMOUNT.format("r.total")
    + """ AS total,
    nextval(pg_get_serial_sequence('commerce_order', 'id')) AS id
FROM raw r JOIN customers_customer c ON c.external_id = r.customer
ORDER BY r.order_no, r.n
""",
    """
INSERT INTO commerce_order (id, external_id, customer_id, status, placed_at, total, currency,
    refunded_total, discount, coupon, channel, created_at, updated_at)
SELECT id, order_no, customer_id, status, placed_at, total, %(currency)s::text, 0, 0, '', '',
    %(now)s::timestamptz, %(now)s::timestamptz
FROM new_orders ORDER BY n
""",
    """
INSERT INTO commerce_orderline (order_id, product_id, sku, name, quantity, price)
SELECT o.id, p.id, r.sku, r.name, r.quantity::integer, """
    + _AMOUNT.format("r.price")
    + """
FROM raw r JOIN new_orders o ON o.order_no = r.order_no
LEFT JOIN commerce_product p ON p.sku = r.sku
ORDER BY r.n
""",
    """
INSERT INTO events_event (customer_id, type, properties, occurred_at, received_at, source,
    idempotency_key)
SELECT customer_id, type, jsonb_build_object('order_id', id, 'external_id', order_no,
        'total', total::text, 'currency', %(currency)s::text, 'status', status, 'skus', skus),
    occurred_at, %(now)s::timestamptz, 'csv', idempotency_key
FROM (
    SELECT o.*, 0 AS phase, 'order_placed' AS type, o.placed_at AS occurred_at,
        'order:' || o.order_no || ':placed' AS idempotency_key
    FROM new_orders o
    UNION ALL
    SELECT o.*, 1, CASE o.status WHEN 'paid' THEN 'order_paid'
            WHEN 'delivered' THEN 'order_delivered' ELSE 'order_cancelled' END,
        %(now)s::timestamptz, 'order:' || o.order_no || ':' || o.status
    FROM new_orders o WHERE o.status <> 'placed'
) e JOIN (SELECT order_no, jsonb_agg(sku ORDER BY n) AS skus FROM raw GROUP BY order_no) l
    USING (order_no)
ORDER BY phase, n
""",
    """
UPDATE customers_customer c SET orders_count = s.n, total_spent = s.spent,
    first_order_at = s.first_at, last_order_at = s.last_at
FROM (
    SELECT o.customer_id, COUNT(*) AS n, SUM(o.total - o.refunded_total) AS spent,
        MIN(o.placed_at) AS first_at, MAX(o.placed_at) AS last_at
    FROM commerce_order o
    WHERE o.customer_id IN (SELECT customer_id FROM new_orders)
        AND o.status NOT IN ('cancelled', 'refunded')
    GROUP BY o.customer_id
) s
WHERE c.id = s.customer_id
""",
)


def fair_floor(db_url: str, orders_path: Path) -> float:
    """Run the fair floor in one transaction; its wall-clock time, COPY and COMMIT included."""
    params = {"tz": "Europe/Moscow", "currency": "RUB", "now": dt.datetime.now(dt.UTC)}
    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        create, *statements = FAIR_FLOOR_SQL
        conn.execute(create)
        with conn.cursor() as cur:
            copy_sql = (
                "COPY raw (order_no, customer, placed, status, sku, name, quantity, price, total)"
                " FROM STDIN (FORMAT csv, DELIMITER ';', HEADER true)"
            )
            with cur.copy(copy_sql) as copy, orders_path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            for statement in statements:
                cur.execute(statement, params)
        conn.commit()
        return time.perf_counter() - started


# What both runs must have written, without surrogate ids: orders, lines in order, events
# (a status event's time is the moment of its import, so only placed events' times are
# compared; an event's place among its order's events is), and every customer's summary.
CHECKS = {
    "orders": """
        SELECT o.external_id, c.external_id, o.status, o.placed_at, o.paid_at, o.delivered_at,
            o.total, o.currency, o.refunded_total, o.discount, o.coupon, o.channel
        FROM commerce_order o JOIN customers_customer c ON c.id = o.customer_id
        ORDER BY o.external_id""",
    "lines": """
        SELECT o.external_id, row_number() OVER (PARTITION BY l.order_id ORDER BY l.id),
            l.sku, l.name, l.quantity, l.price, p.sku
        FROM commerce_orderline l JOIN commerce_order o ON o.id = l.order_id
        LEFT JOIN commerce_product p ON p.id = l.product_id
        ORDER BY 1, 2""",
    "events": """
        SELECT e.idempotency_key, e.type, c.external_id, e.source,
            CASE WHEN e.type = 'order_placed' THEN e.occurred_at END,
            e.properties - 'order_id', o.external_id,
            row_number() OVER (PARTITION BY e.properties->>'order_id' ORDER BY e.id)
        FROM events_event e JOIN customers_customer c ON c.id = e.customer_id
        JOIN commerce_order o ON o.id = (e.properties->>'order_id')::bigint
        ORDER BY e.idempotency_key""",
    "summaries": """
        SELECT external_id, orders_count, total_spent, first_order_at, last_order_at
        FROM customers_customer ORDER BY external_id""",
}


def results_compare(reference_url: str, floor_url: str) -> list[str]:
    """The tables whose rows differ between the two databases (empty: the same rows)."""
    differ = []
    with psycopg.connect(reference_url) as ours, psycopg.connect(floor_url) as floor:
        for name, sql in CHECKS.items():
            mine, theirs = ours.execute(sql).fetchall(), floor.execute(sql).fetchall()
            if mine != theirs:
                differ.append(f"{name}: {len(mine)} rows vs {len(theirs)} in the floor")
    return differ


def print_load(when: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="order rows (default 1,000,000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    server_url = os.environ.get("LIFELONG_DATABASE_URL", "")
    if not server_url.startswith("postgres"):
        print(
            "set LIFELONG_DATABASE_URL to a PostgreSQL server (any database on it)", file=sys.stderr
        )
        return 2
    conninfo = psycopg.conninfo.conninfo_to_dict(server_url)
    admin_url = psycopg.conninfo.make_conninfo("", **{**conninfo, "dbname": "postgres"})
    db_name = conninfo.get("dbname") or DB_NAME
    if db_name == "postgres":
        db_name = DB_NAME
    bench_url = psycopg.conninfo.make_conninfo("", **{**conninfo, "dbname": db_name})
    user = conninfo.get("user", "postgres")
    host = conninfo.get("host", "127.0.0.1")
    port = conninfo.get("port", "5432")
    password = f":{conninfo['password']}" if conninfo.get("password") else ""

    # Two copies for the fair floor: it runs before and after ours, and the faster run counts
    # (on a shared machine the load moves; this way it never favours ours).
    floor_dbs = [f"{db_name}_floor", f"{db_name}_floor2"]
    floor_urls = [
        psycopg.conninfo.make_conninfo("", **{**conninfo, "dbname": name}) for name in floor_dbs
    ]
    for name in (db_name, *floor_dbs):
        admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin_execute(admin_url, f"CREATE DATABASE {db_name}")
    workdir = Path(tempfile.mkdtemp(prefix="lifelong-bench-"))
    os.environ["LIFELONG_DATABASE_URL"] = f"postgresql://{user}{password}@{host}:{port}/{db_name}"
    os.environ["LIFELONG_VAR_DIR"] = str(workdir / "var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")
    print_load("before")
    try:
        started = time.perf_counter()
        customers_path, products_path, orders_path, orders = write_files(
            workdir, args.rows, args.seed
        )
        size_mb = orders_path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} order rows ({orders:,} orders, {size_mb:.0f} MB) in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )

        import django
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        from lifelong.events.csv_import import import_file_cli

        for kind, path in (("customers", customers_path), ("products", products_path)):
            started = time.perf_counter()
            if import_file_cli(kind=kind, path=str(path), dry_run=False) != 0:
                return 1
            print(
                f"{kind} import: {time.perf_counter() - started:.1f}s (not in the ratio)",
                flush=True,
            )
        # The floor runs on a copy of the database as it is now: customers and products in.
        connections.close_all()
        for name in floor_dbs:
            admin_execute(admin_url, f"CREATE DATABASE {name} TEMPLATE {db_name}")

        old_floor = copy_floor(floor_urls[0], orders_path)
        print(
            f"old floor (context): COPY into an unindexed text table in {old_floor:.2f}s = "
            f"{args.rows / old_floor:,.0f} rows/s",
            flush=True,
        )
        floors = [fair_floor(floor_urls[0], orders_path)]
        print(
            f"fair floor, before ours: set-based SQL into the real tables, one transaction, in"
            f" {floors[0]:.2f}s = {args.rows / floors[0]:,.0f} rows/s",
            flush=True,
        )

        started = time.perf_counter()
        if import_file_cli(kind="orders", path=str(orders_path), dry_run=False) != 0:
            return 1
        ours = time.perf_counter() - started
        print(f"ours: imported {args.rows:,} rows in {ours:.2f}s = {args.rows / ours:,.0f} rows/s")
        floors.append(fair_floor(floor_urls[1], orders_path))
        print(f"fair floor, after ours: {floors[1]:.2f}s = {args.rows / floors[1]:,.0f} rows/s")
        floor = min(floors)
        print(f"ratio ours / fair floor (the faster floor run): {floor / ours:.1%}")
        print(f"ratio ours / old floor: {old_floor / ours:.1%}")

        connections.close_all()
        differ = [d for url in floor_urls for d in results_compare(bench_url, url)]
        if differ:
            print("CHECK FAILED, the import and the fair floor wrote different rows:")
            for line in differ:
                print(f"  {line}")
            return 1
        print("check: the same orders, lines, events and summaries as the fair floor")

        started = time.perf_counter()
        import_file_cli(kind="orders", path=str(orders_path), dry_run=False)
        again = time.perf_counter() - started
        rate = args.rows / again
        print(f"re-import of the same file (all unchanged): {again:.2f}s = {rate:,.0f} rows/s")
        print_load("after")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            for name in (db_name, *floor_dbs):
                admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        for path in sorted(workdir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
