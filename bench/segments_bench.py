"""Segments benchmark: stages, RFM, CLV scores and a rule segment over a large shop on PostgreSQL.

    .venv/bin/python bench/segments_bench.py --customers 1000000 --orders 10000000
    .venv/bin/python bench/segments_bench.py --reuse

Uses (and recreates) the database `lifelong_segbench` (or $SEGBENCH_DATABASE) on
127.0.0.1:5432; `--reuse` keeps a shop generated earlier and only empties the computed
tables. The data is generated inside PostgreSQL with INSERT ... SELECT over
generate_series, which is faster than COPY from a client because no row crosses the
wire; buyers are skewed (a few buy often), orders spread over two years, 30 % carry a
discount, 3 % are cancelled, 2 % of customers name a referrer and there is one
engagement event per two customers. The customer summary is computed in one aggregate
UPDATE.

Then it times, in seconds: the first stages_refresh (classifies everyone), a second
one (nothing changed), rfm_refresh twice, clv_scores_refresh twice, a segment's first
and second full refresh, segments_apply_for_customers for 1,000 customers, and
pareto_share. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("SEGBENCH_DATABASE", "lifelong_segbench")
SERVER = "postgresql://postgres@127.0.0.1:5432"


def recreate_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def database_exists() -> bool:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        return found is not None


def reset_computed() -> None:
    """Forget what earlier runs computed, so a reused database starts like a fresh one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE segments_customerstate, segments_stagechange, segments_segmentmembership,"
            " segments_segment"
        )
        cursor.execute("DELETE FROM events_event WHERE source = 'segments'")


