"""Writes for stages, RFM scores, churn reasons and segment memberships.

Everything here is set-based: whole-table work is a handful of SQL statements per
chunk of customers, and only rows that changed travel through Python (as ids, to
write history rows and events in bulk).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.events.services import event_record, events_record, events_record_from
from lifelong.segments.models import (
    ChurnKind,
    ChurnReason,
    CustomerState,
    LifecycleRules,
    Segment,
    SegmentMembership,
    StageChange,
)
from lifelong.segments.rfm import (
    discount_shares_select,
    loyal_type_expression,
    rfm_scores_queryset,
    rfm_segment_expression,
    stale_discount_queryset,
)
from lifelong.segments.rules import RuleGroup, rules_compile, rules_parse
from lifelong.segments.sql import (
    analyze,
    db_datetime,
    execute,
    insert_select,
    json_object,
    scratch_table,
    sweep_memory,
    table_of,
    update_from,
)
from lifelong.segments.stages import Epoch, stage_expression, stage_start_expression

log = logging.getLogger(__name__)

ID_CHUNK = 5_000
BATCH = 2_000
SOURCE = "segments"


def customer_states_ensure() -> int:
    """Create the missing CustomerState rows (unclassified) for live customers.

    Also drops the rows of customers merged away: a tombstone has no stage. The missing
    ids are one EXCEPT of two id lists, which the database hashes or sorts: a NOT EXISTS
    anti-join planned on stale statistics probed the state table once per customer.
    """
    CustomerState.objects.filter(customer__merged_into__isnull=False).delete()
    # Every remaining state row belongs to a live customer, so equal counts (two
    # index-only scans) mean nothing is missing and the set difference can be skipped.
    if CustomerState.objects.count() == Customer.objects.live().count():
        return 0
    customers, states = table_of(Customer), table_of(CustomerState)
    # "WHERE 1 = 1" keeps SQLite from reading ON CONFLICT as a join condition.
    return execute(
        f"INSERT INTO {states} (customer_id, stage, rfm_segment, loyal_type) "  # noqa: S608
        f"SELECT missing.id, '', '', '' FROM (SELECT id FROM {customers} "
        f"WHERE merged_into_id IS NULL EXCEPT SELECT customer_id FROM {states}) AS missing "
        "WHERE 1 = 1 ON CONFLICT DO NOTHING"
    )


def stages_refresh() -> int:
    """Sweep: recompute every live customer's lifecycle stage; returns how many changed.

    A handful of statements for the whole table, whatever its size: the CASE of
    `stage_expression` over customers LEFT JOIN their state lists the customers whose
    stage moved into a scratch table, and from it one UPDATE writes the existing state
    rows, one INSERT creates the missing ones (already classified: no insert-then-update
    of a million rows on the first run), one INSERT ... SELECT appends the StageChange
    rows and one more the "stage_changed" events (except for a customer's first
    classification). Unchanged customers are read, never written or locked. Runs hold
    the LifecycleRules row, so two workers never record the same transition twice.
    """
    now = clock.now()
    LifecycleRules.current()
    with transaction.atomic():
        rules = LifecycleRules.objects.select_for_update().get(pk=1)
        sweep_memory()
        CustomerState.objects.filter(customer__merged_into__isnull=False).delete()
        moves = (
            Customer.objects.live()
            .order_by()
            .annotate(
                old_stage=Coalesce("state__stage", Value("")),
                new_stage=stage_expression(rules, now=now, p_alive="state__p_alive"),
                has_state=_as_boolean(Q(state__isnull=False)),
            )
            .exclude(old_stage=F("new_stage"))
            .annotate(
                # Never before the stage it follows began: the card's history stays in order.
                since=Greatest(
                    stage_start_expression(rules, now=now, stage="new_stage"),
                    Coalesce(Epoch("state__stage_since"), Value(0.0)),
                )
            )
            .values_list("pk", "old_stage", "new_stage", "has_state", "since")
        )
        columns = (
            "customer_id bigint, from_stage varchar(16), to_stage varchar(16), known boolean, "
            "since double precision"
        )
        with scratch_table("segments_stage_moves", columns) as table:
            changed = insert_select(table, "customer_id, from_stage, to_stage, known, since", moves)
            if changed:
                analyze(table)
                _stage_moves_write(table, now=now)
    return changed


def _stage_moves_write(moves: str, *, now: dt.datetime) -> None:
    at = db_datetime(now)
    states = table_of(CustomerState)
    since = _from_epoch("m.since")
    execute(
        f"UPDATE {states} SET stage = m.to_stage, stage_since = {since} "  # noqa: S608 - names only
        f"FROM {moves} AS m WHERE m.known AND {states}.customer_id = m.customer_id",
    )
    execute(
        f"INSERT INTO {states} (customer_id, stage, stage_since, rfm_segment, loyal_type) "  # noqa: S608
        f"SELECT m.customer_id, m.to_stage, {since}, '', '' FROM {moves} AS m WHERE NOT m.known "
        # A row created meanwhile by rfm_refresh or the CLV sweep keeps "unclassified"
        # until the next run; the sweep never fails on it.
        "ON CONFLICT DO NOTHING",
    )
    execute(
        f"INSERT INTO {table_of(StageChange)} (customer_id, from_stage, to_stage, at) "  # noqa: S608
        f"SELECT customer_id, from_stage, to_stage, %s FROM {moves} ORDER BY customer_id",
        [at],
    )
    # A first classification is bookkeeping, not something the customer did.
    properties = json_object(("from", "from_stage"), ("to", "to_stage"))
    events_record_from(
        f"SELECT customer_id, 'stage_changed', {properties}, %s, %s, %s FROM {moves} "  # noqa: S608
        "WHERE from_stage <> '' ORDER BY customer_id",
        [at, at, SOURCE],
    )


def _from_epoch(column: str) -> str:
    """SQL turning whole seconds since 1970 into a datetime as the backend stores it."""
    if connection.vendor == "postgresql":
        return f"to_timestamp({column})"
    # Django keeps SQLite datetimes as naive UTC text, without a fraction when it is zero.
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%S', {column}, 'unixepoch')"


@transaction.atomic
def rfm_refresh() -> int:
    """Sweep: RFM scores, RFM segment and loyal type for every live buyer.

    Quintiles are relative to the whole customer base, so this is one window query
    over the customer summary columns of all buyers (never over orders), written back
    with a single UPDATE ... FROM that touches only rows whose scores moved. Discount
    shares are recomputed only for buyers whose summary moved since last time. Returns
    the number of score rows written.
    """
    rules = LifecycleRules.current()
    sweep_memory()
    customer_states_ensure()
    written = update_from(
        CustomerState,
        key="customer_id",
        select=rfm_scores_queryset(),
        select_key="cid",
        columns={
            "rfm_recency": "r",
            "rfm_frequency": "f",
            "rfm_monetary": "m",
            "aov_score": "aov",
        },
    )
    _discount_shares_refresh()
    # Customers whose every order was cancelled no longer have scores.
    CustomerState.objects.filter(rfm_recency__isnull=False, customer__orders_count=0).update(
        rfm_recency=None,
        rfm_frequency=None,
        rfm_monetary=None,
        aov_score=None,
        discount_share=None,
        discount_basis_orders=None,
        discount_basis_spent=None,
        rfm_segment="",
        loyal_type="",
    )
    segment, loyal = rfm_segment_expression(), loyal_type_expression(rules)
    CustomerState.objects.filter(rfm_recency__isnull=False).filter(
        ~Q(rfm_segment=segment) | ~Q(loyal_type=loyal)
    ).update(rfm_segment=segment, loyal_type=loyal)
    return written


def _discount_shares_refresh() -> None:
    """Discount share of the buyers whose order summary moved, and their new basis.

    The stale buyers and their summary are snapshotted first: if an order arrives while
    this runs, the stored basis is older than the summary and the next run looks again.
    """
    columns = "customer_id bigint, orders_count bigint, total_spent numeric(14, 2)"
    with scratch_table("segments_discount_stale", columns) as stale:
        if not insert_select(
            stale, "customer_id, orders_count, total_spent", stale_discount_queryset()
        ):
            return
        analyze(stale)
        sql, params = discount_shares_select(stale)
        update_from(
            CustomerState,
            key="customer_id",
            select=f"({sql})",
            params=params,
            select_key="cid",
            columns={"discount_share": "share"},
        )
        update_from(
            CustomerState,
            key="customer_id",
            select=stale,
            select_key="customer_id",
            columns={
                "discount_basis_orders": "orders_count",
                "discount_basis_spent": "total_spent",
            },
        )


@transaction.atomic
def churn_reason_record(
    *,
    customer: Customer,
    kind: str,
    reason: str,
    note: str = "",
    actor: User | None = None,
) -> ChurnReason:
    """Record why a customer left; `kind` is preventable or natural."""
    if kind not in ChurnKind.values:
        raise ValueError(f"unknown churn kind {kind!r}")
    reason = reason.strip()
    if not reason:
        raise ValueError("a churn reason cannot be empty")
    churn = ChurnReason.objects.create(
        customer=customer,
        kind=kind,
        reason=reason,
        note=note.strip(),
        recorded_by=actor,
        recorded_at=clock.now(),
    )
    event_record(
        customer=customer,
        type="churn_reason_recorded",
        properties={"kind": kind, "reason": reason},
        source="staff" if actor else SOURCE,
    )
    return churn


# --- rule segments ---------------------------------------------------------------------


@dataclass(frozen=True)
class MembershipChange:
    entered: int
    exited: int


def _parse(rules: RuleGroup | Any) -> RuleGroup:
    return rules if isinstance(rules, RuleGroup) else rules_parse(rules)


def _matching(rules: RuleGroup, now: dt.datetime) -> QuerySet[Customer]:
    return Customer.objects.live().filter(rules_compile(rules, now=now))


def segment_count(*, rules: RuleGroup | Any) -> int:
    """How many live customers match `rules` right now (for the live preview in the editor).

    Raises pydantic.ValidationError for malformed rules.
    """
    return _matching(_parse(rules), clock.now()).count()


@transaction.atomic
def segment_create(
    *, name: str, rules: RuleGroup | Any, description: str = "", active: bool = True
) -> Segment:
    """Create a segment from validated rules; members arrive with the next refresh."""
    parsed = _parse(rules)
    now = clock.now()
    return Segment.objects.create(
        name=name.strip(),
        description=description,
        rules=parsed.model_dump(mode="json"),
        active=active,
        created_at=now,
        updated_at=now,
    )


@transaction.atomic
def segment_refresh(*, segment: Segment) -> MembershipChange:
    """Recompute one segment's members from scratch (waits for a concurrent refresh)."""
    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    return _segment_refresh_locked(locked, now=clock.now())


