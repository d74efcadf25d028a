"""Checkout: a customer's points, a cart's quote, and holds (reserve, confirm, cancel); and
the customer's status (what their status page shows) for the shop's account page.

Reads need the `read` scope; holds need `loyalty:write`. Every hold call takes an
`Idempotency-Key`: a retried reserve returns the same hold instead of holding twice, and a
retried confirm returns the same answer without spending twice.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils import translation
from ninja import Field, Router, Schema, Status

from lifelong.accounts.models import ApiScope
from lifelong.api.auth import READ
from lifelong.api.errors import READ_ERRORS, ErrorOut, ValidationErrorOut
from lifelong.api.idempotency import write_operation
from lifelong.api.ingest import NotFound, customer_get
from lifelong.api.schemas import ExternalId, LineIn, Money, Timestamp
from lifelong.commerce.models import Order, OrderLine, Product
from lifelong.customers.models import Customer
from lifelong.loyalty.earning import Rules, order_points
from lifelong.loyalty.holds import (
    TIMEOUT_DEFAULT,
    TIMEOUT_MAX,
    HoldConflict,
    burn_limit,
    hold_cancel,
    hold_confirm,
    hold_reserve,
)
from lifelong.loyalty.ledger import balance_of
from lifelong.loyalty.models import Hold, HoldStatus, Programme, TxKind
from lifelong.loyalty.status import (
    EXPIRING_DAYS,
    HISTORY_LIMIT,
    STATUS_LINK_DAYS,
    DatedPoints,
    LoyaltyStatus,
    TierView,
    change_reason,
    loyalty_status,
    missing_text,
    status_url,
    tier_view,
)
from lifelong.loyalty.tiers import tier_current

router = Router(tags=["loyalty"])

MAX_POINTS = 1_000_000_000
# The examples are those of docs/api.md; the schema test seeds them (test_schemathesis.py).
HoldId = Annotated[int, Field(ge=1, le=2**62, examples=[41])]
# A read with a body: a body that is not JSON answers 400.
QUOTE_ERRORS: dict[Any, Any] = {
    frozenset({400, 401, 403, 404}): ErrorOut,
    422: ValidationErrorOut,
}


class PrivilegeOut(Schema):
    code: str
    name: str
    description: str


class TierOut(Schema):
    slug: str
    name: str
    colour: str
    privileges: list[PrivilegeOut]


class BalanceOut(Schema):
    customer_external_id: str
    available: int = Field(description="Points the customer can spend now (below 0: a debt).")
    pending: int = Field(description="Points earned inside the return window, not yet spendable.")
    held: int = Field(description="Points reserved by open holds.")
    status_points: int = Field(description="Points that count towards tiers; never spent.")
    tier: TierOut | None = Field(description="The tier the customer holds now, or null.")


class QuoteIn(Schema):
    customer_external_id: ExternalId | None = Field(
        None,
        description="Cap the burn by this customer's available points, and earn at their "
        "tier's multiplier.",
    )
    lines: list[LineIn] = Field(..., min_length=1, max_length=500)
    total: Money | None = Field(
        None, description="What the customer pays before points; the lines' sum when absent."
    )


class QuoteOut(Schema):
    programme_enabled: bool
    total: Decimal
    earn: int = Field(description="Points the order earns when paid in full with money.")
    max_burn: int = Field(
        description=(
            "The most points that may pay for this order: the programme's largest share of "
            "the total at the point value, capped by the customer's available points."
        )
    )
    point_value: Decimal
    available: int | None = Field(description="The customer's available points, when named.")


class HoldIn(Schema):
    customer_external_id: ExternalId = Field(..., examples=["C-1001"])
    order_external_id: ExternalId = Field(..., examples=["Z-5002"])
    points: int = Field(..., ge=1, le=MAX_POINTS, examples=[500])
    order_total: Money | None = Field(
        None,
        examples=["2490.00"],
        description=(
            "What the customer pays before points. When given, a hold above the programme's "
            "largest share of it at the point value answers 422; when absent, the share is "
            "not checked (the quote's `max_burn` says it)."
        ),
    )
    timeout_seconds: int = Field(
        TIMEOUT_DEFAULT,
        ge=1,
        le=TIMEOUT_MAX,
        description="The hold is voided, its points given back, after this many seconds.",
    )


class ConfirmIn(Schema):
    points: int | None = Field(
        None,
        ge=1,
        le=MAX_POINTS,
        description="Points to spend, at most those held; the rest go back. Absent: all held.",
        examples=[450],
    )


class HoldOut(Schema):
    id: int
    customer_external_id: str
    order_external_id: str
    points: int
    status: HoldStatus
    confirmed_points: int | None
    created_at: Timestamp
    expires_at: Timestamp
    closed_at: Timestamp | None


def _hold_out(hold: Hold, external_id: str | None = None) -> dict[str, Any]:
    """The hold as the API shows it; `external_id` is its customer's, when the caller has it."""
    if external_id is None:
        external_id = Customer.objects.filter(pk=hold.customer_id).values_list(
            "external_id", flat=True
        )[0]
    return {
        "id": hold.pk,
        "customer_external_id": external_id,
        "order_external_id": hold.order_external_id,
        "points": hold.points,
        "status": hold.status,
        "confirmed_points": hold.confirmed_points,
        "created_at": hold.created_at,
        "expires_at": hold.expires_at,
        "closed_at": hold.closed_at,
    }


