"""Posting to the points ledger: one customer's book at a time, written set-based.

How a posting is made
    A `Book` locks the customer's account row (`select_for_update`; on SQLite the IMMEDIATE
    transaction already serialises writers), loads the customer's open lots, and plans
    postings in memory: each `move` is one customer entry (and changes the cached balance and
    the lot's `remaining` by the same amount), each `system` call one system entry. A posting
    whose key is already in the ledger is skipped, so every poster is idempotent.
    `ledger_write` then writes the planned postings of any number of books with a handful of
    statements (bulk inserts of transactions, lots and entries; bulk updates of the touched
    lots and the locked accounts), which is how the sweeps post thousands of lots at a time.

Why the balances cannot drift
    Cached balances and `Lot.remaining` change only here, in the same database transaction
    as the entries that justify them, with the account row locked. `verify.py` recomputes all
    of them from the entries; `lifelong loyalty verify` fails loudly on any difference.

Lots
    Burns draw from available lots, oldest-expiring first (lots that never expire last), and
    every draw is an entry naming its lot, so a refund gives points back to the very lots they
    came from and expiry takes exactly what is left of a lot. Points given back to a lot whose
    expiry has passed expire in the same transaction: a refund or a released hold never revives
    dead points, and the expiry sweep never has to look at a lot twice.

Debt
    A refund after the pending period may need more points than the customer has left. Under
    the "debt" policy the rest is an available-bucket entry with no lot, so the available
    balance goes below zero; the next earn repays it first (`Book.lot_earn`). Under the "cap"
    policy nothing below zero is posted and the transaction records the `shortfall`.

Holds (the checkout API builds these on the same primitives; kinds HOLD, CONFIRM, UNHOLD)
    - reserve N: key `hold:<id>`; `draw(AVAILABLE, N)` (oldest-expiring first; every draw
      names its lot) and `move(HELD, +N)` with no lot. The hold's own transaction keeps which
      lots gave how much.
    - confirm for M <= N: key `hold:<id>:confirm`; `move(HELD, -N)`, `system(REDEEMED, +M)`,
      and the unused N - M goes back with `give_back` to the lots of the hold's draw,
      latest-expiring first (so what was spent is the oldest).
    - release, or a hold timing out (a sweep over holds by `expires_at`): key
      `hold:<id>:release`; `move(HELD, -N)` and `give_back` all of it.
    Both confirm and release use `give_back`, so points whose lot expired during the hold
    expire at once. The keys make confirm-after-release (and the reverse) impossible: the
    service checks which of the two keys exists under the account lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from lifelong import clock
from lifelong.lib.errors import DomainError
from lifelong.loyalty.models import (
    BUCKET_FIELDS,
    Account,
    AccountKind,
    Bucket,
    Entry,
    Lot,
    Transaction,
)


class NotEnoughPoints(DomainError):
    """A burn asked for more points than the customer has available."""


@dataclass
class Posting:
    """A transaction being planned: its key, kind, reason and entries."""

    key: str
    kind: str
    customer_id: int
    occurred_at: dt.datetime
    reason: dict[str, Any] = field(default_factory=dict)
    entries: list[tuple[int, int, int, Lot | None]] = field(default_factory=list)
    new_lot: Lot | None = None
    shortfall: int = 0


def _system_accounts() -> dict[str, int]:
    kinds = [k for k in AccountKind.values if k != AccountKind.CUSTOMER]
    found = dict(Account.objects.filter(kind__in=kinds).values_list("kind", "pk"))
    for kind in kinds:
        if kind not in found:
            found[kind] = Account.objects.get_or_create(kind=kind)[0].pk
    return found


def lots_by_expiry(lots: list[Lot]) -> list[Lot]:
    """Oldest-expiring first; lots that never expire last."""
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(lots, key=lambda lot: (lot.expires_at or far, lot.pk or 0))


class Book:
    """One customer's locked account and open lots while postings are planned."""

    def __init__(self, account: Account, system: dict[str, int] | None = None) -> None:
        self.account = account
        # Read on first use: a reserve posts to no system account (one query less at checkout).
        self._system_ids = system
        self.postings: list[Posting] = []
        self.touched: dict[int, Lot] = {}
        # Set by `move`: a posting of another book may change this account (a merge does).
        self.changed = False
        self._lots: list[Lot] | None = None
        self._keys: set[str] = set()
        # Keys a caller found missing from the ledger in bulk, under the same locks.
        self.absent: set[str] = set()

    @classmethod
    def open(cls, *, customer_id: int) -> Book:
        """Lock the customer's account (created on first use). Call inside an atomic block."""
        assert transaction.get_connection().in_atomic_block, "a book needs a transaction"
        locked = Account.objects.select_for_update().filter(customer_id=customer_id)
        account = next(iter(locked), None)
        if account is None:  # the first posting of this customer
            Account.objects.get_or_create(customer_id=customer_id, kind=AccountKind.CUSTOMER)
            account = locked.get()
        return cls(account)

    @property
    def system_ids(self) -> dict[str, int]:
        if self._system_ids is None:
            self._system_ids = _system_accounts()
        return self._system_ids

    @property
    def customer_id(self) -> int:
        assert self.account.customer_id is not None
        return self.account.customer_id

    @property
    def lots(self) -> list[Lot]:
        """The customer's lots with points left, oldest-expiring first."""
        if self._lots is None:
            loaded = Lot.objects.filter(customer_id=self.customer_id, remaining__gt=0)
            # A lot this book changed already is that object, not a stale copy.
            self._lots = lots_by_expiry([self.touched.get(lot.pk, lot) for lot in loaded])
        return self._lots

    def lot_get(self, lot_id: int, lot: Lot | None = None) -> Lot:
        """The book's object for one of the customer's lots (`lot`, or read, when unknown)."""
        for known in [*(self._lots or []), *self.touched.values()]:
            if known.pk == lot_id:
                return known
        found = lot or Lot.objects.get(pk=lot_id, customer_id=self.customer_id)
        self.touched[lot_id] = found
        return found

    def posting(
        self, *, key: str, kind: str, occurred_at: dt.datetime | None = None, **reason: Any
    ) -> Posting | None:
        """A new posting, or None when this key is in the ledger already."""
        if key in self._keys:
            return None
        if key not in self.absent and Transaction.objects.filter(key=key).exists():
            return None
        return self.posting_new(key=key, kind=kind, occurred_at=occurred_at, **reason)

    def posting_new(
        self, *, key: str, kind: str, occurred_at: dt.datetime | None = None, **reason: Any
    ) -> Posting:
        """A new posting whose key the caller has checked (the sweeps check theirs in bulk)."""
        self._keys.add(key)
        posting = Posting(
            key=key,
            kind=kind,
            customer_id=self.customer_id,
            occurred_at=occurred_at or clock.now(),
            reason=reason,
        )
        self.postings.append(posting)
        return posting

    def move(self, posting: Posting, bucket: int, points: int, lot: Lot | None = None) -> None:
        """One customer entry; the cached balance and the lot's remaining change with it."""
        if points == 0:
            return
        posting.entries.append((self.account.pk, bucket, points, lot))
        self.changed = True
        field_name = BUCKET_FIELDS[bucket]
        setattr(self.account, field_name, getattr(self.account, field_name) + points)
        if lot is not None:
            assert bucket == lot.bucket, "a lot's entries go to the lot's bucket"
            lot.remaining += points
            assert 0 <= lot.remaining <= lot.points, "a lot holds between 0 and its points"
            if lot.pk is not None:
                self.touched[lot.pk] = lot

    def system(
        self, posting: Posting, kind: str, points: int, bucket: int = Bucket.AVAILABLE
    ) -> None:
        """One entry on a system account (no cached balance to keep)."""
        if points:
            posting.entries.append((self.system_ids[kind], bucket, points, None))

    def draw(self, posting: Posting, points: int, *, bucket: int = Bucket.AVAILABLE) -> int:
        """Take up to `points` from the lots in `bucket`, oldest-expiring first; how many taken."""
        taken = 0
        for lot in self.lots:
            if taken == points:
                break
            if lot.bucket != bucket or lot.remaining <= 0:
                continue
            n = min(lot.remaining, points - taken)
            self.move(posting, bucket, -n, lot)
            taken += n
        return taken

    def give_back(self, posting: Posting, lot: Lot, points: int) -> None:
        """Return points to the lot they came from; past its expiry they expire at once."""
        self.move(posting, lot.bucket, points, lot)
        if lot not in self.lots:
            self.lots.append(lot)
            self._lots = lots_by_expiry(self.lots)
        if lot.released and lot.expires_at is not None and lot.expires_at <= clock.now():
            self.move(posting, Bucket.AVAILABLE, -points, lot)
            self.system(posting, AccountKind.EXPIRED, points)

    @property
    def debt(self) -> int:
        """Points owed: what the released lots hold beyond the available balance."""
        held_in_lots = sum(lot.remaining for lot in self.lots if lot.released)
        return max(0, held_in_lots - self.account.available)

    def lot_earn(
        self,
        posting: Posting,
        points: int,
        *,
        pending_until: dt.datetime | None,
        expires_at: dt.datetime | None,
    ) -> Lot:
        """A new lot of `points` (pending until `pending_until`, if given); repays debt first."""
        released = pending_until is None
        lot = Lot(
            customer_id=self.customer_id,
            points=points,
            remaining=0,
            pending_until=pending_until,
            released=released,
            expires_at=expires_at,
        )
        posting.new_lot = lot
        owed = self.debt
        self.move(posting, lot.bucket, points, lot)
        repay = min(owed, lot.remaining)
        if repay:
            self.move(posting, lot.bucket, -repay, lot)
            self.move(posting, Bucket.AVAILABLE, repay)
        self.lots.append(lot)
        self._lots = lots_by_expiry(self.lots)
        return lot

    def release(self, posting: Posting, lot: Lot) -> None:
        """Move a pending lot's points to available."""
        points = lot.remaining
        if points:
            self.move(posting, Bucket.PENDING, -points, lot)
        lot.released = True
        if lot.pk is not None:
            self.touched[lot.pk] = lot
        if points:
            self.move(posting, Bucket.AVAILABLE, points, lot)