def segments_refresh_all() -> int:
    """Sweep: full refresh of every active segment; returns how many were refreshed.

    Each segment is claimed with SKIP LOCKED in its own transaction, so several
    workers share the segments instead of repeating each other.
    """
    refreshed = 0
    for pk in Segment.objects.filter(active=True).values_list("pk", flat=True):
        with transaction.atomic():
            segment = (
                Segment.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, active=True)
                .first()
            )
            if segment is None:
                continue
            try:
                _segment_refresh_locked(segment, now=clock.now())
            except pydantic.ValidationError:
                log.warning("segment_rules_invalid", extra={"segment_id": pk})
                continue
            refreshed += 1
    return refreshed


def _segment_refresh_locked(segment: Segment, *, now: dt.datetime) -> MembershipChange:
    """Set-based: the difference is computed once into a scratch table, then applied.

    Entering and leaving customers never travel through Python; memberships and their
    events are written by INSERT ... SELECT and one DELETE.
    """
    sweep_memory()
    matching = _matching(rules_parse(segment.rules), now)
    members = SegmentMembership.objects.filter(segment=segment)
    entering = (
        matching.filter(~Exists(members.filter(customer_id=OuterRef("pk"))))
        .order_by()
        .annotate(entering=Value(True))
        .values_list("pk", "entering")
    )
    leaving = (
        members.filter(~Exists(matching.filter(pk=OuterRef("customer_id"))))
        .order_by()
        .annotate(entering=Value(False))
        .values_list("customer_id", "entering")
    )
    columns = "customer_id bigint PRIMARY KEY, entering boolean NOT NULL"
    with scratch_table("segments_membership_delta", columns) as delta:
        entered = insert_select(delta, "customer_id, entering", entering)
        exited = insert_select(delta, "customer_id, entering", leaving)
        if entered or exited:
            analyze(delta)
            _membership_delta_write(delta, segment_id=segment.pk, now=now)
    segment.member_count = members.count()
    segment.refreshed_at = now
    segment.save(update_fields=["member_count", "refreshed_at"])
    return MembershipChange(entered=entered, exited=exited)