def _hold_id_check(hold_id: HoldId) -> None:
    if not Hold.objects.filter(pk=hold_id).exists():
        raise NotFound(f"No hold {hold_id}.")


@router.get(
    "/loyalty/customers/{external_id}", auth=READ, response={200: BalanceOut, **READ_ERRORS}
)
def loyalty_balance(request: HttpRequest, external_id: ExternalId) -> dict[str, Any]:
    """The customer's points by bucket, and their tier."""
    customer = customer_get(external_id)
    account = balance_of(customer.pk)
    buckets = {
        name: int(getattr(account, name)) if account else 0
        for name in ("available", "pending", "held", "status")
    }
    return {
        "customer_external_id": customer.external_id,
        "available": buckets["available"],
        "pending": buckets["pending"],
        "held": buckets["held"],
        "status_points": buckets["status"],
        "tier": _tier_out(tier_view(tier_current(customer_id=customer.pk))),
    }


@router.post("/loyalty/quote", auth=READ, response={200: QuoteOut, **QUOTE_ERRORS})
def loyalty_quote(request: HttpRequest, payload: QuoteIn) -> dict[str, Any]:
    """What a cart would earn and the most points it may burn. Writes nothing."""
    programme = Programme.current()
    available, tier = None, None
    if payload.customer_external_id is not None:
        customer = customer_get(payload.customer_external_id)
        account = balance_of(customer.pk)
        available = int(account.available) if account else 0
        tier = tier_current(customer_id=customer.pk)
    products = {p.sku: p for p in Product.objects.filter(sku__in={x.sku for x in payload.lines})}
    lines = [
        OrderLine(sku=x.sku, quantity=x.quantity, price=x.price, product=products.get(x.sku))
        for x in payload.lines
    ]
    total = payload.total
    if total is None:
        total = sum((line.total for line in lines), Decimal(0))
    earn = max_burn = 0
    if programme.enabled:
        # Nothing has been burned on a cart yet.
        cart = Order(total=total)
        earn = order_points(
            order=cart,
            lines=lines,
            burned=0,
            rules=Rules(),
            programme=programme,
            tier_multiplier=tier.earn_multiplier if tier else Decimal(1),
        )
        # The same limit a reserve with `order_total` enforces.
        max_burn = burn_limit(programme=programme, total=total)
        if available is not None:
            max_burn = max(0, min(max_burn, available))
    return {
        "programme_enabled": programme.enabled,
        "total": total,
        "earn": earn,
        "max_burn": max_burn,
        "point_value": programme.point_value,
        "available": available,
    }


@router.get("/loyalty/holds/{hold_id}", auth=READ, response={200: HoldOut, **READ_ERRORS})
def loyalty_hold_get(request: HttpRequest, hold_id: HoldId) -> dict[str, Any]:
    _hold_id_check(hold_id)
    return _hold_out(Hold.objects.get(pk=hold_id))


