"""Tiers: qualification over a rolling window, reviews and the events of a change.

Qualification
    A customer qualifies for a tier when ANY threshold of it that is not zero is met over the
    programme's rolling window (`tier_window_months`, ending now): status points (the status
    bucket's entries by their transactions' `occurred_at`, so refunds take back their share),
    spend (counted orders placed in the window, less what was refunded; cancelled and fully
    refunded orders do not count, as in the customer's summary) or orders. The qualified tier
    is the highest active tier so reached; `invitation_only` tiers are never reached, and a
    tier with no threshold (the entry level, «Новичок») is reached by everyone. A customer with
    no `CustomerTier` row holds the entry level. All of it is computed set-based: two grouped
    queries per few thousand customers (`tier_qualified`).

Up at once, down only at the review date
    Reaching a higher tier moves the customer up at once and sets `review_at`: the end of one
    window from that moment plus the grace period (`tier_grace_days`). Nothing takes a tier
    away before then. At `review_at` the customer is measured again: still qualifying keeps the
    tier for another window (plus grace) from then; otherwise they move to the tier they do
    qualify for. A tier switched off stops counting at once: its holders move to the tier they
    qualify for at the next sweep.

Manual tiers
    Staff may set a tier until a date (`tier_set_manual`, audited). While it is valid it is the
    customer's tier, unless they qualify for a higher one (upgrades are never held back); at
    `manual_until` the sweep clears it, so a manual level never silently becomes a floor.

Events
    Every change of the tier a customer holds (`tier_current`) writes one `tier_changed` event,
    properties {"from": old slug or "", "to": new slug or "", "direction": "up" | "down" |
    "manual"}. `CustomerTier.shown` is the slug last announced and `changes` counts the
    announcements; the n-th is keyed `tier_changed:<customer>:<n>` and written in the same
    transaction as the row, so a change is announced exactly once however often a sweep runs.

The sweeps (tier_sweeps.py: `loyalty_tiers_review`, every 30 s) look only at customers with
something new: order and merge events and ledger transactions after its two cursors (`Cursor` rows
`tiers.events` and `tiers.ledger`), rows whose review date or manual expiry came (partial
indexes `tier_review_due`, `tier_manual_due`), and holders of a switched-off tier.
`tiers_refresh` is the same path for a given list of customers; `loyalty_tiers_recheck`
(daily) walks every row, so thresholds lowered in the editor lift the customers who now reach
a higher tier, and a customer a cursor missed (a transaction committed out of id order) is
measured within a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Sum
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.commerce.models import Order
from lifelong.commerce.services import COUNTED
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.lib.bulk import bulk_insert
from lifelong.lib.errors import DomainError
from lifelong.loyalty.models import (
    Bucket,
    CustomerTier,
    Entry,
    Programme,
    Tier,
)
from lifelong.loyalty.services import months_add

BATCH_SIZE = 2000
EVENT_TYPE = "tier_changed"
ROW_FIELDS = [
    "tier",
    "since",
    "qualified_at",
    "review_at",
    "manual_tier",
    "manual_until",
    "manual_by",
    "manual_reason",
    "shown",
    "changes",
]
SNAPSHOT = [f"{f}_id" if f in ("tier", "manual_tier", "manual_by") else f for f in ROW_FIELDS]


class TierError(DomainError):
    """A tier change the service refuses."""


@dataclass(frozen=True)
class Totals:
    """What a customer did in the window."""

    status_points: int = 0
    spend: Decimal = Decimal(0)
    orders: int = 0


@dataclass(frozen=True)
class TierProgress:
    """Where a customer stands and what the next tier takes.

    Each `missing_*` is None when the next tier does not use that threshold; reaching any one
    of those that are not None is enough («ещё 2 заказа или 3 400 ₽»).
    """

    tier: Tier | None
    next_tier: Tier | None
    status_points: int
    spend: Decimal
    orders: int
    missing_status_points: int | None
    missing_spend: Decimal | None
    missing_orders: int | None
    window_months: int
    # The earliest moment the tier may go down (None: nothing to lose), and a manual tier's end.
    review_at: dt.datetime | None
    manual_until: dt.datetime | None


class Ladder:
    """All tiers, read once: by id and slug, and the ones qualification can reach."""

    def __init__(self) -> None:
        tiers = list(Tier.objects.order_by("position"))
        self.by_id = {t.pk: t for t in tiers}
        self.by_slug = {t.slug: t for t in tiers}
        self.reachable = [t for t in tiers if t.active and not t.invitation_only]
        open_to_all = [t for t in self.reachable if t.open_to_all]
        self.entry = open_to_all[-1] if open_to_all else None

    def qualified(self, totals: Totals) -> Tier | None:
        """The highest tier these totals reach."""
        best = None
        for tier in self.reachable:
            if tier.open_to_all or _meets(tier, totals):
                best = tier
        return best

    def held(self, row: CustomerTier | None) -> Tier | None:
        """The qualified tier a row holds (the entry level without a row or a tier yet)."""
        if row is None or row.tier_id is None:
            return self.entry
        tier = self.by_id[row.tier_id]
        return tier if tier.active else self.entry

    def current(self, row: CustomerTier | None, now: dt.datetime) -> Tier | None:
        """The tier a customer holds now: a valid manual tier, unless they qualify higher."""
        held = self.held(row)
        if row is not None and row.manual_tier_id is not None and row.manual_until is not None:
            manual = self.by_id[row.manual_tier_id]
            if manual.active and row.manual_until > now and _position(manual) >= _position(held):
                return manual
        return held

    def next_above(self, tier: Tier | None) -> Tier | None:
        return next((t for t in self.reachable if _position(t) > _position(tier)), None)


def _position(tier: Tier | None) -> int:
    return tier.position if tier is not None else -1


def _meets(tier: Tier, totals: Totals) -> bool:
    return bool(
        (tier.min_status_points and totals.status_points >= tier.min_status_points)
        or (tier.min_spend and totals.spend >= tier.min_spend)
        or (tier.min_orders and totals.orders >= tier.min_orders)
    )


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), BATCH_SIZE):
        yield ordered[start : start + BATCH_SIZE]


def window_totals(
    *, customer_ids: Iterable[int], at: dt.datetime, programme: Programme
) -> dict[int, Totals]:
    """Status points, spend and orders of each customer in the window ending at `at`.

    Two grouped queries per chunk: orders over (customer, placed_at), status entries over
    the partial index `entry_status` joined to their transactions.
    """
    since = months_add(at, -programme.tier_window_months)
    found: dict[int, dict[str, object]] = {}
    for chunk in _chunks(customer_ids):
        orders = (
            Order.objects.filter(
                COUNTED, customer_id__in=chunk, placed_at__gt=since, placed_at__lte=at
            )
            .order_by()
            .values("customer_id")
            .annotate(n=Count("pk"), spent=Sum(F("total") - F("refunded_total")))
        )
        for row in orders:
            found.setdefault(row["customer_id"], {}).update(
                orders=row["n"], spend=Decimal(row["spent"] or 0)
            )
        status = (
            Entry.objects.filter(
                bucket=Bucket.STATUS,
                account__customer_id__in=chunk,
                transaction__occurred_at__gt=since,
                transaction__occurred_at__lte=at,
            )
            .order_by()
            .values("account__customer_id")
            .annotate(points=Sum("points"))
        )
        for row in status:
            # A refund in the window of an earn before it can take the sum below zero.
            found.setdefault(row["account__customer_id"], {})["status_points"] = max(
                0, int(row["points"] or 0)
            )
    return {cid: Totals(**values) for cid, values in found.items()}  # type: ignore[arg-type]


def tier_qualified(
    *,
    customer_ids: Iterable[int],
    at: dt.datetime | None = None,
    ladder: Ladder | None = None,
    programme: Programme | None = None,
) -> dict[int, Tier | None]:
    """The tier each customer's window totals reach now (or at `at`), set-based."""
    ids = list(customer_ids)
    ladder = ladder or Ladder()
    totals = window_totals(
        customer_ids=ids, at=at or clock.now(), programme=programme or Programme.current()
    )
    return {cid: ladder.qualified(totals.get(cid, Totals())) for cid in ids}


