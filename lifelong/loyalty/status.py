"""What a customer sees of their loyalty: one read for three readers.

The status page (web/portal/loyalty.py), its JSON twin for the shop's account page
(api/routers/loyalty.py) and the `loyalty` object of message templates
(messaging/templating/context.py) all show `loyalty_status()`: plain frozen dataclasses,
read with a fixed number of queries whatever the customer's history holds.

Words live here too (`points_text`, `missing_text`, `change_reason`), in the active language,
so the page, the JSON and a message say a balance, and what the next tier takes, the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Sum
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.journeys.models import Enrollment
from lifelong.lib.signing import absolute_url, token_make
from lifelong.loyalty.models import (
    Account,
    Bucket,
    Entry,
    Hold,
    Lot,
    Programme,
    Tier,
    Transaction,
    TxKind,
)
from lifelong.loyalty.privileges import PRIVILEGES
from lifelong.loyalty.referrals import ReferralSummary, referral_summary
from lifelong.loyalty.tiers import TierProgress, tiers_progress

# "Expiring soon" on the page and in messages: lots whose expiry falls within this window.
EXPIRING_DAYS = 60
# The latest changes shown; older ones stay in the ledger (staff see them on the card).
HISTORY_LIMIT = 50
# A status link lives long enough for a message read weeks late; the page changes nothing.
STATUS_LINK_DAYS = 90
LINK_PURPOSE = "loyalty"

# Digit groups in running text: a narrow no-break space, as Russian typesetting wants (3 400 ₽).
THIN = "\u202f"
NBSP = "\u00a0"


def plural_form(n: int, one: str, few: str, many: str) -> str:
    """The Russian form for the number: 1 балл, 3 балла, 5 баллов (11–14 take `many`)."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def number_text(n: int | Decimal) -> str:
    """1 250 in Russian (narrow no-break space between groups), 1,250 in English."""
    grouped = f"{n:,}"
    if translation.get_language() == "en":
        return grouped
    return grouped.replace(",", THIN).replace(".", ",")


def roubles_text(amount: Decimal) -> str:
    """3 400 ₽; kopecks only when there are any (3 400,50 ₽)."""
    whole = amount == amount.to_integral_value()
    value: int | Decimal = int(amount) if whole else amount.quantize(Decimal("0.01"))
    return f"{number_text(value)}{NBSP}₽"


@dataclass(frozen=True)
class PointsNames:
    """The programme's name for its points in the three Russian forms."""

    one: str
    few: str
    many: str

    def word(self, n: int) -> str:
        if translation.get_language() == "en":
            return ngettext("point", "points", abs(n))
        return plural_form(n, self.one, self.few, self.many)


@dataclass(frozen=True)
class DatedPoints:
    """Points of one lot and the date that matters: when they become spendable, or expire."""

    points: int
    at: dt.datetime


@dataclass(frozen=True)
class Change:
    """One transaction as the customer sees it, with its reason."""

    id: int
    at: dt.datetime
    kind: str
    # The net change of the customer's own points (available, pending and held together).
    points: int
    # Points that changed bucket only: became spendable, held, hold released.
    moved: int
    status_points: int
    order: str
    rule: str
    journey: str
    comment: str


@dataclass(frozen=True)
class Privilege:
    code: str
    name: str
    description: str


@dataclass(frozen=True)
class TierView:
    slug: str
    name: str
    colour: str
    privileges: tuple[Privilege, ...]


@dataclass(frozen=True)
class Missing:
    """What the next tier still takes; None where it does not count that. Any one is enough."""

    orders: int | None
    spend: Decimal | None
    status_points: int | None

    @property
    def reached(self) -> bool:
        """One threshold is met already: the tier review sweep moves the customer up shortly."""
        return 0 in (self.orders, self.spend, self.status_points)


