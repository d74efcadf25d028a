"""Postings: awards (one, or a group's at once: a journey step's), burns and staff adjustments.

Each is atomic, locks the customers' accounts, and is keyed: calling again with the same key
changes nothing and returns None.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.loyalty.ledger import (
    Book,
    NotEnoughPoints,
    Posting,
    book_lock_many,
    ledger_write,
    posted_keys,
)
from lifelong.loyalty.models import (
    Account,
    AccountKind,
    Bucket,
    Entry,
    Hold,
    Lot,
    Programme,
    Transaction,
    TxKind,
)


def months_add(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day `months` later (the month's last day when it is shorter)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def lot_expiry(programme: Programme, occurred_at: dt.datetime) -> dt.datetime | None:
    """When a lot earned at `occurred_at` expires under the programme; None: never."""
    return months_add(occurred_at, programme.expiry_months) if programme.expiry_months else None


def award_post(
    book: Book,
    posting: Posting,
    *,
    points: int,
    status_points: int,
    programme: Programme,
    pending: bool = False,
) -> None:
    """Issue points as a new lot (pending through the return window when `pending`)."""
    if points:
        pending_until = (
            posting.occurred_at + dt.timedelta(days=programme.pending_days)
            if pending and programme.pending_days
            else None
        )
        book.lot_earn(
            posting,
            points,
            pending_until=pending_until,
            expires_at=lot_expiry(programme, posting.occurred_at),
        )
        book.system(posting, AccountKind.ISSUED, -points)
    if status_points:
        book.move(posting, Bucket.STATUS, status_points)
        book.system(posting, AccountKind.ISSUED, -status_points, Bucket.STATUS)


@dataclass(frozen=True)
class Award:
    """Points credited for an action (a journey step, an event rule): spendable at once.

    `reason` names what gave them: rule, event_id, enrollment_id, node_id, comment.
    """

    customer_id: int
    points: int
    key: str
    status_points: int = 0
    occurred_at: dt.datetime | None = None
    reason: Mapping[str, Any] = field(default_factory=dict)


@transaction.atomic
def points_award_many(awards: Sequence[Award]) -> list[Transaction | None]:
    """Credit many awards with a fixed number of statements: their accounts locked at once (in
    id order, like every grouped posting), their keys looked up at once, one ledger write.

    Per award, in order, its transaction, or None when its key is in the ledger already (or
    earlier in `awards`): calling again with the same keys changes nothing.
    """
    if any(a.points < 0 or a.status_points < 0 for a in awards):
        raise ValueError("an award is never negative")
    if not awards:
        return []
    books = book_lock_many([a.customer_id for a in awards])
    keys = [a.key for a in awards]
    absent = set(keys) - posted_keys(keys)
    programme = Programme.current()
    postings: list[Posting | None] = []
    for award in awards:
        if award.key not in absent:
            postings.append(None)
            continue
        absent.discard(award.key)  # the same key twice in `awards` posts once
        book = books[award.customer_id]
        posting = book.posting_new(
            key=award.key, kind=TxKind.AWARD, occurred_at=award.occurred_at, **award.reason
        )
        award_post(
            book,
            posting,
            points=award.points,
            status_points=award.status_points,
            programme=programme,
        )
        postings.append(posting)
    created = {tx.key: tx for tx in ledger_write(list(books.values()))}
    return [created[p.key] if p is not None else None for p in postings]


def points_award(
    *,
    customer_id: int,
    points: int,
    key: str,
    status_points: int = 0,
    occurred_at: dt.datetime | None = None,
    **reason: Any,
) -> Transaction | None:
    """One award (see `Award`); None when its key is in the ledger already."""
    award = Award(customer_id, points, key, status_points, occurred_at, reason)
    return points_award_many([award])[0]


@transaction.atomic
def points_redeem(
    *, customer_id: int, points: int, key: str, order_id: int | None = None
) -> Transaction | None:
    """Spend available points, oldest-expiring lots first; NotEnoughPoints if short."""
    if points <= 0:
        raise ValueError("spend a positive number of points")
    book = Book.open(customer_id=customer_id)
    posting = book.posting(key=key, kind=TxKind.REDEEM, order_id=order_id)
    if posting is None:
        return None
    if book.account.available < points:
        raise NotEnoughPoints(f"{book.account.available} points available, {points} asked")
    book.draw(posting, points)
    book.system(posting, AccountKind.REDEEMED, points)
    return ledger_write([book])[0]


@transaction.atomic
def points_adjust(
    *, customer_id: int, points: int, key: str, staff: User, comment: str
) -> Transaction | None:
    """A staff correction with its reason: a new lot when positive, a burn when negative.

    It never takes the balance below zero: a debt comes only from refunds.
    """
    if not points or not comment.strip():
        raise ValueError("an adjustment needs points and a comment")
    book = Book.open(customer_id=customer_id)
    posting = book.posting(key=key, kind=TxKind.ADJUST, staff=staff, comment=comment[:500])
    if posting is None:
        return None
    if points > 0:
        book.lot_earn(
            posting,
            points,
            pending_until=None,
            expires_at=lot_expiry(Programme.current(), posting.occurred_at),
        )
    else:
        if book.account.available < -points:
            raise NotEnoughPoints(f"{book.account.available} points available, {-points} asked")
        book.draw(posting, -points)
    book.system(posting, AccountKind.ADJUSTED, -points)
    tx = ledger_write([book])[0]
    audit_record(
        actor=staff,
        action="loyalty.adjust",
        object_type="customers.customer",
        object_id=str(customer_id),
        changes={"points": points, "comment": comment[:500], "transaction": tx.pk},
    )
    return tx


ERASE_CHUNK = 5000
_ERASE = (
    "DELETE FROM {entry} WHERE transaction_id IN "
    "(SELECT id FROM {transaction} WHERE customer_id IN ({ids}))",
    "DELETE FROM {lot} WHERE customer_id IN ({ids})",
    "DELETE FROM {transaction} WHERE customer_id IN ({ids})",
    "DELETE FROM {hold} WHERE customer_id IN ({ids})",
    "DELETE FROM {account} WHERE customer_id IN ({ids})",
)


@transaction.atomic
def ledger_erase(*, customer_ids: list[int]) -> None:
    """Delete these customers' points, entries and all. Only the demo calls it, to rebuild
    its own made-up shop: a real ledger is never erased."""
    names = {
        "entry": Entry._meta.db_table,
        "lot": Lot._meta.db_table,
        "transaction": Transaction._meta.db_table,
        "account": Account._meta.db_table,
        "hold": Hold._meta.db_table,
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL lifelong.ledger_erase = 'on'")
        for start in range(0, len(customer_ids), ERASE_CHUNK):
            chunk = customer_ids[start : start + ERASE_CHUNK]
            for sql in _ERASE:
                cursor.execute(sql.format(**names, ids=", ".join(["%s"] * len(chunk))), chunk)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL lifelong.ledger_erase = 'off'")
