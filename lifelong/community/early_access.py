"""Early access, a tier privilege: a product or collection open to a tier before everyone.

An `EarlyAccess` names the goods (a SKU or a collection, i.e. a product category), the lowest
tier that sees them early, when they open to that tier (`starts_at`) and when to everyone
(`public_at`). A customer has early access when the tier they hold now is that tier or
higher and opens the "early_access" privilege (loyalty.privileges), so switching the
privilege off on a tier takes the access away at once, and a customer who is downgraded
loses it with the tier.

- `early_access_open_due` (the `community.early_access` sweep) records `early_access_opened`
  once for each customer who qualifies when a window opens (key
  `early_access_opened:<window>:<customer>`), with the window's name, goods, dates and the
  customer's signed link (`url`); a journey started by the event sends the announcement.
- `early_access_check` answers the shop: may this customer see these goods now?
- `early_access_link`: the shop's page with a signed token that names the customer, for a
  shopper who is not logged in; the shop passes the token to the API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db import connection, transaction
from django.db.models import Q

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.commerce.models import Product
from lifelong.community.models import EarlyAccess
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.lib.signing import token_make, token_read
from lifelong.loyalty.models import CustomerTier, Tier
from lifelong.loyalty.tiers import Ladder, tiers_current

EVENT_TYPE = "early_access_opened"
PRIVILEGE = "early_access"
TOKEN_PURPOSE = "early_access"  # noqa: S105 - a signing purpose, not a secret
# A link in an announcement is worth following for a season, not forever.
TOKEN_DAYS = 120
CHUNK = 2000


def tiers_with_access(window: EarlyAccess, ladder: Ladder | None = None) -> set[int]:
    """Ids of the tiers that see `window` early: its tier or higher, active, with the
    privilege."""
    ladder = ladder or Ladder()
    return {
        t.pk
        for t in ladder.by_id.values()
        if t.active and t.position >= window.tier.position and PRIVILEGE in (t.privileges or [])
    }


def qualifies(tier: Tier | None, window: EarlyAccess) -> bool:
    return bool(
        tier is not None
        and tier.active
        and tier.position >= window.tier.position
        and PRIVILEGE in (tier.privileges or [])
    )


def early_access_token(*, customer_id: int) -> str:
    return token_make(purpose=TOKEN_PURPOSE, value=customer_id)


def early_access_customer_of(token: str) -> int | None:
    """The customer a link's token names, or None for a forged or old token."""
    value = token_read(purpose=TOKEN_PURPOSE, token=token, max_age_days=TOKEN_DAYS)
    return int(value) if value and value.isdigit() else None


def early_access_link(window: EarlyAccess, *, customer_id: int) -> str:
    """The window's shop page with the customer's signed token (`early=`); "" without a page."""
    if not window.url:
        return ""
    parts = urlsplit(window.url)
    query = "&".join(
        filter(None, [parts.query, f"early={early_access_token(customer_id=customer_id)}"])
    )
    return urlunsplit(parts._replace(query=query))


def early_access_open_due() -> int:
    """Open every window whose time has come; returns how many events were recorded."""
    recorded = 0
    while True:
        with transaction.atomic():
            due = EarlyAccess.objects.filter(
                opened_at__isnull=True, starts_at__lte=clock.now()
            ).order_by("starts_at", "pk")
            if connection.features.has_select_for_update_skip_locked:
                due = due.select_for_update(skip_locked=True, of=("self",))
            window = due.select_related("tier").first()
            if window is None:
                return recorded
            recorded += _open(window)
            window.opened_at = clock.now()
            window.save(update_fields=["opened_at"])


