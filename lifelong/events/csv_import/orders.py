"""Orders from a CSV: what commerce.services.order_upsert writes, for a batch at a time.

Python only parses and checks the rows, into plain tuples: one per order (the values its
rows give; an empty cell means "not given") and one per line. A batch loads them into two
temporary tables (COPY on PostgreSQL) and a few statements, each over the whole batch, do
the rest: resolve customers (a merged one to its survivor), compare with the stored orders
and lines, update and insert orders, replace the lines that differ, record the events with
order_upsert's idempotency keys and properties, and queue the touched customers for one
summary refresh at the end of the import. The same SQL runs on PostgreSQL and SQLite.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from json import dumps
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.commerce.models import Order, OrderLine, OrderStatus, Product, SummaryPending
from lifelong.commerce.summaries import summaries_queue_from
from lifelong.customers.models import Customer
from lifelong.events.csv_import.layout import Layout
from lifelong.events.csv_import.order_rows import OrderParser
from lifelong.events.csv_import.sql import (
    StageTable,
    copy_text,
    db_datetime,
    db_type,
    json_sql,
)
from lifelong.events.csv_import.tally import Context, Group, GroupError, RowError, Rows, Tally
from lifelong.events.field_limits import (
    FieldLimitError,
    amount_limit,
    text_limit,
)
from lifelong.events.models import Event
from lifelong.events.services import events_record_from

SOURCE = "csv"
ZERO = Decimal("0")
# Order fields that are stored as given: compared and updated only when the file gives them.
_OPTIONAL = ("currency", "status", "discount", "coupon", "channel", "paid_at", "delivered_at")

STATUS_EVENTS = {
    OrderStatus.PAID: "order_paid",
    OrderStatus.DELIVERED: "order_delivered",
    OrderStatus.CANCELLED: "order_cancelled",
    OrderStatus.REFUNDED: "order_refunded",
}

# Staging tables ------------------------------------------------------------------------


def _stages() -> tuple[StageTable, StageTable]:
    def of(model: type[Order] | type[OrderLine], name: str) -> str:
        return db_type(model, name)

    orders = StageTable(
        name="csv_import_orders",
        columns=(
            ("seq", "integer PRIMARY KEY"),
            ("external_id", of(Order, "external_id")),
            ("customer_key", db_type(Customer, "external_id")),
            ("placed_at", of(Order, "placed_at")),
            ("total", of(Order, "total")),
            ("total_text", "text"),
            ("currency", of(Order, "currency")),
            ("status", of(Order, "status")),
            ("discount", of(Order, "discount")),
            ("coupon", of(Order, "coupon")),
            ("channel", of(Order, "channel")),
            ("paid_at", of(Order, "paid_at")),
            ("delivered_at", of(Order, "delivered_at")),
            ("has_lines", "smallint"),
            ("skus", db_type(Event, "properties")),
            ("row_count", "integer"),
        ),
        computed=(
            ("customer_id", "bigint"),
            ("order_id", "bigint"),
            ("created", "smallint NOT NULL DEFAULT 1"),
            ("changed", "smallint NOT NULL DEFAULT 0"),
            ("lines_changed", "smallint NOT NULL DEFAULT 0"),
            ("prev_customer_id", "bigint"),
            ("prev_status", of(Order, "status")),
            # An upper bound of the customer's spend before the batch (see _SPEND_BOUND); it
            # may pass what total_spent holds.
            ("spend_bound", "numeric"),
        ),
    )
    lines = StageTable(
        name="csv_import_lines",
        columns=(
            ("seq", "integer"),
            ("pos", "integer"),
            ("sku", of(OrderLine, "sku")),
            ("quantity", "integer"),
            ("price", of(OrderLine, "price")),
            ("name", of(OrderLine, "name")),
        ),
    )
    return orders, lines


_TABLES = {
    "stage": "csv_import_orders",
    "lines": "csv_import_lines",
    "customer": Customer._meta.db_table,
    "order": Order._meta.db_table,
    "line": OrderLine._meta.db_table,
    "product": Product._meta.db_table,
    "pending": SummaryPending._meta.db_table,
}

# One pass over the batch: resolve each order's customer (a merged one to its survivor),
# bound their spend, find the stored order and whether the file changes it, and flag new
# orders' lines to insert. A new order gets its id here on PostgreSQL (so no second pass
# reads the ids back); SQLite assigns it on insert.
_RESOLVED = "COALESCE(c.merged_into_id, c.id)"
_DIFFERS = " OR ".join(
    f"({value} IS NOT NULL AND {value} IS DISTINCT FROM o.{name})"
    for name, value in (
        ("customer_id", _RESOLVED),
        *((name, f"s.{name}") for name in ("placed_at", "total", *_OPTIONAL)),
    )
)
_RESOLVE_AND_COMPARE = """
UPDATE {stage} AS t SET customer_id = r.customer_id, order_id = COALESCE(r.order_id, {new_id}),
    created = CASE WHEN r.order_id IS NULL THEN 1 ELSE 0 END,
    prev_customer_id = r.prev_customer_id, prev_status = r.prev_status, changed = r.changed,
    lines_changed = CASE WHEN r.order_id IS NULL AND t.has_lines = 1 THEN 1 ELSE 0 END,
    spend_bound = r.spend_bound