@write_operation(router, "POST", "/loyalty/holds", scope=ApiScope.LOYALTY, response={201: HoldOut})
def loyalty_hold_reserve(request: HttpRequest, payload: HoldIn) -> Any:
    """Reserve points against an order until the time-out.

    422 when the customer has fewer points available, or more than the programme's share of
    `order_total` when it is given; 409 when the programme is off or the order already has an
    open hold.
    """
    customer = customer_get(payload.customer_external_id)
    try:
        hold = hold_reserve(
            customer_id=customer.pk,
            order_external_id=payload.order_external_id,
            points=payload.points,
            timeout_seconds=payload.timeout_seconds,
            order_total=payload.order_total,
        )
    except HoldConflict as exc:
        return Status(409, {"detail": exc.message})
    # The survivor's id when the payload named a merged customer, as a read of the hold says.
    return Status(201, _hold_out(hold, customer.external_id))


@write_operation(
    router,
    "POST",
    "/loyalty/holds/{hold_id}/confirm",
    scope=ApiScope.LOYALTY,
    response={200: HoldOut},
)
def loyalty_hold_confirm(request: HttpRequest, hold_id: HoldId, payload: ConfirmIn) -> Any:
    """Spend the hold's points (or fewer, giving back the rest).

    409 when the hold is already confirmed, cancelled or expired (a hold past its time-out is
    voided at this moment); 422 when more points are asked than held.
    """
    # No existence check first: the confirm reads the hold under its account's lock anyway.
    try:
        points = payload.points or Hold.objects.get(pk=hold_id).points
        hold = hold_confirm(hold_id=hold_id, points=points)
    except Hold.DoesNotExist:
        raise NotFound(f"No hold {hold_id}.") from None
    except HoldConflict as exc:
        return Status(409, {"detail": exc.message})
    return _hold_out(hold)


@write_operation(
    router,
    "POST",
    "/loyalty/holds/{hold_id}/cancel",
    scope=ApiScope.LOYALTY,
    response={200: HoldOut},
)
def loyalty_hold_cancel(request: HttpRequest, hold_id: HoldId) -> Any:
    """Give the hold's points back. A cancelled or expired hold answers as it is; 409 when
    it is confirmed already."""
    try:
        hold = hold_cancel(hold_id=hold_id)
    except Hold.DoesNotExist:
        raise NotFound(f"No hold {hold_id}.") from None
    except HoldConflict as exc:
        return Status(409, {"detail": exc.message})
    return _hold_out(hold)


# --- The customer's status, for the shop's account page ---------------------------------------


class PointsNameOut(Schema):
    one: str = Field(description="1 балл")
    few: str = Field(description="2 балла")
    many: str = Field(description="5 баллов")


class DatedPointsOut(Schema):
    points: int
    at: Timestamp = Field(description="When they become spendable, or expire.")
    text: str = Field(description="The points in words: «25 баллов».")


class ChangeOut(Schema):
    id: int
    at: Timestamp
    kind: TxKind
    kind_name: str = Field(description="The kind in words, in the response's language.")
    points: int = Field(description="The change of the customer's own points (signed).")
    moved: int = Field(
        description="Points that only changed bucket: became spendable, held, released."
    )
    status_points: int
    order_external_id: str = Field(description="The order it was for, or empty.")
    rule: str = Field(description="The earning rule's name, or empty.")
    journey: str = Field(description="The journey that gave the points, or empty.")
    comment: str = Field(description="The staff member's comment, or empty.")
    reason: str = Field(description="All of the above in words.")


class MissingOut(Schema):
    """What the next tier still takes: reaching any one of those not null is enough."""

    orders: int | None
    spend: Decimal | None
    status_points: int | None
    text: str = Field(description="In words: «ещё 2 заказа или 3 400 ₽».")


class ReferralOut(Schema):
    code: str
    link: str
    visits: int
    invited: int = Field(description="Friends who came with the code and bought.")
    converted: int = Field(description="Friends whose referral was rewarded.")
    points_earned: int
    referrer_points: int = Field(description="What the next friend brings the customer.")
    friend_points: int = Field(description="What the next friend gets.")


