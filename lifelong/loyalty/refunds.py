"""Refunds and cancellations: take back the order's earn and give back its burn.

The rounding rule (fixed): each refund is a share of the order. A refund that names its lines
(SKU and quantity) is the share those units had of the earn (their money times the multiplier
they earned at, as recorded on the earn) and of the burn (their money); a refund of an amount
alone is amount / order total, for both. After refunds adding up to share S (at most 1), the
order's earn E has had floor(E x S) points taken back and its burn B floor(B x S) given back,
in all. Each refund posts the difference between that and what earlier refunds posted, so
partial refunds never take back more than was earned (the floor), add up to exactly the same
as one refund of their sum, and a full refund or a cancellation (share 1) takes back exactly
E and gives back exactly B.

Points of the order's lot that expired are never taken back. Taking back draws first from
the order's own lot (pending or available), then from the customer's other available lots,
oldest-expiring first; what is still missing becomes a debt or a recorded shortfall, by the
programme's policy (ledger.py, "Debt"). Giving back returns points to the lots the burn
drew from, latest-expiring first; points of a lot whose expiry has passed expire in the
same transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.db.models import Q, Sum

from lifelong import clock
from lifelong.commerce.models import Order, Refund
from lifelong.loyalty.ledger import Book, lots_by_expiry
from lifelong.loyalty.models import (
    AccountKind,
    Bucket,
    DebtPolicy,
    Entry,
    Hold,
    HoldStatus,
    Lot,
    Programme,
    Transaction,
    TxKind,
)
from lifelong.loyalty.services import lot_expiry


@dataclass(frozen=True)
class Share:
    """How much of an order its refunds so far gave back: of its earn, and of its burn."""

    earn: Fraction
    burn: Fraction


WHOLE = Share(Fraction(1), Fraction(1))


def share_of(points: int, share: Fraction) -> int:
    """floor(points x share), exactly; a share of 1 or more is all of it."""
    if share >= 1:
        return points
    return points * share.numerator // share.denominator


def earn_lines(lines: Iterable[tuple[str, int, Decimal, Decimal]]) -> list[list[str]]:
    """What an earn records of its lines, per SKU: quantity, money and multiplier, so a refund
    by lines later takes back exactly what those lines earned, whatever the rules are then."""
    by_sku: dict[str, list[Any]] = {}
    for sku, quantity, money, multiplier in lines:
        row = by_sku.setdefault(sku, [0, Decimal(0), Decimal(0)])
        row[0] += quantity
        row[1] += money
        row[2] += money * multiplier
    return [[sku, str(q), str(money), str(weight)] for sku, (q, money, weight) in by_sku.items()]


def refunds_share(*, order: Order, upto_refund_id: int) -> Share:
    """The share of the order given back by its refunds up to this one (by id)."""
    earn = Transaction.objects.filter(order_id=order.pk, kind=TxKind.EARN).first()
    recorded = {
        sku: (int(q), Fraction(Decimal(money)), Fraction(Decimal(weight)))
        for sku, q, money, weight in ((earn.lines or []) if earn else [])
    }
    money_total = sum((m for _q, m, _w in recorded.values()), Fraction(0))
    weight_total = sum((w for _q, _m, w in recorded.values()), Fraction(0))
    refunds = Refund.objects.filter(order=order, pk__lte=upto_refund_id).prefetch_related("lines")
    earn_share = burn_share = Fraction(0)
    for refund in refunds:
        lines = list(refund.lines.all())
        if lines and money_total > 0 and all(ln.sku in recorded for ln in lines):
            parts = [
                (Fraction(ln.quantity, recorded[ln.sku][0]), ln.sku)
                for ln in lines
                if recorded[ln.sku][0] > 0
            ]
            burn_share += sum((p * recorded[sku][1] for p, sku in parts), Fraction(0)) / money_total
            if weight_total > 0:
                earn_share += (
                    sum((p * recorded[sku][2] for p, sku in parts), Fraction(0)) / weight_total
                )
        elif order.total > 0:
            amount = Fraction(refund.amount) / Fraction(order.total)
            earn_share += amount
            burn_share += amount
    return Share(min(earn_share, Fraction(1)), min(burn_share, Fraction(1)))


def _system_sum(order_id: int, kinds: tuple[str, ...], account: str, bucket: int) -> int:
    total = Entry.objects.filter(
        transaction__order_id=order_id,
        transaction__kind__in=kinds,
        account__kind=account,
        bucket=bucket,
    ).aggregate(s=Sum("points"))["s"]
    return int(total or 0)


def _confirmed_holds(orders: Iterable[Order]) -> list[tuple[int, int, str, int]]:
    """(hold, customer, order external id, points) of the confirmed holds on these orders.

    A hold names its order by external id (checkout reserves before the shop sends the
    order), so this is how a confirmed checkout's points reach the order's earn and refunds.
    """
    by_customer = {(o.customer_id, o.external_id) for o in orders}
    rows = Hold.objects.filter(
        status=HoldStatus.CONFIRMED,
        order_external_id__in={external_id for _c, external_id in by_customer},
    ).values_list("pk", "customer_id", "order_external_id", "confirmed_points")
    return [
        (pk, customer, external_id, int(points or 0))
        for pk, customer, external_id, points in rows
        if (customer, external_id) in by_customer
    ]


def orders_burned(orders: Iterable[Order]) -> dict[int, int]:
    """Points spent on each of these orders: redeemed against it, and confirmed holds on it
    (a few queries for all). Refunds giving points back do not lower it: an order's earn is
    the same whenever the sweep reads its payment."""
    orders = list(orders)
    burned: dict[int, int] = defaultdict(int)
    rows = (
        Entry.objects.filter(
            transaction__order_id__in=[o.pk for o in orders],
            transaction__kind=TxKind.REDEEM,
            account__kind=AccountKind.REDEEMED,
            bucket=Bucket.AVAILABLE,
        )
        .values_list("transaction__order_id")
        .annotate(s=Sum("points"))
    )
    for order_id, total in rows:
        burned[order_id] += int(total)
    order_of = {(o.customer_id, o.external_id): o.pk for o in orders}
    for _pk, customer, external_id, points in _confirmed_holds(orders):
        burned[order_of[(customer, external_id)]] += points
    return dict(burned)


def order_reverse(
    book: Book,
    *,
    order: Order,
    share: Share,
    key: str,
    programme: Programme,
    **reason: Any,
) -> None:
    """Plan the take-back and give-back for an order refunded by `share` in all so far."""
    _earn_take_back(book, order=order, share=share.earn, key=key, programme=programme, **reason)
    _burn_give_back(book, order=order, share=share.burn, key=key, programme=programme, **reason)


def _earn_take_back(
    book: Book,
    *,
    order: Order,
    share: Fraction,
    key: str,
    programme: Programme,
    **reason: Any,
) -> None:
    earn = Transaction.objects.filter(order_id=order.pk, kind=TxKind.EARN).first()
    if earn is None:
        return
    lot = Lot.objects.filter(source=earn).first()
    earned = lot.points if lot else 0
    status_earned = _tx_issued(earn, Bucket.STATUS)
    taken = _system_sum(order.pk, (TxKind.REVERSE,), AccountKind.ISSUED, 1) + int(
        Transaction.objects.filter(order_id=order.pk, kind=TxKind.REVERSE).aggregate(
            s=Sum("shortfall")
        )["s"]
        or 0
    )
    status_taken = _system_sum(order.pk, (TxKind.REVERSE,), AccountKind.ISSUED, Bucket.STATUS)
    # Points of the lot that expired are gone already: they are never owed again.
    due = min(share_of(earned, share), earned - _expired_from(lot)) - taken
    status_due = share_of(status_earned, share) - status_taken
    if due <= 0 and status_due <= 0:
        return
    posting = book.posting(key=f"{key}:reverse", kind=TxKind.REVERSE, order_id=order.pk, **reason)
    if posting is None:
        return
    if due > 0:
        # After a customer merge the order's lot may be the merged customer's (moved empty).
        own = book.lot_get(lot.pk) if lot and lot.customer_id == book.customer_id else None
        from_lot = min(due, own.remaining) if own else 0
        if own and from_lot:
            book.move(posting, own.bucket, -from_lot, own)
        rest = due - from_lot
        rest -= book.draw(posting, rest)
        if rest and programme.debt_policy == DebtPolicy.DEBT:
            book.move(posting, Bucket.AVAILABLE, -rest)
        else:
            posting.shortfall = rest
        book.system(posting, AccountKind.ISSUED, due - posting.shortfall)
    if status_due > 0:
        book.move(posting, Bucket.STATUS, -status_due)
        book.system(posting, AccountKind.ISSUED, status_due, Bucket.STATUS)


def _expired_from(lot: Lot | None) -> int:
    """What of the lot expired: its draws by expiry, and the at-once expiry of give-backs
    (the only lot draws a give-back transaction makes)."""
    if lot is None:
        return 0
    total = Entry.objects.filter(
        lot=lot,
        points__lt=0,
        transaction__kind__in=(TxKind.EXPIRE, TxKind.RESTORE, TxKind.CONFIRM, TxKind.UNHOLD),
    ).aggregate(s=Sum("points"))["s"]
    return -int(total or 0)


def _tx_issued(tx: Transaction, bucket: int) -> int:
    total = Entry.objects.filter(
        transaction=tx, account__kind=AccountKind.ISSUED, bucket=bucket
    ).aggregate(s=Sum("points"))["s"]
    return -int(total or 0)


def _burn_give_back(
    book: Book,
    *,
    order: Order,
    share: Fraction,
    key: str,
    programme: Programme,
    **reason: Any,
) -> None:
    holds = _confirmed_holds([order])
    burned = _system_sum(order.pk, (TxKind.REDEEM,), AccountKind.REDEEMED, 1) + sum(
        points for _pk, _c, _e, points in holds
    )
    restored = -_system_sum(order.pk, (TxKind.RESTORE,), AccountKind.REDEEMED, 1)
    due = share_of(burned, share) - restored
    if due <= 0:
        return
    posting = book.posting(key=f"{key}:restore", kind=TxKind.RESTORE, order_id=order.pk, **reason)
    if posting is None:
        return
    # What each lot gave to the order's burns (redeems; holds less what their confirm gave
    # back), less what refunds gave back to it already.
    hold_keys = [k for pk, *_ in holds for k in (f"hold:{pk}", f"hold:{pk}:confirm")]
    open_by_lot: dict[int, int] = defaultdict(int)
    rows = Entry.objects.filter(
        Q(transaction__order_id=order.pk, transaction__kind__in=(TxKind.REDEEM, TxKind.RESTORE))
        | Q(transaction__key__in=hold_keys),
        account_id=book.account.pk,
        lot__isnull=False,
    ).values_list("lot_id", "points", "transaction__kind")
    for lot_id, points, kind in rows:
        # Draws are negative; give-backs positive (an at-once expiry after one is not one).
        if kind in (TxKind.REDEEM, TxKind.HOLD) or points > 0:
            open_by_lot[lot_id] -= points
    lots = [book.lot_get(lot_id) for lot_id, n in open_by_lot.items() if n > 0]
    left = due
    for lot in reversed(lots_by_expiry(lots)):
        n = min(left, open_by_lot[lot.pk])
        book.give_back(posting, lot, n)
        left -= n
        if not left:
            break
    if left:
        # The lots it came from are another customer's (merged into this one since): the
        # rest comes back as a new lot, never lost.
        book.lot_earn(
            posting, left, pending_until=None, expires_at=lot_expiry(programme, clock.now())
        )
    book.system(posting, AccountKind.REDEEMED, -due)
