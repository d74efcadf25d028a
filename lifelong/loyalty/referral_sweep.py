"""The `loyalty.referrals` sweep: attribution at the friend's first order, then the decision.

Attribution reads the event log once, in id order, after its cursor (as the earning sweep
does), in batches and a few queries per batch. Two kinds of events can complete a referral:
- `order_paid` / `order_delivered`: the friend buys;
- `customer_created` / `customer_updated` that set the `referral_code` attribute: shops often
  send the profile just after the order.
A friend is referred once (the one-to-one on `Referral.friend`), at their first order: the
order of their first `order_paid`/`order_delivered` event in the log. The code is the
friend's `referral_code` attribute, else that order's coupon. It counts when it was known by
the time the first order was paid, or arrived within LATE_CODE after it; a friend who
bought before (or before referrals started) is recorded as refused ("not new"), so staff
see why. Self-referrals are refused at once, with their reason.

Decision: referrals whose `due_at` has come (at once, or after the return window) are
claimed in batches (`SKIP LOCKED` on PostgreSQL), their customers' accounts locked in one
statement, and each is decided once: refused when the first order was cancelled or
refunded, is below the smallest amount, the friend turns out to be the referrer (data may
have arrived meanwhile), or the referrer's limit per period is reached; otherwise converted:
the rewards are posted (`referral:<id>:referrer`, `referral:<id>:friend`, available at once)
and a `referral_converted` event is written for the referrer (journeys and earning rules
react to it). Dates come from the log (`due_at`), so reading it again gives the same points.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.fields.json import KT

from lifelong import clock
from lifelong.commerce.models import Order, OrderStatus
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.lib.bulk import bulk_insert
from lifelong.loyalty.ledger import book_lock_many, ledger_write, posted_keys
from lifelong.loyalty.models import (
    Cursor,
    Programme,
    Referral,
    ReferralCode,
    ReferralCondition,
    ReferralSettings,
    ReferralStatus,
    RefusalReason,
    TxKind,
)
from lifelong.loyalty.referrals import (
    CURSOR,
    Person,
    code_clean,
    cursor_start,
    limit_allows,
    people_load,
    self_referral_reason,
)
from lifelong.loyalty.services import award_post

BATCH_SIZE = 2000
DECIDE_BATCH = 500
ORDER_EVENTS = ("order_paid", "order_delivered")
PROFILE_EVENTS = ("customer_created", "customer_updated")
# A profile sent this long after the first order still brings its code.
LATE_CODE = dt.timedelta(days=1)
EVENT_TYPE = "referral_converted"


def loyalty_referrals(*, batch_size: int = BATCH_SIZE) -> int:
    """Attribute new first orders, then decide the referrals due; returns how many of both."""
    settings = ReferralSettings.current()
    if not settings.enabled or not Programme.current().enabled:
        return 0
    done = 0
    while True:
        read, recorded = _attribute_batch(batch_size, settings)
        done += recorded
        if read < batch_size:
            break
    while True:
        decided = _decide_batch(DECIDE_BATCH, settings)
        done += decided
        if decided < DECIDE_BATCH:
            return done


# --- attribution --------------------------------------------------------------------------


def _attribute_batch(batch_size: int, settings: ReferralSettings) -> tuple[int, int]:
    """(events read, referrals recorded) for one batch of the log after the cursor."""
    with transaction.atomic():
        cursor_start()
        cursor = Cursor.objects.select_for_update().get(name=CURSOR)
        events: list[dict[str, Any]] = [
            dict(row)
            for row in Event.objects.filter(
                Q(type__in=ORDER_EVENTS)
                | Q(
                    type__in=PROFILE_EVENTS,
                    properties__changes__attributes__has_key="referral_code",
                ),
                pk__gt=cursor.last_event_id,
                customer__isnull=False,
            )
            .order_by("pk")
            .values("pk", "customer_id", "type", "properties", "occurred_at")[:batch_size]
        ]
        if not events:
            return 0, 0
        referrals = _referrals_plan(events, settings)
        bulk_insert(referrals)
        cursor.last_event_id = events[-1]["pk"]
        cursor.save(update_fields=["last_event_id"])
    return len(events), len(referrals)


def _order_id(event: dict[str, Any]) -> int | None:
    order_id = event["properties"].get("order_id")
    return order_id if event["type"] in ORDER_EVENTS and isinstance(order_id, int) else None


def _referrals_plan(events: list[dict[str, Any]], settings: ReferralSettings) -> list[Referral]:
    friends = {e["customer_id"] for e in events}
    friends -= set(
        Referral.objects.filter(friend_id__in=friends).values_list("friend_id", flat=True)
    )
    if not friends:
        return []
    # Codes named: the friends' attribute, and the coupons of the orders in the batch.
    named = {
        pk: code_clean(code)
        for pk, code in Customer.objects.filter(pk__in=friends, attributes__has_key="referral_code")
        .annotate(code=KT("attributes__referral_code"))
        .values_list("pk", "code")
    }
    order_ids = {_order_id(e) for e in events} - {None}
    coupons = {
        pk: code_clean(coupon)
        for pk, coupon in Order.objects.filter(pk__in=order_ids)
        .exclude(coupon="")
        .values_list("pk", "coupon")
    }
    owners = dict(
        ReferralCode.objects.filter(code__in={*named.values(), *coupons.values()}).values_list(
            "code", "customer_id"
        )
    )
    candidates = {c for c, code in named.items() if code in owners} | {
        e["customer_id"]
        for e in events
        if e["customer_id"] in friends and coupons.get(_order_id(e) or 0) in owners
    }
    if not candidates:
        return []
    # Every order event of the candidates up to the batch's end: the first one is the first
    # order. Candidates are friends with a known code and no referral yet: new customers.
    firsts: dict[int, dict[str, Any]] = {}
    for row in (
        Event.objects.filter(
            customer_id__in=candidates, type__in=ORDER_EVENTS, pk__lte=events[-1]["pk"]
        )
        .order_by("pk")
        .values("pk", "customer_id", "type", "properties", "occurred_at")
    ):
        if _order_id(dict(row)) is not None:
            firsts.setdefault(row["customer_id"], dict(row))
    first_orders = dict(
        Order.objects.filter(pk__in=[_order_id(e) for e in firsts.values()]).values_list(
            "pk", "coupon"
        )
    )
    wait = dt.timedelta(0)
    if settings.condition == ReferralCondition.RETURN_WINDOW:
        wait = dt.timedelta(days=Programme.current().pending_days)
    plans: dict[int, Referral] = {}
    for event in events:
        friend = event["customer_id"]
        first = firsts.get(friend)
        if friend not in candidates or friend in plans or first is None:
            continue
        if first["pk"] > event["pk"]:
            continue  # the first order comes later in the log: it will attribute
        order_id = _order_id(first)
        if order_id is None or order_id not in first_orders:
            continue
        code, via = named.get(friend, ""), "attribute"
        if code not in owners:
            code, via = code_clean(first_orders[order_id]), "coupon"
        if code not in owners:
            continue  # the code was the coupon of a later order, not of the first
        plans[friend] = _referral_new(
            event, first, order_id, code, via, owners[code], settings, wait
        )
    people = people_load({c for r in plans.values() for c in (r.referrer_id, r.friend_id)})
    for referral in plans.values():
        if referral.status == ReferralStatus.WAITING:
            reason = _self_reason(referral, people)
            if reason:
                _refuse(referral, reason, referral.created_at)
    return list(plans.values())


def _referral_new(
    event: dict[str, Any],
    first: dict[str, Any],
    order_id: int,
    code: str,
    via: str,
    referrer_id: int,
    settings: ReferralSettings,
    wait: dt.timedelta,
) -> Referral:
    ordered_at: dt.datetime = first["occurred_at"]
    now = clock.now()
    referral = Referral(
        referrer_id=referrer_id,
        friend_id=event["customer_id"],
        code=code,
        via=via,
        order_id=order_id,
        ordered_at=ordered_at,
        due_at=ordered_at + wait,
        created_at=now,
    )
    late = via == "attribute" and event["occurred_at"] - ordered_at > LATE_CODE
    started = settings.started_at
    if late or (started is not None and ordered_at < started):
        _refuse(referral, RefusalReason.NOT_NEW, now)
    return referral


def _refuse(referral: Referral, reason: str, at: dt.datetime) -> None:
    referral.status, referral.reason, referral.decided_at = ReferralStatus.REFUSED, reason, at


def _self_reason(referral: Referral, people: dict[int, Person]) -> str:
    referrer, friend = people.get(referral.referrer_id), people.get(referral.friend_id)
    if referrer is None or friend is None:
        return RefusalReason.SAME_CUSTOMER if referral.referrer_id == referral.friend_id else ""
    return self_referral_reason(referrer, friend)


# --- decision -----------------------------------------------------------------------------


def _decide_batch(batch_size: int, settings: ReferralSettings) -> int:
    with transaction.atomic():
        now = clock.now()
        due = Referral.objects.filter(status=ReferralStatus.WAITING, due_at__lte=now).order_by(
            "due_at", "pk"
        )
        if connection.features.has_select_for_update_skip_locked:
            # Workers on other machines take other batches.
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return 0
        referrals = list(
            Referral.objects.filter(pk__in=ids, status=ReferralStatus.WAITING)
            .select_related("order")
            .order_by("due_at", "pk")
        )
        people = people_load({c for r in referrals for c in (r.referrer_id, r.friend_id)})
        # Lock every account the batch may post to before counting the referrers' friends:
        # two workers deciding friends of one referrer then count one after the other.
        books = book_lock_many(
            [people[c].customer_id for r in referrals for c in (r.referrer_id, r.friend_id)]
        )
        converted = _converted_times(referrals, settings)
        winners: list[Referral] = []
        for referral in referrals:
            reason = _decision_reason(referral, people, converted, settings)
            referral.decided_at = now
            if reason:
                referral.status, referral.reason = ReferralStatus.REFUSED, reason
                continue
            referral.status = ReferralStatus.CONVERTED
            referral.referrer_points = settings.referrer_points
            referral.friend_points = settings.friend_points
            converted.setdefault(referral.referrer_id, []).append(referral.ordered_at)
            winners.append(referral)
        event_ids = _events_write(winners)
        programme = Programme.current()
        keys = [f"referral:{r.pk}:{role}" for r in winners for role in ("referrer", "friend")]
        absent = set(keys) - posted_keys(keys)
        for book in books.values():
            book.absent = absent
        for referral in winners:
            for role, customer_id, points, comment in (
                ("referrer", referral.referrer_id, referral.referrer_points, "friend"),
                ("friend", referral.friend_id, referral.friend_points, "invited by"),
            ):
                if not points:
                    continue
                other = referral.friend_id if role == "referrer" else referral.referrer_id
                book = books[people[customer_id].customer_id]
                posting = book.posting(
                    key=f"referral:{referral.pk}:{role}",
                    kind=TxKind.AWARD,
                    occurred_at=referral.due_at,
                    event_id=event_ids.get(referral.pk),
                    comment=f"referral {referral.pk}: {comment} {other}",
                )
                if posting is not None:
                    award_post(book, posting, points=points, status_points=0, programme=programme)
        ledger_write(list(books.values()))
        _decisions_write(referrals, now)
    return len(ids)


def _decisions_write(referrals: list[Referral], now: dt.datetime) -> None:
    """One UPDATE per outcome (converted, or refused for a reason): a handful per batch,
    where bulk_update would build a CASE per row and field."""
    outcomes: dict[tuple[str, str, int, int], list[int]] = {}
    for r in referrals:
        outcome = (r.status, r.reason, r.referrer_points, r.friend_points)
        outcomes.setdefault(outcome, []).append(r.pk)
    for (status, reason, referrer_points, friend_points), ids in outcomes.items():
        Referral.objects.filter(pk__in=ids).update(
            status=status,
            reason=reason,
            decided_at=now,
            referrer_points=referrer_points,
            friend_points=friend_points,
        )


def _converted_times(
    referrals: list[Referral], settings: ReferralSettings
) -> dict[int, list[dt.datetime]]:
    """The referrers' converted friends near these referrals' times (for the limit)."""
    if not settings.limit_count or not referrals:
        return {}
    span = dt.timedelta(days=settings.limit_days)
    times: dict[int, list[dt.datetime]] = {}
    for referrer_id, ordered_at in Referral.objects.filter(
        referrer_id__in={r.referrer_id for r in referrals},
        status=ReferralStatus.CONVERTED,
        ordered_at__gt=min(r.ordered_at for r in referrals) - span,
        ordered_at__lt=max(r.ordered_at for r in referrals) + span,
    ).values_list("referrer_id", "ordered_at"):
        times.setdefault(referrer_id, []).append(ordered_at)
    return times


def _decision_reason(
    referral: Referral,
    people: dict[int, Person],
    converted: dict[int, list[dt.datetime]],
    settings: ReferralSettings,
) -> str:
    order = referral.order
    if order.status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED) or (
        order.refunded_total >= order.total > 0
    ):
        return RefusalReason.ORDER_RETURNED
    if order.total - order.refunded_total < max(settings.min_order_total, Decimal(0)):
        return RefusalReason.ORDER_SMALL
    reason = _self_reason(referral, people)
    if reason:
        return reason
    if not limit_allows(
        converted.get(referral.referrer_id, []),
        referral.ordered_at,
        count=settings.limit_count,
        days=settings.limit_days,
    ):
        return RefusalReason.LIMIT
    return ""


def _events_write(winners: list[Referral]) -> dict[int, int]:
    """The `referral_converted` events of these referrals (once each): referral id -> event."""
    keys = {f"referral:{r.pk}:converted": r.pk for r in winners}
    events_record(
        Event(
            customer_id=r.referrer_id,
            type=EVENT_TYPE,
            properties={
                "referral_id": r.pk,
                "friend_id": r.friend_id,
                "order_id": r.order_id,
                "points": r.referrer_points,
                "friend_points": r.friend_points,
            },
            occurred_at=r.due_at,
            received_at=clock.now(),
            source="loyalty",
            idempotency_key=f"referral:{r.pk}:converted",
        )
        for r in winners
    )
    return {
        keys[str(key)]: pk
        for key, pk in Event.objects.filter(idempotency_key__in=list(keys)).values_list(
            "idempotency_key", "pk"
        )
    }