def tiers_current(*, customer_ids: Iterable[int]) -> dict[int, Tier | None]:
    """The tier each customer holds now; two queries per few thousand customers."""
    ids = list(customer_ids)
    ladder, now = Ladder(), clock.now()
    rows: dict[int, CustomerTier] = {}
    for chunk in _chunks(ids):
        rows.update((r.customer_id, r) for r in CustomerTier.objects.filter(customer_id__in=chunk))
    return {cid: ladder.current(rows.get(cid), now) for cid in ids}


def tier_current(*, customer_id: int) -> Tier | None:
    """The tier the customer holds now (a valid manual tier, else the qualified one)."""
    return tiers_current(customer_ids=[customer_id])[customer_id]


def tier_progress(*, customer_id: int) -> TierProgress:
    """The customer's tier, window totals and exactly what the next tier still takes."""
    return tiers_progress(customer_ids=[customer_id])[customer_id]


def tiers_progress(
    *, customer_ids: Iterable[int], programme: Programme | None = None
) -> dict[int, TierProgress]:
    """`tier_progress` of each customer: the tiers, the programme (unless given), the tier
    rows and the two window totals, per few thousand customers."""
    ids = list(customer_ids)
    ladder, now = Ladder(), clock.now()
    programme = programme or Programme.read()
    rows: dict[int, CustomerTier] = {}
    for chunk in _chunks(ids):
        rows.update((r.customer_id, r) for r in CustomerTier.objects.filter(customer_id__in=chunk))
    totals = window_totals(customer_ids=ids, at=now, programme=programme)
    return {
        cid: _progress(rows.get(cid), totals.get(cid, Totals()), ladder, now, programme)
        for cid in ids
    }


