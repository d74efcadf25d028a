"""The customer's loyalty status page: points, what is pending or expiring, and why each
change happened. Read-only, reached by a signed link from a message (no login, no script).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from lifelong import clock
from lifelong.community.early_access import PRIVILEGE, early_access_for, early_access_link
from lifelong.lib.zones import zone_of
from lifelong.loyalty.models import Tier, TxKind
from lifelong.loyalty.status import (
    LINK_PURPOSE,
    STATUS_LINK_DAYS,
    LoyaltyStatus,
    change_reason,
    loyalty_status,
    missing_text,
)
from lifelong.web.portal.guard import customer_from_link, customer_page


@never_cache
@require_safe
@customer_page
def status(request: HttpRequest, token: str) -> HttpResponse:
    customer, _rest = customer_from_link(
        request, purpose=LINK_PURPOSE, token=token, lifetime_days=STATUS_LINK_DAYS
    )
    found = loyalty_status(customer_id=customer.pk)
    # Dates as the customer's calendar has them, not the server's.
    with timezone.override(zone_of(customer.time_zone)):
        return render(
            request,
            "portal/loyalty.html",
            {
                "customer": customer,
                "status": found,
                "early_access": _early_access(found),
                **_words(found),
            },
        )


def _early_access(found: LoyaltyStatus) -> list[dict[str, object]] | None:
    """What the customer's tier opens early now or soon (None when the tier does not open
    early access: the page then says nothing about it). Two queries, only for such a tier."""
    if found.tier is None or not any(p.code == PRIVILEGE for p in found.tier.privileges):
        return None
    tier = Tier.objects.filter(slug=found.tier.slug).first()
    now = clock.now()
    return [
        {
            "name": window.name,
            "starts_at": window.starts_at,
            "public_at": window.public_at,
            "open": window.starts_at <= now,
            "link": early_access_link(window, customer_id=found.customer_id)
            if window.starts_at <= now
            else "",
        }
        for window in early_access_for(tier=tier, now=now)
    ]


def _words(found: LoyaltyStatus) -> dict[str, object]:
    """The numbers as the page says them (the plural forms agree with each number)."""
    text = found.points_text
    return {
        "balance_text": text(found.balance),
        "debt_text": text(found.debt) if found.debt else "",
        "held_text": text(found.held) if found.held else "",
        "pending_lots": [(text(lot.points), lot.at) for lot in found.pending_lots],
        "expiring": [(text(lot.points), lot.at) for lot in found.expiring],
        "missing_text": missing_text(found.missing) if found.missing else "",
        "referral_friend": _nonzero(found, found.referral.friend_points if found.referral else 0),
        "referral_referrer": _nonzero(
            found, found.referral.referrer_points if found.referral else 0
        ),
        "referral_earned": text(found.referral.points_earned) if found.referral else "",
        "history": [
            {
                "at": change.at,
                "what": TxKind(change.kind).label,
                "reason": change_reason(change),
                "points": _signed(found, change.points) if change.points else "",
                "moved": text(change.moved) if change.moved and not change.points else "",
                "gain": change.points > 0,
            }
            for change in found.history
        ],
    }


def _nonzero(found: LoyaltyStatus, points: int) -> str:
    return found.points_text(points) if points else ""


def _signed(found: LoyaltyStatus, points: int) -> str:
    # A real minus sign: a hyphen reads as a dash in running text.
    sign = "+" if points > 0 else "\u2212"
    return sign + found.points_text(abs(points))