def _membership_delta_write(delta: str, *, segment_id: int, now: dt.datetime) -> None:
    at = db_datetime(now)
    memberships = table_of(SegmentMembership)
    execute(
        f"INSERT INTO {memberships} (segment_id, customer_id, since) "  # noqa: S608
        f"SELECT %s, customer_id, %s FROM {delta} WHERE entering ORDER BY customer_id",
        [segment_id, at],
    )
    execute(
        f"DELETE FROM {memberships} WHERE segment_id = %s AND customer_id IN "  # noqa: S608
        f"(SELECT customer_id FROM {delta} WHERE NOT entering)",
        [segment_id],
    )
    properties = json_object(("segment_id", str(int(segment_id))))
    events_record_from(
        "SELECT customer_id, CASE WHEN entering THEN 'segment_entered' "  # noqa: S608
        f"ELSE 'segment_exited' END, {properties}, %s, %s, %s FROM {delta} "
        "ORDER BY entering DESC, customer_id",
        [at, at, SOURCE],
    )


def segments_apply_for_customers(*, customer_ids: Iterable[int]) -> MembershipChange:
    """Re-evaluate every active segment for just these customers (after their data changed).

    One query per chunk of customers evaluates all segments at once (a CASE per
    segment), one more reads their current memberships; only differences are
    written. Holds the segment rows locked, so call it in a short transaction
    after the change commits rather than inside a long import; segments locked by a
    running refresh are skipped (the hourly sweep covers them).
    """
    ids = sorted(set(customer_ids))
    entered = exited = 0
    if not ids:
        return MembershipChange(entered=0, exited=0)
    with transaction.atomic():
        # A segment under a full refresh is skipped rather than waited for: an API write must
        # not stall behind a long recompute, and the next sweep catches the change up.
        segments = list(
            Segment.objects.select_for_update(skip_locked=True).filter(active=True).order_by("pk")
        )
        if not segments:
            return MembershipChange(entered=0, exited=0)
        now = clock.now()
        flags = {
            f"s{segment.pk}": _as_boolean(rules_compile(rules_parse(segment.rules), now=now))
            for segment in segments
        }
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            wanted = {
                (segment.pk, row[0])
                for row in Customer.objects.live()
                .filter(pk__in=chunk)
                .order_by()
                .annotate(**flags)
                .values_list("pk", *flags)
                for segment, flag in zip(segments, row[1:], strict=True)
                if flag
            }
            current = {
                (segment_id, customer_id): pk
                for pk, segment_id, customer_id in SegmentMembership.objects.filter(
                    customer_id__in=chunk, segment__in=segments
                ).values_list("pk", "segment_id", "customer_id")
            }
            entering = sorted(wanted - current.keys())
            leaving = [(pk, *key) for key, pk in current.items() if key not in wanted]
            _memberships_write(entering=entering, leaving=leaving, now=now)
            entered += len(entering)
            exited += len(leaving)
            _member_counts_adjust(entering, leaving)
    return MembershipChange(entered=entered, exited=exited)