def _progress(
    row: CustomerTier | None,
    totals: Totals,
    ladder: Ladder,
    now: dt.datetime,
    programme: Programme,
) -> TierProgress:
    tier = ladder.current(row, now)
    upcoming = ladder.next_above(tier)
    manual_valid = tier is not None and row is not None and tier.pk == row.manual_tier_id
    return TierProgress(
        tier=tier,
        next_tier=upcoming,
        status_points=totals.status_points,
        spend=totals.spend,
        orders=totals.orders,
        missing_status_points=(
            max(0, upcoming.min_status_points - totals.status_points)
            if upcoming and upcoming.min_status_points
            else None
        ),
        missing_spend=(
            max(Decimal(0), upcoming.min_spend - totals.spend)
            if upcoming and upcoming.min_spend
            else None
        ),
        missing_orders=(
            max(0, upcoming.min_orders - totals.orders)
            if upcoming and upcoming.min_orders
            else None
        ),
        window_months=programme.tier_window_months,
        review_at=row.review_at if row is not None and row.tier_id else None,
        manual_until=row.manual_until if manual_valid and row is not None else None,
    )


def _review_after(moment: dt.datetime, programme: Programme) -> dt.datetime:
    return months_add(moment, programme.tier_window_months) + dt.timedelta(
        days=programme.tier_grace_days
    )


def _decide(
    row: CustomerTier,
    qualified: Tier | None,
    ladder: Ladder,
    programme: Programme,
    now: dt.datetime,
) -> None:
    """Move the row's qualified tier: up at once, down only when its review is due."""
    held = ladder.by_id.get(row.tier_id) if row.tier_id else None
    stale = held is not None and not held.active
    due = row.review_at is not None and row.review_at <= now
    if stale or due or _position(qualified) > _position(held):
        if stale or qualified != held:
            row.tier = qualified
            row.since = now if qualified is not None else None
        if qualified is not None:
            row.qualified_at = now
            row.review_at = _review_after(now, programme)
        else:
            row.qualified_at = row.review_at = None
    if row.manual_tier_id is not None and row.manual_until and row.manual_until <= now:
        row.manual_tier = row.manual_until = row.manual_by = None
        row.manual_reason = ""