FROM (
    SELECT s.seq, {resolved} AS customer_id, o.id AS order_id, {spend_bound} AS spend_bound,
        o.customer_id AS prev_customer_id, o.status AS prev_status,
        CASE WHEN o.id IS NOT NULL AND ({differs}) THEN 1 ELSE 0 END AS changed
    FROM {stage} s
    LEFT JOIN {customer} c ON c.external_id = s.customer_key
    LEFT JOIN {pending} p ON p.customer_id = c.id
    LEFT JOIN {order} o ON o.external_id = s.external_id
) r
WHERE t.seq = r.seq
"""

# Stored lines are compared position by position (in id order) with the file's: an order
# whose lines differ has a line in one set that is not in the other. EXCEPT and a join
# (not IN with OR) keep the plans hashed whatever the planner guesses about the stage.
_COMPARE_LINES = """
UPDATE {stage} AS t SET lines_changed = 1
FROM (
    SELECT order_id FROM (
        SELECT s.order_id, x.pos, x.sku, x.quantity, x.price, x.name
        FROM {lines} x JOIN {stage} s ON s.seq = x.seq
        WHERE s.created = 0 AND s.has_lines = 1
        EXCEPT
        SELECT order_id, pos, sku, quantity, price, name FROM ({stored_lines}) b
    ) a
    UNION
    SELECT order_id FROM (
        SELECT order_id, pos, sku, quantity, price, name FROM ({stored_lines}) b
        EXCEPT
        SELECT s.order_id, x.pos, x.sku, x.quantity, x.price, x.name
        FROM {lines} x JOIN {stage} s ON s.seq = x.seq
        WHERE s.created = 0 AND s.has_lines = 1
    ) b
) d
WHERE t.order_id = d.order_id
"""
_STORED_LINES = """
SELECT l.order_id, row_number() OVER (PARTITION BY l.order_id ORDER BY l.id) AS pos,
    l.sku, l.quantity, l.price, l.name
FROM {line} l JOIN {stage} s ON s.order_id = l.order_id
WHERE s.created = 0 AND s.has_lines = 1
"""

_COUNTS = """
SELECT
    COALESCE(SUM(CASE WHEN created = 1 THEN row_count ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN created = 0 AND (changed = 1 OR lines_changed = 1)
        THEN row_count ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN created = 0 AND changed = 0 AND lines_changed = 0
        THEN row_count ELSE 0 END), 0)
FROM {stage}
"""

_GIVEN = ", ".join(f"{name} = COALESCE(s.{name}, o.{name})" for name in _OPTIONAL)
_UPDATE_ORDERS = """
UPDATE {order} AS o SET customer_id = s.customer_id, placed_at = s.placed_at,
    total = s.total, {given}, updated_at = %(now)s
FROM {stage} s WHERE o.id = s.order_id AND s.changed = 1
"""

_INSERT_ORDERS = """
INSERT INTO {order} (id, external_id, customer_id, status, placed_at, paid_at, delivered_at,
    total, currency, refunded_total, discount, coupon, channel, created_at, updated_at)
SELECT s.order_id, s.external_id, s.customer_id, COALESCE(s.status, %(placed)s), s.placed_at,
    s.paid_at, s.delivered_at, s.total, COALESCE(s.currency, %(currency)s), 0,
    COALESCE(s.discount, 0), COALESCE(s.coupon, ''), COALESCE(s.channel, ''), %(now)s, %(now)s