def _as_boolean(q: Q) -> Case:
    return Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())


def _member_counts_adjust(
    entering: Sequence[tuple[int, int]], leaving: Sequence[tuple[int, int, int]]
) -> None:
    delta: dict[int, int] = defaultdict(int)
    for segment_id, _customer_id in entering:
        delta[segment_id] += 1
    for _pk, segment_id, _customer_id in leaving:
        delta[segment_id] -= 1
    for segment_id, change in delta.items():
        if change:
            Segment.objects.filter(pk=segment_id).update(member_count=F("member_count") + change)


def _memberships_write(
    *,
    entering: Sequence[tuple[int, int]],
    leaving: Sequence[tuple[int, int, int]],
    now: dt.datetime,
) -> None:
    """Insert (segment, customer) pairs, delete membership ids, and log both as events."""
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment_id=s, customer_id=c, since=now) for s, c in entering],
        batch_size=BATCH,
    )
    leaving_ids = [pk for pk, _s, _c in leaving]
    for start in range(0, len(leaving_ids), ID_CHUNK):
        SegmentMembership.objects.filter(pk__in=leaving_ids[start : start + ID_CHUNK]).delete()
    events_record(
        [_membership_event("segment_entered", s, c, now) for s, c in entering]
        + [_membership_event("segment_exited", s, c, now) for _pk, s, c in leaving]
    )


def _membership_event(type: str, segment_id: int, customer_id: int, now: dt.datetime) -> Event:
    return Event(
        customer_id=customer_id,
        type=type,
        properties={"segment_id": segment_id},
        occurred_at=now,
        received_at=now,
        source=SOURCE,
    )