def _announce(
    row: CustomerTier, ladder: Ladder, now: dt.datetime, direction: str | None = None
) -> Event | None:
    """The event of a change of the tier the customer holds, or None when it did not change."""
    tier = ladder.current(row, now)
    slug = tier.slug if tier is not None else ""
    if slug == row.shown:
        return None
    if direction is None:
        before = ladder.by_slug.get(row.shown)
        direction = "up" if _position(tier) > _position(before) else "down"
    row.changes += 1
    event = Event(
        customer_id=row.customer_id,
        type=EVENT_TYPE,
        properties={"from": row.shown, "to": slug, "direction": direction},
        occurred_at=now,
        received_at=now,
        source="loyalty",
        idempotency_key=f"{EVENT_TYPE}:{row.customer_id}:{row.changes}",
    )
    row.shown = slug
    return event


def _snapshot(row: CustomerTier) -> tuple[object, ...]:
    return tuple(getattr(row, name) for name in SNAPSHOT)


def _rows_locked(customer_ids: list[int], ladder: Ladder) -> list[CustomerTier]:
    """The customers' rows, created for those without one, locked in customer order."""
    existing = set(
        CustomerTier.objects.filter(customer_id__in=customer_ids).values_list(
            "customer_id", flat=True
        )
    )
    missing = [cid for cid in customer_ids if cid not in existing]
    if missing:
        live = Customer.objects.filter(pk__in=missing, merged_into__isnull=True).values_list(
            "pk", flat=True
        )
        shown = ladder.entry.slug if ladder.entry else ""
        # A concurrent sweep may create the same row: its insert waits for ours, then skips.
        CustomerTier.objects.bulk_create(
            [CustomerTier(customer_id=cid, shown=shown) for cid in live], ignore_conflicts=True
        )
    return list(
        CustomerTier.objects.select_for_update()
        .filter(customer_id__in=customer_ids)
        .order_by("customer_id")
    )


UPDATE_CHUNK = 500


def _rows_write(rows: list[CustomerTier]) -> None:
    """Write the rows' tier fields with one UPDATE ... FROM (VALUES ...) per 500 rows:
    Django's bulk_update builds a CASE per row and field, quadratic in the batch."""
    if not rows:
        return
    meta = CustomerTier._meta
    fields = [f for f in meta.concrete_fields if f.name in ROW_FIELDS]
    columns = [f.column for f in fields]
    table = connection.ops.quote_name(meta.db_table)
    # PostgreSQL types a VALUES column from its literals (text, or nothing for all NULLs).
    cast = connection.vendor == "postgresql"
    assignments = ", ".join(
        f"{c} = CAST(v.{c} AS {f.db_type(connection)})" if cast else f"{c} = v.{c}"
        for c, f in zip(columns, fields, strict=True)
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPDATE_CHUNK):
            chunk = rows[start : start + UPDATE_CHUNK]
            row_sql = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
            cursor.execute(
                f"WITH v(id, {', '.join(columns)}) AS (VALUES {', '.join([row_sql] * len(chunk))}) "  # noqa: S608 - ours
                f"UPDATE {table} SET {assignments} FROM v WHERE {table}.id = v.id",
                [
                    value
                    for row in chunk
                    for value in (
                        row.pk,
                        *(f.get_db_prep_value(getattr(row, f.attname), connection) for f in fields),
                    )
                ],
            )


def tiers_apply(customer_ids: Iterable[int], ladder: Ladder, programme: Programme) -> int:
    """Bring these customers' tiers up to date; returns how many changed the tier they hold.

    Call inside a transaction. A fixed number of statements per chunk: the rows locked, the
    live customers without one, the two window queries, the new rows inserted whole (COPY on
    PostgreSQL), the changed ones updated per 500, the events checked and inserted.
    """
    now, announced = clock.now(), 0
    for chunk in _chunks(customer_ids):
        announced += _apply_chunk(chunk, ladder, programme, now)
    return announced