class StatusOut(Schema):
    customer_external_id: str
    programme_enabled: bool
    language: str = Field(description="The language of the texts: the customer's, or asked.")
    points_name: PointsNameOut
    balance: int = Field(description="Points the customer can spend now.")
    balance_text: str = Field(description="The balance in words: «1 250 баллов».")
    debt: int = Field(description="Points a refund took back after they were spent.")
    pending: int
    held: int
    status_points: int
    pending_lots: list[DatedPointsOut] = Field(description="Pending points by date spendable.")
    expiring: list[DatedPointsOut] = Field(
        description=f"Points expiring within {EXPIRING_DAYS} days, by lot, oldest first."
    )
    history: list[ChangeOut] = Field(description="The latest changes, newest first.")
    tier: TierOut | None = Field(description="The tier the customer holds now.")
    next_tier: TierOut | None = Field(description="The next tier up; null at the top.")
    missing: MissingOut | None = Field(description="What the next tier takes; null at the top.")
    progress_percent: int | None = Field(
        description="How far towards the next tier, 0-100 (the closest threshold)."
    )
    window_months: int = Field(description="Tiers count what happened in this many months.")
    referral: ReferralOut | None = Field(description="Null while referrals are off.")
    manager_name: str = Field(description="The customer's personal manager, or empty.")
    status_url: str = Field(
        description=f"The customer's status page: a signed link, valid {STATUS_LINK_DAYS} days."
    )


def _status_out(customer: Customer, found: LoyaltyStatus, language: str) -> dict[str, Any]:
    def dated(lots: tuple[DatedPoints, ...]) -> list[dict[str, Any]]:
        return [{"points": x.points, "at": x.at, "text": found.points_text(x.points)} for x in lots]

    return {
        "customer_external_id": customer.external_id,
        "programme_enabled": found.enabled,
        "language": language,
        "points_name": {"one": found.names.one, "few": found.names.few, "many": found.names.many},
        "balance": found.balance,
        "balance_text": found.points_text(found.balance),
        "debt": found.debt,
        "pending": found.pending,
        "held": found.held,
        "status_points": found.status_points,
        "pending_lots": dated(found.pending_lots),
        "expiring": dated(found.expiring),
        "history": [
            {
                "id": change.id,
                "at": change.at,
                "kind": change.kind,
                "kind_name": str(TxKind(change.kind).label),
                "points": change.points,
                "moved": change.moved,
                "status_points": change.status_points,
                "order_external_id": change.order,
                "rule": change.rule,
                "journey": change.journey,
                "comment": change.comment,
                "reason": change_reason(change),
            }
            for change in found.history
        ],
        "tier": _tier_out(found.tier),
        "next_tier": _tier_out(found.next_tier),
        "missing": None
        if found.missing is None
        else {
            "orders": found.missing.orders,
            "spend": found.missing.spend,
            "status_points": found.missing.status_points,
            "text": missing_text(found.missing),
        },
        "progress_percent": found.progress_percent,
        "window_months": found.window_months,
        "referral": None if found.referral is None else dataclasses.asdict(found.referral),
        "manager_name": found.manager_name,
        "status_url": status_url(customer_id=customer.pk),
    }


def _tier_out(tier: TierView | None) -> dict[str, Any] | None:
    return None if tier is None else dataclasses.asdict(tier)


@router.get(
    "/loyalty/customers/{external_id}/status",
    auth=READ,
    response={200: StatusOut, **READ_ERRORS},
)
def loyalty_customer_status(
    request: HttpRequest,
    external_id: ExternalId,
    language: Literal["ru", "en"] | None = None,
    history: Annotated[int, Field(ge=0, le=HISTORY_LIMIT)] = 20,
) -> dict[str, Any]:
    """What the customer's status page shows, for the shop's own account page.

    Texts (`balance_text`, `kind_name`, `reason`) are in the customer's language unless
    `language` asks for another. The same number of queries however long the history.
    """
    customer = customer_get(external_id)
    spoken = language or ("en" if customer.language == "en" else "ru")
    with translation.override(spoken):
        found = loyalty_status(customer_id=customer.pk, history_limit=history)
        return _status_out(customer, found, spoken)