def _open(window: EarlyAccess) -> int:
    ladder = Ladder()
    tier_ids = tiers_with_access(window, ladder)
    if not tier_ids or clock.now() >= window.public_at:
        return 0  # no tier sees it early, or it is open to everyone already
    candidates = (
        CustomerTier.objects.filter(Q(tier_id__in=tier_ids) | Q(manual_tier_id__in=tier_ids))
        .filter(customer__merged_into__isnull=True)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
    )
    recorded = 0
    for chunk in _chunks(candidates.iterator(chunk_size=CHUNK)):
        tiers = tiers_current(customer_ids=chunk)
        events = [
            _event(window, customer_id)
            for customer_id, tier in tiers.items()
            if tier is not None and tier.pk in tier_ids
        ]
        keys = [e.idempotency_key for e in events]
        seen = set(
            Event.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
        )
        fresh = [e for e in events if e.idempotency_key not in seen]
        events_record(fresh)
        recorded += len(fresh)
    return recorded


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    chunk: list[int] = []
    for pk in ids:
        chunk.append(pk)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _event(window: EarlyAccess, customer_id: int) -> Event:
    now = clock.now()
    return Event(
        customer_id=customer_id,
        type=EVENT_TYPE,
        properties={
            "early_access_id": window.pk,
            "name": window.name,
            "sku": window.sku,
            "collection": window.collection,
            "starts_at": window.starts_at.isoformat(),
            "public_at": window.public_at.isoformat(),
            # `url`: journeys copy it into their context, so the announcement says
            # {{ journey.url }}.
            "url": early_access_link(window, customer_id=customer_id),
        },
        # When it opened for them here: a window saved with a start already past opens now,
        # and journeys (which ignore events older than two days) still announce it.
        occurred_at=now,
        received_at=now,
        source="community",
        idempotency_key=f"{EVENT_TYPE}:{window.pk}:{customer_id}",
    )


@dataclass(frozen=True)
class Access:
    """The answer to the shop: may this customer see these goods now?"""

    restricted: bool  # an early window for the goods is ahead or on
    access: bool
    early: bool  # the access is the customer's privilege, not yet everyone's
    window: EarlyAccess | None
    opens_at: dt.datetime | None  # for this customer


def _windows(sku: str, collection: str) -> list[EarlyAccess]:
    """Windows naming the goods: the SKU, its product's category, or the collection."""
    match = Q()
    if sku:
        match |= Q(sku=sku)
        category = Product.objects.filter(sku=sku).values_list("category", flat=True).first()
        if category:
            match |= Q(collection=category)
    if collection:
        match |= Q(collection=collection)
    if not match:
        return []
    return list(
        EarlyAccess.objects.filter(match).select_related("tier").order_by("-public_at", "-pk")
    )


def early_access_check(
    *, customer_id: int | None, sku: str = "", collection: str = "", now: dt.datetime | None = None
) -> Access:
    """Whether the customer (None: an anonymous shopper) may see the goods at `now`.

    The window that matters is the one that opens to everyone last; goods with no window
    are open to all.
    """
    now = now or clock.now()
    windows = _windows(sku, collection)
    if not windows or all(w.public_at <= now for w in windows):
        return Access(False, True, False, windows[0] if windows else None, None)
    window = windows[0]
    tier = tiers_current(customer_ids=[customer_id])[customer_id] if customer_id else None
    opens_at = window.starts_at if qualifies(tier, window) else window.public_at
    access = now >= opens_at
    return Access(True, access, access and opens_at < window.public_at, window, opens_at)


def early_access_for(*, tier: Tier | None, now: dt.datetime | None = None) -> list[EarlyAccess]:
    """The windows a holder of `tier` sees early that are on or ahead, soonest first (the
    customer's status page lists them)."""
    now = now or clock.now()
    if tier is None or PRIVILEGE not in (tier.privileges or []):
        return []
    return [
        w
        for w in EarlyAccess.objects.filter(public_at__gt=now)
        .select_related("tier")
        .order_by("starts_at", "pk")
        if qualifies(tier, w)
    ]


EARLY_ACCESS_FIELDS = ("name", "sku", "collection", "url", "tier", "starts_at", "public_at")


@transaction.atomic
def early_access_save(
    *, window: EarlyAccess | None, values: dict[str, Any], by: User
) -> EarlyAccess:
    """Create or change an early-access window (values as EARLY_ACCESS_FIELDS), audited.

    A window whose opening moved later is opened again then (its events are keyed, so a
    customer told once is not told twice)."""
    window = window or EarlyAccess(created_by=by)
    moved = window.pk is not None and values["starts_at"] != window.starts_at
    for name in EARLY_ACCESS_FIELDS:
        setattr(window, name, values[name])
    if moved and window.starts_at > clock.now():
        window.opened_at = None
    window.save()
    audit_record(
        actor=by,
        action="community.early_access_save",
        obj=window,
        changes={
            name: str(values[name].pk if isinstance(values[name], Tier) else values[name])
            for name in EARLY_ACCESS_FIELDS
        },
    )
    return window
