"""Points follow a customer merge: the `loyalty.merges_follow` sweep.

Merging customers (customers.services.customer_merge) knows nothing of points, and
customers sit below loyalty in the layers. This sweep finds accounts of merged customers
that still hold anything and moves it to the survivor, in balanced transactions:
- each open lot moves whole into a new lot of the survivor with the same pending date
  and expiry (key `merge:lot:<lot id>`: a lot moves once);
- a debt and the status points move as they are (key `merge:rest:<account>:<last entry>`).
Held points stay until their hold is confirmed or released; what comes back to a lot then
moves on the next run.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max, Q

from lifelong.customers.models import Customer
from lifelong.loyalty.ledger import Book, book_lock_many, ledger_write
from lifelong.loyalty.models import Account, Bucket, Entry, TxKind

BATCH_SIZE = 200
CHAIN_LIMIT = 20


def loyalty_merges_follow(*, batch_size: int = BATCH_SIZE) -> int:
    """Move the points of merged customers to their survivors; returns how many accounts."""
    moved = 0
    while True:
        count = _batch(batch_size)
        moved += count
        if count < batch_size:
            return moved


def _survivor(customer_id: int) -> int:
    for _step in range(CHAIN_LIMIT):
        ahead = Customer.objects.filter(pk=customer_id).values_list("merged_into", flat=True)[0]
        if ahead is None:
            return customer_id
        customer_id = ahead
    raise ValueError(f"customer {customer_id}: merge chain longer than {CHAIN_LIMIT}")


def _batch(batch_size: int) -> int:
    leftover = Q(available__lt=0) | Q(pending__gt=0) | Q(available__gt=0) | Q(status__gt=0)
    with transaction.atomic():
        merged = list(
            Account.objects.filter(leftover, customer__merged_into__isnull=False)
            .order_by("pk")
            .values_list("customer_id", flat=True)[:batch_size]
        )
        if not merged:
            return 0
        survivors = {c: _survivor(c) for c in merged if c is not None}
        books = book_lock_many([*survivors, *survivors.values()])
        for duplicate, survivor in survivors.items():
            _move(books[duplicate], books[survivor])
        ledger_write(list(books.values()))
    return len(merged)


def _move(duplicate: Book, survivor: Book) -> None:
    comment = f"merged from customer {duplicate.customer_id}"
    for lot in list(duplicate.lots):
        if lot.remaining <= 0:
            continue
        posting = survivor.posting(key=f"merge:lot:{lot.pk}", kind=TxKind.MERGE, comment=comment)
        if posting is None:
            continue
        points = lot.remaining
        duplicate.move(posting, lot.bucket, -points, lot)
        survivor.lot_earn(
            posting,
            points,
            pending_until=None if lot.released else lot.pending_until,
            expires_at=lot.expires_at,
        )
    account = duplicate.account
    debt, status = min(0, account.available), account.status
    if not debt and not status:
        return
    last = Entry.objects.filter(account=account).aggregate(m=Max("pk"))["m"]
    posting = survivor.posting(
        key=f"merge:rest:{account.pk}:{last}", kind=TxKind.MERGE, comment=comment
    )
    if posting is None:
        return
    for bucket, points in ((Bucket.AVAILABLE, debt), (Bucket.STATUS, status)):
        duplicate.move(posting, bucket, -points)
        survivor.move(posting, bucket, points)