FROM {stage} s WHERE s.created = 1 ORDER BY s.seq
"""

# SQLite only: the ids it gave the new orders.
_NEW_ORDER_IDS = """
UPDATE {stage} AS s SET order_id = o.id
FROM {order} o WHERE s.created = 1 AND o.external_id = s.external_id
"""

_DELETE_LINES = """
DELETE FROM {line}
WHERE order_id IN (SELECT order_id FROM {stage} WHERE lines_changed = 1 AND created = 0)
"""

_INSERT_LINES = """
INSERT INTO {line} (order_id, product_id, sku, name, quantity, price)
SELECT s.order_id, p.id, x.sku, x.name, x.quantity, x.price
FROM {lines} x JOIN {stage} s ON s.seq = x.seq LEFT JOIN {product} p ON p.sku = x.sku
WHERE s.lines_changed = 1 ORDER BY x.seq, x.pos
"""

_STATUS_EVENT_TYPE = "CASE o.status {} END".format(
    " ".join(f"WHEN '{status.value}' THEN '{kind}'" for status, kind in STATUS_EVENTS.items())
)
# When the status happened: its own date for paid and delivered, otherwise the import.
_STATUS_EVENT_AT = (
    f"CASE o.status WHEN '{OrderStatus.PAID.value}' THEN COALESCE(o.paid_at, %(now)s) "
    f"WHEN '{OrderStatus.DELIVERED.value}' THEN COALESCE(o.delivered_at, %(now)s) "
    "ELSE %(now)s END"
)
# The properties order_upsert gives its events; "total" as the Decimal's text.
_PROPERTIES = (
    "{object}('order_id', o.id, 'external_id', o.external_id, 'total', s.total_text, "
    "'currency', o.currency, 'status', o.status, 'skus', {skus})"
)
# Inserted ordered by (phase, seq): the placed events first, so an order's events get ids
# in the order order_upsert records them.
_SELECT_EVENTS = """
    SELECT o.customer_id, 'order_placed' AS type, {properties} AS properties,
        o.placed_at AS occurred_at, %(now)s AS received_at, %(source)s AS source,
        'order:' || o.external_id || ':placed' AS idempotency_key, 0 AS phase, s.seq AS seq
    FROM {stage} s JOIN {order} o ON o.id = s.order_id
    WHERE s.created = 1
    UNION ALL
    SELECT o.customer_id, {status_event_type}, {properties}, {status_event_at},
        %(now)s, %(source)s, 'order:' || o.external_id || ':' || o.status, 1, s.seq
    FROM {stage} s JOIN {order} o ON o.id = s.order_id
    WHERE (s.created = 1 OR s.changed = 1 OR s.lines_changed = 1)
        AND o.status <> %(placed)s
        AND (s.prev_status IS NULL OR o.status <> s.prev_status)
"""

# A customer's spend is the sum of their counted orders, and it has a column of its own:
# a batch must not push it past what that column holds. The stored spend, plus what the
# orders written since its last refresh may have added (kept with the customer in the
# summaries queue), plus the batch's totals bounds the new spend from above (totals are
# never negative), so this cheap test finds every customer who may pass; only those are
# summed exactly.
# The bound is read in the resolving pass; a merged customer's is left NULL (their
# survivor's spend is not at hand there, and they are rare), so they are summed exactly.
_SPEND_BOUND = (
    "CASE WHEN c.merged_into_id IS NULL THEN c.total_spent + COALESCE(p.spend_added, 0) END"
)
_SPEND_MAY_OVERFLOW = """
SELECT customer_id FROM {stage}
GROUP BY customer_id
HAVING MAX(spend_bound) IS NULL OR MAX(spend_bound) + SUM(total) >= %(ceiling)s
"""
# For those customers: what their other orders add up to, and what each staged order adds.
_SPEND_BESIDES_STAGE = """
SELECT o.customer_id, SUM(o.total - o.refunded_total)
FROM {order} o
WHERE o.customer_id IN ({ids}) AND o.status NOT IN (%(cancelled)s, %(refunded)s)
    AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.order_id = o.id)
GROUP BY o.customer_id
"""
_SPEND_STAGED = """
SELECT s.seq, s.customer_id,
    CASE WHEN COALESCE(s.status, s.prev_status, %(placed)s) IN (%(cancelled)s, %(refunded)s)
        THEN 0 ELSE s.total - COALESCE(o.refunded_total, 0) END
