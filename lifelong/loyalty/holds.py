"""Checkout holds: reserve points against an order, then confirm (perhaps for less) or cancel.

Each service locks the customer's account (`Book.open`) before it reads the hold, so two
calls on one hold, or two reserves against one balance, run one after the other; on SQLite
the IMMEDIATE transaction serialises them. The postings are those of ledger.py, "Holds";
the hold's `status` moves in the same transaction as its posting, so a hold is confirmed or
released exactly once. A hold past its `expires_at` is never confirmed: the confirm voids it
there and then, and `loyalty_holds_expire` voids the rest (batches of the `hold_open_due`
index, customers locked in id order).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from lifelong import clock
from lifelong.lib.errors import DomainError
from lifelong.loyalty.ledger import (
    Book,
    NotEnoughPoints,
    Posting,
    book_lock_many,
    ledger_write,
    lots_by_expiry,
)
from lifelong.loyalty.models import (
    AccountKind,
    Bucket,
    Entry,
    Hold,
    HoldStatus,
    Lot,
    Programme,
    TxKind,
)

BATCH_SIZE = 1000
TIMEOUT_DEFAULT = 900
TIMEOUT_MAX = 86400


class HoldConflict(DomainError):
    """The hold cannot do that in its present state (confirmed, cancelled, expired, taken)."""


def burn_limit(*, programme: Programme, total: Decimal) -> int:
    """The most points that may pay for an order of `total` (before points): the programme's
    largest share of it at the point value, rounded down. Integer division of Decimals is
    exact, so a limit is never rounded up."""
    return int(total * programme.max_share_percent // (100 * programme.point_value))


def hold_reserve(
    *,
    customer_id: int,
    order_external_id: str,
    points: int,
    timeout_seconds: int,
    order_total: Decimal | None = None,
) -> Hold:
    """Hold `points` of the available balance for the order until the time-out.

    NotEnoughPoints when the balance is short; HoldConflict when the programme is off or the
    order already has an open hold. With `order_total` (what the customer pays before points)
    a hold above the programme's largest share of it is refused; without it the share cannot
    be checked here (the quote reports the limit).
    """
    if points <= 0:
        raise DomainError("Hold a positive number of points.", field="points")
    if not 1 <= timeout_seconds <= TIMEOUT_MAX:
        raise DomainError(f"From 1 to {TIMEOUT_MAX} seconds.", field="timeout_seconds")
    if order_total is not None and order_total < 0:
        raise DomainError("An order total is not negative.", field="order_total")
    programme = Programme.current()
    if not programme.enabled:
        raise HoldConflict("The loyalty programme is off: points cannot be spent.")
    if order_total is not None:
        limit = burn_limit(programme=programme, total=order_total)
        if points > limit:
            raise DomainError(
                f"At most {limit} points may pay for an order of {order_total}: "
                f"{programme.max_share_percent}% of it at {programme.point_value} a point; "
                f"{points} asked.",
                field="points",
            )
    with transaction.atomic():
        book = Book.open(customer_id=customer_id)
        now = clock.now()
        # Under the account lock no other reserve of this customer runs: the check holds
        # (the partial unique constraint `hold_one_open_per_order` backs it).
        earlier = Hold.objects.filter(
            customer_id=customer_id, order_external_id=order_external_id, status=HoldStatus.OPEN
        ).first()
        if earlier is not None and earlier.expires_at > now:
            raise HoldConflict(
                f"Order {order_external_id} already has an open hold: confirm or cancel it first.",
                field="order_external_id",
            )
        if earlier is not None:
            # Timed out, not swept yet: void it now, so a checkout retried late can hold again.
            _release_plan(book, earlier, HoldStatus.EXPIRED, holds_drawn([earlier.pk])[earlier.pk])
            earlier.closed_at = now
            ledger_write([book])
            earlier.save(update_fields=["status", "closed_at"])
        if book.account.available < points:
            raise NotEnoughPoints(
                f"{book.account.available} points available, {points} asked.", field="points"
            )
        hold = Hold.objects.create(
            customer_id=customer_id,
            order_external_id=order_external_id,
            points=points,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=timeout_seconds),
        )
        posting = book.posting_new(key=f"hold:{hold.pk}", kind=TxKind.HOLD, occurred_at=now)
        book.draw(posting, points)
        book.move(posting, Bucket.HELD, points)
        ledger_write([book])
    return hold


def hold_confirm(*, hold_id: int, points: int) -> Hold:
    """Spend `points` (at most those held) of an open hold and give the rest back."""
    hold = _hold_close(hold_id=hold_id, confirm=points)
    if hold.status != HoldStatus.CONFIRMED:
        # The time-out voided it just now; that is committed, the confirm is refused.
        raise _closed(hold)
    return hold


def hold_cancel(*, hold_id: int) -> Hold:
    """Give an open hold's points back. Cancelling a cancelled or expired hold changes nothing."""
    hold = _hold_close(hold_id=hold_id, confirm=None)
    if hold.status == HoldStatus.CONFIRMED:
        raise _closed(hold)
    return hold