def _apply_chunk(chunk: list[int], ladder: Ladder, programme: Programme, now: dt.datetime) -> int:
    rows = list(
        CustomerTier.objects.select_for_update()
        .filter(customer_id__in=chunk)
        .order_by("customer_id")
    )
    have = {r.customer_id for r in rows}
    missing = [cid for cid in chunk if cid not in have]
    shown = ladder.entry.slug if ladder.entry else ""
    fresh = (
        [
            CustomerTier(customer_id=cid, shown=shown)
            for cid in Customer.objects.filter(
                pk__in=missing, merged_into__isnull=True
            ).values_list("pk", flat=True)
        ]
        if missing
        else []
    )
    qualified = tier_qualified(
        customer_ids=[r.customer_id for r in rows + fresh],
        at=now,
        ladder=ladder,
        programme=programme,
    )
    changed, events = [], []
    for row in rows + fresh:
        before = _snapshot(row)
        _decide(row, qualified[row.customer_id], ladder, programme, now)
        event = _announce(row, ladder, now)
        if event is not None:
            events.append(event)
        if row.pk is not None and _snapshot(row) != before:
            changed.append(row)
    if fresh:
        try:
            with transaction.atomic():
                bulk_insert(fresh)
        except IntegrityError:
            # A concurrent sweep created some of these rows first: create the rest blank and
            # decide again under the locks, from the rows as they now are.
            CustomerTier.objects.bulk_create(
                [CustomerTier(customer_id=row.customer_id, shown=shown) for row in fresh],
                ignore_conflicts=True,
            )
            return _apply_chunk(chunk, ladder, programme, now)
    _rows_write(changed)
    events_record(events)
    return len(events)


def tiers_refresh(*, customer_ids: Iterable[int]) -> int:
    """The upgrade path for customers something just happened to (an earn, an order):
    up at once, down if their review is due, manual tiers cleared if they lapsed.
    Returns how many changed tier."""
    ladder = Ladder()
    if not ladder.by_id:
        return 0
    with transaction.atomic():
        return tiers_apply(customer_ids, ladder, Programme.current())


@transaction.atomic
def tier_set_manual(
    *,
    customer_id: int,
    tier: Tier | None,
    until: dt.datetime | None,
    actor: User | None,
    reason: str,
) -> CustomerTier:
    """Give a customer a tier until a date (or, with tier None, end a manual tier), audited.

    The change is announced by the same `tier_changed` event, direction "manual".
    """
    reason = reason.strip()
    now = clock.now()
    if not reason:
        raise TierError(_("Say why the tier is set by hand."), field="reason")
    if tier is not None:
        if until is None or until <= now:
            raise TierError(_("A tier set by hand needs an end date in the future."), field="until")
        if not tier.active:
            raise TierError(_("This tier is switched off."), field="tier")
    ladder, programme = Ladder(), Programme.current()
    row = _rows_locked([customer_id], ladder)[0]
    before = row.manual_tier.slug if row.manual_tier_id and row.manual_tier else ""
    # Bring the qualified tier up to date first: the row then says what the sweep would.
    qualified = tier_qualified(
        customer_ids=[customer_id], at=now, ladder=ladder, programme=programme
    )
    _decide(row, qualified[customer_id], ladder, programme, now)
    row.manual_tier = tier
    row.manual_until = until if tier is not None else None
    row.manual_by = actor if tier is not None else None
    row.manual_reason = reason[:500] if tier is not None else ""
    event = _announce(row, ladder, now, direction="manual")
    row.save(update_fields=ROW_FIELDS)
    if event is not None:
        events_record([event])
    audit_record(
        actor=actor,
        action="loyalty.tier_manual",
        object_type="customers.customer",
        object_id=str(customer_id),
        changes={
            "from": before,
            "to": tier.slug if tier is not None else "",
            "until": until.isoformat() if tier is not None and until else None,
            "reason": reason[:500],
        },
    )
    return row
