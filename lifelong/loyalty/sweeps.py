"""The lot sweeps: pending points become spendable, expired points leave.

Both walk their partial index (`lot_release_due`, `lot_expiry_due`) in batches of lot ids.
Each lot gets its own transaction with its own key (`release:<lot>`, `expire:<lot>`), so a
lot is released or expired exactly once however often the sweep runs or crashes, and one
customer's lot never waits for another's. A batch still costs a handful of statements: the
customers' accounts are locked in one query and every posting of the batch is written with
bulk inserts (ledger.ledger_write). Expiry never clamps: it takes exactly what is left of
the lot, as the lot's entries say.
"""

from __future__ import annotations

from django.db import connection, transaction

from lifelong import clock
from lifelong.loyalty.ledger import book_lock_many, ledger_write, posted_keys
from lifelong.loyalty.models import AccountKind, Lot, TxKind

BATCH_SIZE = 1000


def loyalty_release_pending(*, batch_size: int = BATCH_SIZE) -> int:
    """Release every lot whose pending period is over; returns how many lots."""
    return _sweep(batch_size, release=True)


def loyalty_expire_due(*, batch_size: int = BATCH_SIZE) -> int:
    """Expire what is left of every lot past its expiry; returns how many lots."""
    return _sweep(batch_size, release=False)


def _sweep(batch_size: int, *, release: bool) -> int:
    done, after = 0, 0
    while True:
        with transaction.atomic():
            count, after = _batch(batch_size, after, release=release)
        done += count
        if count < batch_size:
            return done


def _due(release: bool) -> dict[str, object]:
    now = clock.now()
    if release:
        return {"released": False, "pending_until__lte": now}
    return {"remaining__gt": 0, "expires_at__lte": now}


def _batch(batch_size: int, after: int, *, release: bool) -> tuple[int, int]:
    """One batch of due lots with ids above `after`: (lots handled, the last id)."""
    due = Lot.objects.filter(pk__gt=after, **_due(release)).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        # Workers on other machines take other batches.
        due = due.select_for_update(skip_locked=True, of=("self",))
    ids = list(due.values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0, after
    customers = Lot.objects.filter(pk__in=ids).values_list("customer_id", flat=True)
    books = book_lock_many(list(customers))
    prefix = "release" if release else "expire"
    taken = posted_keys([f"{prefix}:{pk}" for pk in ids])
    # Read again under the account locks: a refund may have changed a lot meanwhile.
    for lot in Lot.objects.filter(pk__in=ids, **_due(release)).order_by("pk"):
        key = f"{prefix}:{lot.pk}"
        if key in taken:
            continue
        book = books[lot.customer_id]
        lot = book.lot_get(lot.pk, lot)
        if release:
            posting = book.posting_new(key=key, kind=TxKind.RELEASE)
            book.release(posting, lot)
            if not posting.entries:
                book.postings.remove(posting)  # nothing left to release: only the flag moves
        else:
            posting = book.posting_new(key=key, kind=TxKind.EXPIRE)
            points = lot.remaining
            book.move(posting, lot.bucket, -points, lot)
            book.system(posting, AccountKind.EXPIRED, points)
    ledger_write(list(books.values()))
    return len(ids), ids[-1]