@dataclass(frozen=True)
class LoyaltyStatus:
    customer_id: int
    enabled: bool
    names: PointsNames
    point_value: Decimal
    # May be below zero: a refund took back points already spent (repaid by the next earn).
    available: int
    pending: int
    held: int
    status_points: int
    pending_lots: tuple[DatedPoints, ...]
    expiring: tuple[DatedPoints, ...]
    history: tuple[Change, ...]
    tier: TierView | None = None
    next_tier: TierView | None = None
    missing: Missing | None = None
    # How far towards the next tier, 0-100: the threshold the customer is closest to.
    progress_percent: int | None = None
    window_months: int = 0
    referral: ReferralSummary | None = None
    # The staff member who looks after the customer, by name ("" when none).
    manager_name: str = ""

    @property
    def balance(self) -> int:
        """Points the customer can spend now."""
        return max(self.available, 0)

    @property
    def debt(self) -> int:
        return max(-self.available, 0)

    @property
    def expiring_points(self) -> int:
        return sum(lot.points for lot in self.expiring)

    def points_text(self, n: int) -> str:
        return points_text(n, self.names)


def points_text(n: int, names: PointsNames) -> str:
    """1 250 баллов; 1,250 points in English."""
    return f"{number_text(n)}{NBSP}{names.word(n)}"


def loyalty_status(
    *, customer_id: int, history_limit: int = HISTORY_LIMIT, full: bool = True
) -> LoyaltyStatus:
    """Everything the customer may see of their points, in a fixed number of queries.

    Texts (privilege names) are in the active language. `full=False` leaves out the referral
    summary and the personal manager: message templates have their own `manager`, and
    reading the summary makes the customer's referral code on first use.

    Seven reads for what `loyalty_statuses` gives (six for a customer who never had points);
    up to five for the history (transactions with rule and order, their entries on this
    account, and when present: the lots' sources for releases and expiries, journeys,
    checkout holds); with `full`, the referral summary (one read while referrals are off,
    a few when on) and the personal manager.
    """
    found, account_id = _statuses([customer_id])[customer_id]
    if account_id is not None and history_limit:
        found = replace(found, history=_history(customer_id, account_id, history_limit))
    if not full:
        return found
    summary = referral_summary(customer_id=customer_id)
    manager = (
        Customer.objects.filter(pk=customer_id, personal_manager__isnull=False)
        .values_list("personal_manager__first_name", "personal_manager__last_name")
        .first()
    )
    return replace(
        found,
        referral=summary if summary.enabled else None,
        manager_name=" ".join(" ".join(manager).split()) if manager else "",
    )


def loyalty_statuses(*, customer_ids: Iterable[int]) -> dict[int, LoyaltyStatus]:
    """`loyalty_status(history_limit=0, full=False)` of each customer (texts in the active
    language), in seven reads for the whole group: the programme, the accounts, the open lots
    (none to read when no one has an account); the tier's four (`tiers_progress`)."""
    return {cid: found for cid, (found, _account) in _statuses(list(customer_ids)).items()}


def _statuses(customer_ids: list[int]) -> dict[int, tuple[LoyaltyStatus, int | None]]:
    """Each customer's status without history, referral and manager, and their account's id."""
    # A read writes nothing: before the settings row exists, its defaults apply.
    programme = Programme.read()
    accounts = {a.customer_id: a for a in Account.objects.filter(customer_id__in=customer_ids)}
    now = clock.now()
    horizon = now + dt.timedelta(days=EXPIRING_DAYS)
    pending_lots: dict[int, list[DatedPoints]] = {}
    expiring: dict[int, list[DatedPoints]] = {}
    lots = Lot.objects.filter(customer_id__in=list(accounts), remaining__gt=0).only(
        "customer_id", "remaining", "released", "pending_until", "expires_at"
    )
    # No account yet: nothing was ever posted, so there are no lots to read.
    for lot in lots.order_by("expires_at", "pk") if accounts else ():
        if not lot.released and lot.pending_until is not None:
            pending_lots.setdefault(lot.customer_id, []).append(
                DatedPoints(lot.remaining, lot.pending_until)
            )
        elif lot.expires_at is not None and lot.expires_at <= horizon:
            expiring.setdefault(lot.customer_id, []).append(
                DatedPoints(lot.remaining, lot.expires_at)
            )
    progresses = tiers_progress(customer_ids=customer_ids, programme=programme)
    names = PointsNames(programme.name_one, programme.name_few, programme.name_many)
    found = {}
    for cid in customer_ids:
        account, progress = accounts.get(cid), progresses[cid]
        status = LoyaltyStatus(
            customer_id=cid,
            enabled=programme.enabled,
            names=names,
            point_value=programme.point_value,
            available=account.available if account else 0,
            pending=account.pending if account else 0,
            held=account.held if account else 0,
            status_points=account.status if account else 0,
            pending_lots=tuple(sorted(pending_lots.get(cid, ()), key=lambda lot: lot.at)),
            expiring=tuple(expiring.get(cid, ())),
            history=(),
            tier=tier_view(progress.tier),
            next_tier=tier_view(progress.next_tier),
            missing=_missing(progress),
            progress_percent=_percent(progress),
            window_months=progress.window_months,
        )
        found[cid] = (status, account.pk if account else None)
    return found


