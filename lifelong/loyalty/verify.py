"""`lifelong loyalty verify`: every transaction balances and every cache equals its entries.

Four grouped statements over the whole ledger, each a single scan: transactions whose
entries do not sum to zero (spendable and status points each), customer accounts whose
cached balances differ from their entries, lots whose `remaining` differs from their
entries or leaves 0..points, and entries that name another customer's lot. Runs nightly as
the `loyalty.verify` sweep, which fails (and is logged as failed) on any mismatch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from django.db import connection

from lifelong.loyalty.models import Account, Bucket, Entry, Lot

SHOWN = 20

_UNBALANCED = """
SELECT transaction_id FROM {entry}
GROUP BY transaction_id, bucket = {status}
HAVING SUM(points) <> 0
ORDER BY transaction_id
"""
_ACCOUNTS = """
SELECT a.id FROM {account} a LEFT JOIN (
    SELECT account_id,
        SUM(CASE WHEN bucket = {available} THEN points ELSE 0 END) AS available,
        SUM(CASE WHEN bucket = {pending} THEN points ELSE 0 END) AS pending,
        SUM(CASE WHEN bucket = {held} THEN points ELSE 0 END) AS held,
        SUM(CASE WHEN bucket = {status} THEN points ELSE 0 END) AS status
    FROM {entry} GROUP BY account_id
) s ON s.account_id = a.id
WHERE a.kind = 'customer' AND (
    a.available <> COALESCE(s.available, 0) OR a.pending <> COALESCE(s.pending, 0)
    OR a.held <> COALESCE(s.held, 0) OR a.status <> COALESCE(s.status, 0)
)
ORDER BY a.id
"""
_LOTS = """
SELECT l.id FROM {lot} l LEFT JOIN (
    SELECT lot_id, SUM(points) AS total FROM {entry} WHERE lot_id IS NOT NULL GROUP BY lot_id
) e ON e.lot_id = l.id
WHERE l.remaining <> COALESCE(e.total, 0) OR l.remaining < 0 OR l.remaining > l.points
ORDER BY l.id
"""
_FOREIGN_LOTS = """
SELECT e.id FROM {entry} e
JOIN {account} a ON a.id = e.account_id JOIN {lot} l ON l.id = e.lot_id
WHERE a.customer_id IS NULL OR a.customer_id <> l.customer_id
ORDER BY e.id
"""


@dataclass
class Report:
    """What verify found: ids of the rows that break a rule, by rule."""

    unbalanced_transactions: list[int] = field(default_factory=list)
    accounts_off: list[int] = field(default_factory=list)
    lots_off: list[int] = field(default_factory=list)
    entries_on_foreign_lots: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.unbalanced_transactions
            or self.accounts_off
            or self.lots_off
            or self.entries_on_foreign_lots
        )

    def lines(self) -> list[str]:
        found = [
            ("transactions that do not sum to zero", self.unbalanced_transactions),
            (
                "customer accounts whose cached balances differ from their entries",
                self.accounts_off,
            ),
            ("lots whose remaining points differ from their entries", self.lots_off),
            ("entries that draw on another customer's lot", self.entries_on_foreign_lots),
        ]
        return [
            f"{len(ids)} {what}: {', '.join(map(str, ids[:SHOWN]))}"
            + (" ..." if len(ids) > SHOWN else "")
            for what, ids in found
            if ids
        ]


class LedgerMismatch(Exception):
    """The ledger disagrees with itself."""


def ledger_verify() -> Report:
    """Check every transaction, cached balance and lot against the entries."""
    names = {
        "entry": Entry._meta.db_table,
        "account": Account._meta.db_table,
        "lot": Lot._meta.db_table,
        "available": int(Bucket.AVAILABLE),
        "pending": int(Bucket.PENDING),
        "held": int(Bucket.HELD),
        "status": int(Bucket.STATUS),
    }
    report = Report()
    with connection.cursor() as cursor:
        for sql, ids in (
            (_UNBALANCED, report.unbalanced_transactions),
            (_ACCOUNTS, report.accounts_off),
            (_LOTS, report.lots_off),
            (_FOREIGN_LOTS, report.entries_on_foreign_lots),
        ):
            cursor.execute(sql.format(**names))
            ids.extend(sorted({row[0] for row in cursor.fetchall()}))
    return report


def loyalty_verify() -> None:
    """The nightly sweep: raise (so the sweep is logged as failed) on any mismatch."""
    report = ledger_verify()
    if not report.ok:
        raise LedgerMismatch("; ".join(report.lines()))


def verify_command(out: TextIO | None = None) -> int:
    """`lifelong loyalty verify`: 0 when the ledger is consistent, 1 otherwise."""
    out = out or sys.stdout
    report = ledger_verify()
    if report.ok:
        print("The points ledger is consistent.", file=out)
        return 0
    for line in report.lines():
        print(line, file=out)
    return 1