def ledger_write(books: list[Book]) -> list[Transaction]:
    """Write the planned postings of these books: a few bulk statements for all of them."""
    postings = [p for book in books for p in book.postings]
    now = clock.now()
    created = Transaction.objects.bulk_create(
        [
            Transaction(
                key=p.key,
                kind=p.kind,
                customer_id=p.customer_id,
                occurred_at=p.occurred_at,
                created_at=now,
                shortfall=p.shortfall,
                **p.reason,
            )
            for p in postings
        ]
    )
    new_lots = []
    for posting, tx in zip(postings, created, strict=True):
        if posting.new_lot is not None:
            posting.new_lot.source = tx
            new_lots.append(posting.new_lot)
    Lot.objects.bulk_create(new_lots)
    _entries_insert(
        [
            (tx.pk, account, bucket, points, _saved(lot))
            for posting, tx in zip(postings, created, strict=True)
            for account, bucket, points, lot in posting.entries
        ]
    )
    _rows_update(Lot, ["remaining", "released"], [lot for b in books for lot in b.touched.values()])
    # The rows are locked by their books: the values planned in memory are current.
    _rows_update(Account, list(BUCKET_FIELDS.values()), [b.account for b in books if b.changed])
    for book in books:
        book.postings, book.touched, book.changed = [], {}, False
    return created