def tier_view(tier: Tier | None) -> TierView | None:
    if tier is None:
        return None
    privileges = tuple(
        Privilege(code, str(PRIVILEGES[code][0]), str(PRIVILEGES[code][1]))
        for code in tier.privileges
        if code in PRIVILEGES
    )
    return TierView(tier.slug, tier.name, tier.colour, privileges)


def _missing(progress: TierProgress) -> Missing | None:
    if progress.next_tier is None:
        return None
    return Missing(progress.missing_orders, progress.missing_spend, progress.missing_status_points)


def _percent(progress: TierProgress) -> int | None:
    upcoming = progress.next_tier
    if upcoming is None:
        return None
    shares = [
        Decimal(have) / Decimal(need)
        for have, need in (
            (progress.orders, upcoming.min_orders),
            (progress.spend, upcoming.min_spend),
            (progress.status_points, upcoming.min_status_points),
        )
        if need
    ]
    return min(100, int(max(shares, default=Decimal(0)) * 100))


def missing_text(missing: Missing) -> str:
    """«ещё 2 заказа или 3 400 ₽»: each threshold the next tier counts, any one enough."""
    parts = []
    if missing.orders is not None:
        parts.append(_count_text(missing.orders, ("заказ", "заказа", "заказов"), "order", "orders"))
    if missing.spend is not None:
        parts.append(roubles_text(missing.spend))
    if missing.status_points is not None:
        parts.append(
            _count_text(
                missing.status_points,
                ("статусный балл", "статусных балла", "статусных баллов"),
                "status point",
                "status points",
            )
        )
    return _("%(what)s more") % {"what": _(" or ").join(parts)}


def _count_text(n: int, russian: tuple[str, str, str], one: str, many: str) -> str:
    if translation.get_language() == "en":
        return f"{number_text(n)}{NBSP}{one if n == 1 else many}"
    return f"{number_text(n)}{NBSP}{plural_form(n, *russian)}"


# Kinds that only move points between the customer's own buckets.
_MOVES = frozenset({TxKind.RELEASE, TxKind.HOLD, TxKind.UNHOLD})
# Kinds whose reason is the lot they act on (its earn's order or rule).
_OF_A_LOT = frozenset({TxKind.RELEASE, TxKind.EXPIRE})
_HOLD_KINDS = frozenset({TxKind.HOLD, TxKind.CONFIRM, TxKind.UNHOLD})
_SPENDABLE = (Bucket.AVAILABLE, Bucket.PENDING, Bucket.HELD)


class _Reason(NamedTuple):
    order: str
    rule: str
    enrollment_id: int | None
    comment: str