def timed(label: str, func: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = func()
    print(f"{label:<48} {time.perf_counter() - start:8.1f} s   -> {result}", flush=True)
    return result


@contextlib.contextmanager
def bare_table(cursor: Any, table: str) -> Iterator[None]:
    """Drop a table's secondary indexes and constraints for a bulk load, then rebuild them.

    Building an index once over 10M rows is several times faster than maintaining it
    row by row, and a foreign key is then checked with one join instead of 10M probes.
    """
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype <> 'p'",
        [table],
    )
    constraints = cursor.fetchall()
    for name, _definition in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s"
        " AND indexname NOT LIKE '%%pkey'",
        [table],
    )
    indexes = cursor.fetchall()
    for name, _definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    for _name, definition in indexes:
        cursor.execute(definition)
    for name, definition in constraints:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def generate(customers: int, orders: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(
            """
            INSERT INTO customers_customer (
                external_id, first_name, last_name, patronymic, gender, email, phone,
                telegram_chat_id, vk_id, language, time_zone, attributes, source,
                created_at, updated_at, orders_count, total_spent)
            SELECT 'C' || g, 'Анна', 'Иванова' || g, '', 'f', 'c' || g || '@example.ru',
                   '+7916' || lpad(g::text, 7, '0'), '', '', 'ru', 'Europe/Moscow',
                   jsonb_build_object('city', (ARRAY['Москва','Казань','Тверь'])[1 + g %% 3])
                   || CASE WHEN g %% 50 = 0
                      THEN jsonb_build_object('referred_by', 'C' || (1 + g::bigint * 7919 %% %s))
                      ELSE '{}'::jsonb END,
                   'bench', now() - interval '3 years', now(), 0, 0
            FROM generate_series(1, %s) AS g
            """,
            [customers, customers],
        )
        cursor.execute("SELECT min(id) FROM customers_customer")
        first_id = cursor.fetchone()[0]
        # power(random(), 3) skews orders towards the first customers: a long tail of
        # one-time buyers, a head of frequent ones, about 40 % never buy.
        with bare_table(cursor, "commerce_order"):
            cursor.execute(
                """
            INSERT INTO commerce_order (
                external_id, customer_id, status, placed_at, total, currency,
                refunded_total, discount, coupon, channel, created_at, updated_at)
            SELECT 'O' || g,
                   %s + floor(power(random(), 3) * %s * 0.6)::bigint,
                   CASE WHEN random() < 0.03 THEN 'cancelled' ELSE 'delivered' END,
                   now() - random() * interval '730 days',
                   round((300 + random() * 6000)::numeric, 2), 'RUB', 0,
                   CASE WHEN random() < 0.3 THEN round((random() * 300)::numeric, 2) ELSE 0 END,
                   '', '', now(), now()
            FROM generate_series(1, %s) AS g
            """,
                [first_id, customers, orders],
            )
        # Engagement for the loyalty value: one event per two customers over 500 days.
        cursor.execute(
            """
            INSERT INTO events_event (customer_id, type, properties, occurred_at, received_at,
                                      source)
            SELECT %s + g %% %s,
                   (ARRAY['review_posted', 'survey_answered', 'community_post',
                          'message_replied'])[1 + g %% 4],
                   '{}'::jsonb, now() - random() * interval '500 days', now(), 'bench'
            FROM generate_series(1, %s) AS g
            """,
            [first_id, customers, customers // 2],
        )
        cursor.execute(
            """
            UPDATE customers_customer c
            SET orders_count = s.n, total_spent = s.spent,
                first_order_at = s.first_at, last_order_at = s.last_at
            FROM (SELECT customer_id, count(*) AS n, sum(total - refunded_total) AS spent,
                         min(placed_at) AS first_at, max(placed_at) AS last_at
                  FROM commerce_order WHERE status NOT IN ('cancelled', 'refunded')
                  GROUP BY customer_id) s
            WHERE c.id = s.customer_id
            """
        )
        cursor.execute("ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the shop generated by an earlier run (only computed rows are reset)",
    )
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()

    os.environ["LIFELONG_DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")
    reuse = args.reuse and database_exists()
    if not reuse:
        recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    from lifelong.commerce.models import Order
    from lifelong.customers.models import Customer
    from lifelong.segments.rfm import pareto_share
    from lifelong.segments.scoring import clv_scores_refresh
    from lifelong.segments.services import (
        rfm_refresh,
        segment_create,
        segment_refresh,
        segments_apply_for_customers,
        stages_refresh,
    )

    call_command("migrate", verbosity=0)
    if reuse:
        reset_computed()
        print(
            f"reusing {Customer.objects.count():,} customers, {Order.objects.count():,} orders",
            flush=True,
        )
    else:
        print(f"{args.customers:,} customers, {args.orders:,} orders", flush=True)
        timed(
            "generate (INSERT ... SELECT) + summary + ANALYZE",
            lambda: generate(args.customers, args.orders),
        )
    if args.generate_only:
        return 0
    timed("stages_refresh, first (classify all)", stages_refresh)
    timed("stages_refresh, again (no change)", stages_refresh)
    timed("rfm_refresh, first", rfm_refresh)
    timed("rfm_refresh, again (no change)", rfm_refresh)
    timed("clv_scores_refresh, first", lambda: clv_scores_refresh() and "fitted")
    timed("clv_scores_refresh, again", lambda: clv_scores_refresh() and "fitted")
    segment = segment_create(
        name="At risk, big spenders, or Champions in Kazan",
        rules={
            "op": "or",
            "rules": [
                {
                    "kind": "group",
                    "op": "and",
                    "rules": [
                        {
                            "kind": "score",
                            "field": "stage",
                            "op": "in",
                            "value": ["at_risk", "sleeping"],
                        },
                        {"kind": "summary", "field": "total_spent", "op": "gte", "value": "10000"},
                    ],
                },
                {
                    "kind": "group",
                    "op": "and",
                    "rules": [
                        {"kind": "score", "field": "rfm_segment", "op": "eq", "value": "champions"},
                        {"kind": "attribute", "key": "city", "op": "eq", "value": "Казань"},
                    ],
                },
            ],
        },
    )
    timed("segment_refresh, first", lambda: segment_refresh(segment=segment))
    timed("segment_refresh, again (no change)", lambda: segment_refresh(segment=segment))
    ids = list(Customer.objects.order_by("?").values_list("pk", flat=True)[:1000])
    timed(
        "segments_apply_for_customers (1,000 ids)",
        lambda: segments_apply_for_customers(customer_ids=ids),
    )
    timed("pareto_share (top 20 %)", lambda: round(pareto_share(), 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