def _saved(lot: Lot | None) -> int | None:
    if lot is None:
        return None
    if lot.pk is None:
        raise ValueError("an entry names a lot that was never saved")
    return int(lot.pk)


ENTRY_COLUMNS = ("transaction_id", "account_id", "bucket", "points", "lot_id")


def _entries_insert(rows: list[tuple[int, int, int, int, int | None]]) -> None:
    """Insert entries from plain tuples: a batch has four or more per posting, and building
    an Entry instance per row and preparing its fields cost a third of a sweep's Python time.
    PostgreSQL takes them with one COPY; SQLite with one executemany."""
    if not rows:
        return
    table, columns = Entry._meta.db_table, ", ".join(ENTRY_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                rows,
            )


UPDATE_CHUNK = 500


def _rows_update(model: type[Lot] | type[Account], fields: list[str], rows: list[Any]) -> None:
    """Write these fields of these rows with one UPDATE ... FROM (VALUES ...) per 500 rows
    (SQLite and PostgreSQL alike): Django's bulk_update builds a CASE per row and field,
    which costs more than the rest of a sweep's batch."""
    table = model._meta.db_table
    columns = fields  # these fields have no db_column: a field's name is its column
    assignments = ", ".join(f"{column} = v.{column}" for column in columns)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPDATE_CHUNK):
            chunk = rows[start : start + UPDATE_CHUNK]
            values = ", ".join(["(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"] * len(chunk))
            cursor.execute(
                f"WITH v(id, {', '.join(columns)}) AS (VALUES {values}) "  # noqa: S608
                f"UPDATE {table} SET {assignments} FROM v WHERE {table}.id = v.id",
                [x for row in chunk for x in (row.pk, *(getattr(row, f) for f in fields))],
            )


def book_lock_many(customer_ids: list[int]) -> dict[int, Book]:
    """Lock many customers' accounts at once, in id order (no deadlock with single postings)."""
    ids = sorted(set(customer_ids))
    existing = set(
        Account.objects.filter(customer_id__in=ids).values_list("customer_id", flat=True)
    )
    Account.objects.bulk_create(
        [Account(kind=AccountKind.CUSTOMER, customer_id=c) for c in ids if c not in existing],
        ignore_conflicts=True,
    )
    system = _system_accounts()
    books = {
        account.customer_id: Book(account, system)
        for account in Account.objects.select_for_update()
        .filter(customer_id__in=ids)
        .order_by("pk")
        if account.customer_id is not None
    }
    # Every book's open lots in one read (under the locks just taken), not one per customer.
    lots: dict[int, list[Lot]] = {customer_id: [] for customer_id in books}
    for lot in Lot.objects.filter(customer_id__in=ids, remaining__gt=0):
        lots[lot.customer_id].append(lot)
    for customer_id, book in books.items():
        book._lots = lots_by_expiry(lots[customer_id])
    return books


def posted_keys(keys: list[str]) -> set[str]:
    """Which of these keys the ledger holds already."""
    return set(Transaction.objects.filter(key__in=keys).values_list("key", flat=True))


def balance_of(customer_id: int) -> Account | None:
    """The customer's cached balances, or None before their first posting."""
    return Account.objects.filter(customer_id=customer_id).first()