def _history(customer_id: int, account_id: int, limit: int) -> tuple[Change, ...]:
    txs = list(
        Transaction.objects.filter(customer_id=customer_id)
        .select_related("rule", "order")
        .only(
            "key",
            "kind",
            "occurred_at",
            "enrollment_id",
            "comment",
            "rule__name",
            "order__external_id",
        )
        .order_by("-created_at", "-pk")[:limit]
    )
    if not txs:
        return ()
    sums: dict[tuple[int, int], int] = {}
    rows = (
        Entry.objects.filter(account_id=account_id, transaction_id__in=[tx.pk for tx in txs])
        .values("transaction_id", "bucket")
        .annotate(total=Sum("points"))
    )
    for row in rows:
        sums[(row["transaction_id"], row["bucket"])] = int(row["total"])
    of_lots = _lot_reasons([tx.pk for tx in txs if tx.kind in _OF_A_LOT])
    reasons = {
        tx.pk: of_lots.get(tx.pk)
        or _Reason(
            tx.order.external_id or "" if tx.order else "",
            tx.rule.name if tx.rule else "",
            tx.enrollment_id,
            tx.comment,
        )
        for tx in txs
    }
    journeys = _journeys({r.enrollment_id for r in reasons.values() if r.enrollment_id})
    holds = _hold_orders([tx.key for tx in txs if tx.kind in _HOLD_KINDS])
    changes = []
    for tx in txs:
        buckets = {bucket: sums.get((tx.pk, bucket), 0) for bucket in Bucket.values}
        net = sum(buckets[b] for b in _SPENDABLE)
        moved = 0
        if tx.kind in _MOVES:
            # Release: pending -> available; hold: available -> held; unhold: back.
            moved = max(abs(buckets[b]) for b in _SPENDABLE)
        reason = reasons[tx.pk]
        changes.append(
            Change(
                id=tx.pk,
                at=tx.occurred_at,
                kind=tx.kind,
                points=net,
                moved=moved,
                status_points=buckets[Bucket.STATUS],
                order=reason.order or holds.get(tx.key, ""),
                rule=reason.rule,
                journey=journeys.get(reason.enrollment_id or 0, ""),
                comment=reason.comment,
            )
        )
    return tuple(changes)


def _lot_reasons(tx_ids: list[int]) -> dict[int, _Reason]:
    """For releases and expiries (one lot each): the reason of the posting that made the lot."""
    if not tx_ids:
        return {}
    rows = (
        Entry.objects.filter(transaction_id__in=tx_ids, lot__isnull=False)
        .values_list(
            "transaction_id",
            "lot__source__order__external_id",
            "lot__source__rule__name",
            "lot__source__enrollment_id",
            "lot__source__comment",
        )
        .distinct()
    )
    return {
        tx_id: _Reason(order or "", rule or "", enrollment_id, comment or "")
        for tx_id, order, rule, enrollment_id, comment in rows
    }


def _journeys(enrollment_ids: set[int]) -> dict[int, str]:
    if not enrollment_ids:
        return {}
    rows = Enrollment.objects.filter(pk__in=enrollment_ids).values_list("pk", "journey__name")
    return dict(rows)


def _hold_orders(keys: list[str]) -> dict[str, str]:
    """The order each checkout posting was for (keys `hold:<id>`, `hold:<id>:confirm`, ...)."""
    ids = {int(key.split(":")[1]) for key in keys if key.split(":")[1].isdigit()}
    if not ids:
        return {}
    orders = dict(Hold.objects.filter(pk__in=ids).values_list("pk", "order_external_id"))
    return {key: orders.get(int(key.split(":")[1]), "") for key in keys}


def change_reason(change: Change) -> str:
    """Why the points changed, in words: the order, the rule, the journey, the comment."""
    # A purchase's earn names its order; its rule (the base rate) would say nothing more.
    first = _("order %(number)s") % {"number": change.order} if change.order else change.rule
    return "; ".join(part for part in (first, change.journey, change.comment) if part)


def status_token(*, customer_id: int) -> str:
    return token_make(purpose=LINK_PURPOSE, value=customer_id)


def status_url(*, customer_id: int) -> str:
    """The signed link to the customer's status page (no login: the link is the key)."""
    return absolute_url(reverse("portal:loyalty", args=[status_token(customer_id=customer_id)]))
