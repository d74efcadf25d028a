"""CSV import benchmark: our orders import against a plain PostgreSQL COPY of the same rows.

    LIFELONG_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/import_bench.py --rows 1000000

It creates (and afterwards drops) its own database on that server: the one the URL names, or
`lifelong_bench` when the URL names `postgres` (so that two people can bench at once), writes a
realistic shop export (one row per order line, ~2.5 lines per order, customers = rows / 5,
Russian headers, `;`, decimal commas, dd.mm.yyyy dates) and measures:

  floor: psycopg COPY of the orders file into an unindexed staging table of text columns;
  ours:  `lifelong import orders FILE` (import_file_cli), after the customers file has been
         imported (timed and printed separately, not part of the ratio).

It prints rows/s for both and ours / floor, and the load average before and after (the
machine may be shared: compare ratios within one run). Not part of the test suite.
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

    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {db_name}")
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

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        from lifelong.events.csv_import import import_file_cli

        floor = copy_floor(bench_url, orders_path)
        print(
            f"floor: COPY {args.rows:,} rows in {floor:.2f}s = {args.rows / floor:,.0f} rows/s",
            flush=True,
        )

        for kind, path in (("customers", customers_path), ("products", products_path)):
            started = time.perf_counter()
            if import_file_cli(kind=kind, path=str(path), dry_run=False) != 0:
                return 1
            print(
                f"{kind} import: {time.perf_counter() - started:.1f}s (not in the ratio)",
                flush=True,
            )

        started = time.perf_counter()
        if import_file_cli(kind="orders", path=str(orders_path), dry_run=False) != 0:
            return 1
        ours = time.perf_counter() - started
        print(f"ours: imported {args.rows:,} rows in {ours:.2f}s = {args.rows / ours:,.0f} rows/s")
        print(f"ratio ours/floor: {floor / ours:.1%}")

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
            admin_execute(admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        for path in sorted(workdir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
