"""The tier sweeps: which customers to measure again, and when (see tiers.py for how).

`loyalty_tiers_review` (every 30 s) takes customers with new order and merge events or ledger
transactions after its two cursors, rows whose review date or manual expiry came, and holders
of a switched-off tier; `loyalty_tiers_recheck` (daily) walks every row.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Max, QuerySet

from lifelong import clock
from lifelong.events.models import Event
from lifelong.loyalty.models import Cursor, CustomerTier, Programme, Transaction
from lifelong.loyalty.tiers import BATCH_SIZE, Ladder, tiers_apply

# Events that change a customer's orders in the window (a merge brings the duplicate's).
ACTIVITY_EVENTS = (
    "order_placed",
    "order_paid",
    "order_delivered",
    "order_cancelled",
    "order_refunded",
    "order_refund",
    "order_returned",
    "customer_merged",
)
EVENTS_CURSOR = "tiers.events"
LEDGER_CURSOR = "tiers.ledger"


def _claim(query: QuerySet[CustomerTier], batch_size: int) -> list[int]:
    if connection.features.has_select_for_update_skip_locked:
        # Workers on other machines take other rows.
        query = query.select_for_update(skip_locked=True)
    return list(query.values_list("customer_id", flat=True)[:batch_size])


def _cursor_pass(name: str, batch_size: int, ladder: Ladder, programme: Programme) -> int:
    """Customers with new order events (or new ledger transactions) after the cursor.

    The cursor moves to the newest id seen at the start when a batch comes up short, so the
    events that do not matter (the tier sweep's own among them) are read past only once.
    """
    announced = 0
    while True:
        with transaction.atomic():
            Cursor.objects.get_or_create(name=name)
            cursor = Cursor.objects.select_for_update().get(name=name)
            model: type[Event] | type[Transaction] = Event if name == EVENTS_CURSOR else Transaction
            newest = model.objects.aggregate(newest=Max("pk"))["newest"] or 0
            source = model.objects.filter(pk__gt=cursor.last_event_id, pk__lte=newest)
            if model is Event:
                source = source.filter(customer__isnull=False, type__in=ACTIVITY_EVENTS)
            rows = list(source.order_by("pk").values_list("pk", "customer_id")[:batch_size])
            if rows:
                announced += tiers_apply({cid for _pk, cid in rows}, ladder, programme)
            last = rows[-1][0] if len(rows) == batch_size else newest
            if last > cursor.last_event_id:
                cursor.last_event_id = last
                cursor.save(update_fields=["last_event_id"])
        if len(rows) < batch_size:
            return announced


def _due_pass(batch_size: int, ladder: Ladder, programme: Programme) -> int:
    """Rows whose review date or manual expiry came, and holders of a switched-off tier."""
    now, announced, seen = clock.now(), 0, set[int]()
    off = [pk for pk, tier in ladder.by_id.items() if not tier.active]
    queries: list[Callable[[], QuerySet[CustomerTier]]] = [
        lambda: CustomerTier.objects.filter(review_at__lte=now).order_by("review_at"),
        lambda: CustomerTier.objects.filter(
            manual_tier__isnull=False, manual_until__lte=now
        ).order_by("manual_until"),
        lambda: CustomerTier.objects.filter(tier_id__in=off).order_by("customer_id"),
    ]
    for query in queries:
        while True:
            with transaction.atomic():
                ids = _claim(query(), batch_size)
                fresh = [cid for cid in ids if cid not in seen]
                announced += tiers_apply(fresh, ladder, programme)
            seen.update(ids)
            # A row still due after its turn (it should not be) must not loop forever.
            if len(ids) < batch_size or not fresh:
                break
    return announced


def loyalty_tiers_review(*, batch_size: int = BATCH_SIZE) -> int:
    """The tier sweep: customers with new activity, due reviews, lapsed manual tiers.

    Returns how many customers changed tier.
    """
    ladder = Ladder()
    if not ladder.by_id:
        # No tiers yet: the cursors wait, so the first tiers see all the history.
        return 0
    programme = Programme.current()
    announced = _cursor_pass(EVENTS_CURSOR, batch_size, ladder, programme)
    announced += _cursor_pass(LEDGER_CURSOR, batch_size, ladder, programme)
    return announced + _due_pass(batch_size, ladder, programme)


def loyalty_tiers_recheck(*, batch_size: int = BATCH_SIZE) -> int:
    """Measure every customer with a tier row again (daily): thresholds lowered in the
    editor lift at once those who now reach a higher tier. Batches walk the rows by
    customer id; nobody goes down before their review date."""
    ladder = Ladder()
    if not ladder.by_id:
        return 0
    programme, announced, after = Programme.current(), 0, 0
    while True:
        with transaction.atomic():
            ids = list(
                CustomerTier.objects.filter(customer_id__gt=after)
                .order_by("customer_id")
                .values_list("customer_id", flat=True)[:batch_size]
            )
            if not ids:
                return announced
            announced += tiers_apply(ids, ladder, programme)
        after = ids[-1]
        if len(ids) < batch_size:
            return announced