@transaction.atomic
def _hold_close(*, hold_id: int, confirm: int | None) -> Hold:
    customer_id = Hold.objects.filter(pk=hold_id).values_list("customer_id", flat=True).first()
    if customer_id is None:
        raise Hold.DoesNotExist(f"No hold {hold_id}.")
    book = Book.open(customer_id=customer_id)
    hold = Hold.objects.get(pk=hold_id)  # read again under the lock
    if hold.status != HoldStatus.OPEN:
        if confirm is not None:
            raise _closed(hold)
        return hold
    now = clock.now()
    drawn = holds_drawn([hold.pk])[hold.pk]
    if hold.expires_at <= now:
        _release_plan(book, hold, HoldStatus.EXPIRED, drawn)
    elif confirm is None:
        _release_plan(book, hold, HoldStatus.CANCELLED, drawn)
    else:
        if not 1 <= confirm <= hold.points:
            raise DomainError(f"Confirm from 1 to the {hold.points} points held.", field="points")
        posting = book.posting_new(key=f"hold:{hold.pk}:confirm", kind=TxKind.CONFIRM)
        book.move(posting, Bucket.HELD, -hold.points)
        book.system(posting, AccountKind.REDEEMED, confirm)
        _give_back(book, posting, drawn, hold.points - confirm)
        hold.status, hold.confirmed_points = HoldStatus.CONFIRMED, confirm
    hold.closed_at = now
    ledger_write([book])
    hold.save(update_fields=["status", "confirmed_points", "closed_at"])
    return hold


def _closed(hold: Hold) -> HoldConflict:
    if hold.status == HoldStatus.CONFIRMED:
        return HoldConflict(f"Hold {hold.pk} is already confirmed for {hold.confirmed_points}.")
    if hold.status == HoldStatus.EXPIRED:
        return HoldConflict(f"Hold {hold.pk} expired: its points are back on the balance.")
    return HoldConflict(f"Hold {hold.pk} is cancelled: its points are back on the balance.")


def _release_plan(book: Book, hold: Hold, status: str, drawn: dict[int, int]) -> None:
    posting = book.posting_new(key=f"hold:{hold.pk}:release", kind=TxKind.UNHOLD)
    book.move(posting, Bucket.HELD, -hold.points)
    _give_back(book, posting, drawn, hold.points)
    hold.status = status


def holds_drawn(hold_ids: list[int]) -> dict[int, dict[int, int]]:
    """Per hold, the points its reserve drew from each lot (one grouped query)."""
    rows = (
        Entry.objects.filter(
            transaction__key__in=[f"hold:{pk}" for pk in hold_ids],
            bucket=Bucket.AVAILABLE,
            lot__isnull=False,
        )
        .values("transaction__key", "lot_id")
        .annotate(n=Sum("points"))
    )
    drawn: dict[int, dict[int, int]] = {pk: {} for pk in hold_ids}
    for row in rows:
        drawn[int(row["transaction__key"].split(":")[1])][row["lot_id"]] = -row["n"]
    return drawn


def _give_back(book: Book, posting: Posting, drawn: dict[int, int], points: int) -> None:
    """Return `points` to the lots the hold drew from, latest-expiring first."""
    if points <= 0:
        return  # a confirm of all that was held gives nothing back: no lots to read
    lots = [book.lot_get(lot.pk, lot) for lot in Lot.objects.filter(pk__in=drawn)]
    for lot in reversed(lots_by_expiry(lots)):
        if points <= 0:
            return
        n = min(points, drawn[lot.pk])
        book.give_back(posting, lot, n)
        points -= n


def loyalty_holds_expire(*, batch_size: int = BATCH_SIZE) -> int:
    """Void every open hold past its time-out; returns how many."""
    done = 0
    while True:
        with transaction.atomic():
            count = _expire_batch(batch_size)
        done += count
        if count < batch_size:
            return done


def _expire_batch(batch_size: int) -> int:
    # No row lock on the holds: confirm and cancel lock the account first and then write the
    # hold, so locking holds before accounts here could deadlock with them. Two sweeps that
    # pick the same batch queue on the account locks, and the second finds nothing open.
    now = clock.now()
    due = Hold.objects.filter(status=HoldStatus.OPEN, expires_at__lte=now)
    # In the order of the partial index `hold_open_due`: a batch is a range scan of it.
    due = due.order_by("expires_at", "pk")
    rows = list(due.values_list("pk", "customer_id")[:batch_size])
    if not rows:
        return 0
    books = book_lock_many([customer for _pk, customer in rows])
    # Read again under the account locks: a confirm or cancel may have closed some meanwhile.
    holds = list(Hold.objects.filter(pk__in=[pk for pk, _c in rows], status=HoldStatus.OPEN))
    drawn = holds_drawn([hold.pk for hold in holds])
    for hold in holds:
        _release_plan(books[hold.customer_id], hold, HoldStatus.EXPIRED, drawn[hold.pk])
        hold.closed_at = now
    ledger_write(list(books.values()))
    Hold.objects.bulk_update(holds, ["status", "closed_at"])
    return len(rows)