FROM {stage} s LEFT JOIN {order} o ON o.id = s.order_id
WHERE s.customer_id IN ({ids})
ORDER BY s.seq
"""

# The customers whose summary the batch made stale, with what it may add to their spend;
# an order moved to another customer takes its spend away from the one it left.
_TOUCHED_CUSTOMERS = """
SELECT customer_id, SUM(added) AS added FROM (
    SELECT customer_id, total AS added FROM {stage}
    WHERE created = 1 OR changed = 1 OR lines_changed = 1
    UNION ALL
    SELECT prev_customer_id, 0 FROM {stage}
    WHERE (changed = 1 OR lines_changed = 1) AND prev_customer_id IS NOT NULL
) t GROUP BY customer_id
"""


def _new_order_id() -> str:
    if connection.vendor == "postgresql":
        return f"nextval(pg_get_serial_sequence('{_TABLES['order']}', 'id'))"
    return "NULL"


def _sql(template: str, **lists: str) -> str:
    return template.format(
        **_TABLES,
        **lists,
        differs=_DIFFERS,
        resolved=_RESOLVED,
        spend_bound=_SPEND_BOUND,
        new_id=_new_order_id(),
        given=_GIVEN,
        properties=_PROPERTIES.format(**json_sql(_TABLES["line"])),
        stored_lines=_STORED_LINES.format(**_TABLES),
        status_event_type=_STATUS_EVENT_TYPE,
        status_event_at=_STATUS_EVENT_AT,
    )


@dataclass
class ParsedOrders:
    """A batch as staging rows: good orders and their lines, and the groups already rejected."""

    orders: list[tuple[Any, ...]]
    lines: list[tuple[Any, ...]]
    rows_of: list[Rows]  # by the orders' seq
    rejected: Tally
    # On PostgreSQL: orders and lines already in COPY's text format.
    orders_text: bytes | None = None
    lines_text: bytes | None = None


class OrdersBatch:
    """The batch handler for one orders file (it remembers parsed cells across batches)."""

    def __init__(self, layout: Layout, tz: ZoneInfo) -> None:
        self.layout = layout
        self.parser = OrderParser(layout, tz, clock.now())
        self.key_limit = text_limit(Order, "external_id")

    def prepare(self, groups: list[Group]) -> ParsedOrders:
        """Parse and check a batch; no database access, so it may run in a reading thread."""
        draft = self.parser.draft
        parsed = ParsedOrders(orders=[], lines=[], rows_of=[], rejected=Tally())
        orders, lines, rows_of = parsed.orders, parsed.lines, parsed.rows_of
        key_max = self.key_limit.length
        for key, rows in groups:
            if not key:
                parsed.rejected.reject_keyless(
                    self.layout, rows, "order_id", _("the order number is empty")
                )
                continue
            if len(key) > key_max:
                try:
                    self.key_limit.check(key)
                except FieldLimitError as exc:
                    # Every row of the order carries the same too long number.
                    parsed.rejected.reject_keyless(self.layout, rows, "order_id", str(exc))
                    continue
            try:
                values, order_lines = draft(rows)
            except GroupError as exc:
                parsed.rejected.reject_group(self.layout, rows, exc.failures)
                continue
            seq = len(rows_of)
            rows_of.append(rows)
            get = values.get
            total = values["total"]
            orders.append(
                (
                    seq,
                    key,
                    values["customer_id"],
                    values["placed_at"],
                    total,
                    str(total),
                    get("currency"),
                    get("status"),
                    get("discount"),
                    get("coupon"),
                    get("channel"),
                    get("paid_at"),
                    get("delivered_at"),
                    0 if order_lines is None else 1,
                    None if order_lines is None else dumps([line[0] for line in order_lines]),
                    len(rows),
                )
            )
            if order_lines is not None:
                lines.extend(
                    (seq, pos, sku, quantity, price, name)
                    for pos, (sku, quantity, price, name) in enumerate(order_lines, 1)
                )
        if connection.vendor == "postgresql":
            parsed.orders_text, parsed.lines_text = copy_text(orders), copy_text(lines)
        return parsed

    def write(self, parsed: ParsedOrders, ctx: Context) -> Tally:
        """Stage the batch and apply it (in dry run: only count); runs in a transaction."""
        tally = Tally()
        tally.add(parsed.rejected)
        if not parsed.orders:
            return tally
        stage, stage_lines = _stages()
        with connection.cursor() as cursor:
            stage.create(cursor)
            stage_lines.create(cursor)
            stage.load(cursor, parsed.orders, parsed.orders_text)
            stage_lines.load(cursor, parsed.lines, parsed.lines_text)
            cursor.execute(_sql(_RESOLVE_AND_COMPARE))
            cursor.execute(_sql("SELECT seq FROM {stage} WHERE customer_id IS NULL ORDER BY seq"))
            for (seq,) in cursor.fetchall():
                rows = parsed.rows_of[seq]
                failure = RowError(
                    self.layout.label("customer_id"),
                    _("unknown customer %(value)r") % {"value": parsed.orders[seq][2]},
                )
                tally.reject_group(self.layout, rows, {rows[0][0]: failure})
            cursor.execute(_sql("DELETE FROM {stage} WHERE customer_id IS NULL"))
            self._spend_overflows_reject(cursor, parsed, tally)
            cursor.execute(_sql(_COMPARE_LINES))
            cursor.execute(_sql(_COUNTS))
            tally.created, tally.updated, tally.unchanged = cursor.fetchone()
            if not ctx.dry_run:
                _write(cursor, ctx.now)
            stage.drop(cursor)
            stage_lines.drop(cursor)
        return tally

    def _spend_overflows_reject(
        self, cursor: CursorWrapper, parsed: ParsedOrders, tally: Tally
    ) -> None:
        """Reject the orders that would push their customer's spend past what its column holds.

        The orders are taken in file order; each one that would pass the limit is rejected.
        """
        spend = amount_limit(Customer, "total_spent")
        # An int: SQLite compares a number with a text parameter as smaller, always.
        params: dict[str, Any] = {"ceiling": int(spend.ceiling)}
        cursor.execute(_sql(_SPEND_MAY_OVERFLOW), params)
        ids = [customer_id for (customer_id,) in cursor.fetchall()]
        if not ids:
            return
        params.update(
            placed=OrderStatus.PLACED.value,
            cancelled=OrderStatus.CANCELLED.value,
            refunded=OrderStatus.REFUNDED.value,
        )
        # Ids read from the database, written as integers: nothing from the file.
        marks = ", ".join(str(int(customer_id)) for customer_id in ids)
        cursor.execute(_sql(_SPEND_BESIDES_STAGE, ids=marks), params)
        # SQLite returns floats: exact enough to compare with a 14-digit limit.
        spent = {customer_id: Decimal(str(amount)) for customer_id, amount in cursor.fetchall()}
        cursor.execute(_sql(_SPEND_STAGED, ids=marks), params)
        over: list[int] = []
        for seq, customer_id, amount in cursor.fetchall():
            total = spent.get(customer_id, ZERO) + Decimal(str(amount))
            if total >= spend.ceiling:
                over.append(seq)
            else:
                spent[customer_id] = total
        if not over:
            return
        reason = _(
            "the customer's total spend would pass the largest amount stored, %(largest)s"
        ) % {"largest": spend.largest}
        for seq in over:
            rows = parsed.rows_of[seq]
            failure = RowError(self.layout.label("total"), reason)
            tally.reject_group(self.layout, rows, {rows[0][0]: failure})
        seqs = ", ".join(str(int(seq)) for seq in over)
        cursor.execute(_sql("DELETE FROM {stage} WHERE seq IN ({seqs})", seqs=seqs))


def _write(cursor: CursorWrapper, now: dt.datetime) -> None:
    params = {
        "now": db_datetime(now),
        "placed": OrderStatus.PLACED.value,
        "currency": settings.DEFAULT_CURRENCY,
        "source": SOURCE,
    }
    cursor.execute(_sql(_UPDATE_ORDERS), params)
    cursor.execute(_sql(_INSERT_ORDERS), params)
    if connection.vendor != "postgresql":
        cursor.execute(_sql(_NEW_ORDER_IDS))
    cursor.execute(_sql(_DELETE_LINES))
    cursor.execute(_sql(_INSERT_LINES))
    events_record_from(_sql(_SELECT_EVENTS), params, keyed=True, order_by="phase, seq")
    # Refreshed once, when the import ends (or by the sweep, after a crash).
    summaries_queue_from(_sql(_TOUCHED_CUSTOMERS))
