"""Who may be in a club: its entry rule, read set-based for the sweep and for one customer.

- tier: the customer's tier now (a valid manual tier, else the qualified one, as
  `loyalty.tiers.tier_current` decides) is the club's tier or higher; a tier going down is
  already late by the programme's own review and grace, and the club adds its own grace;
- segment: the customer is in the segment now (`SegmentMembership`);
- staff: staff invited the customer to this club (a staff-sourced `ClubInvite`);
- open: the customer has a linked chat on the club's messenger.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from lifelong import clock
from lifelong.community.models import Club, ClubInvite, EntryRule, InviteSource
from lifelong.customers.models import Customer
from lifelong.loyalty.models import Tier
from lifelong.loyalty.tiers import Ladder, tier_current


def _tier_holders(tier: Tier) -> Q:
    """Customers holding `tier` or a higher one now, in the terms of `Ladder.current`: the
    held tier (the entry level when its tier is off or there is no row) or a manual tier
    still valid, whichever is higher."""
    entry = Ladder().entry
    if entry is not None and entry.position >= tier.position:
        return Q()  # everyone holds at least the entry level
    held = Q(loyalty_tier__tier__active=True, loyalty_tier__tier__position__gte=tier.position)
    manual = Q(
        loyalty_tier__manual_tier__active=True,
        loyalty_tier__manual_tier__position__gte=tier.position,
        loyalty_tier__manual_until__gt=clock.now(),
    )
    return held | manual


def customers_qualifying(club: Club) -> QuerySet[Customer]:
    """The customers the club's entry rule admits now (merged duplicates never)."""
    customers = Customer.objects.live()
    if club.entry == EntryRule.TIER:
        if club.tier is None:
            return customers.none()
        return customers.filter(_tier_holders(club.tier))
    if club.entry == EntryRule.SEGMENT:
        if club.segment_id is None:
            return customers.none()
        return customers.filter(segment_memberships__segment_id=club.segment_id)
    if club.entry == EntryRule.STAFF:
        invited = ClubInvite.objects.filter(club=club, source=InviteSource.STAFF)
        return customers.filter(pk__in=invited.values("customer_id"))
    if club.on_telegram:
        return customers.exclude(telegram_chat_id="")
    return customers.exclude(vk_id="")


def customer_qualifies(*, club: Club, customer: Customer) -> bool:
    """The same rule as `customers_qualifying`, for one customer."""
    if customer.merged_into_id is not None:
        return False
    if club.entry == EntryRule.TIER:
        held = tier_current(customer_id=customer.pk)
        return club.tier is not None and held is not None and held.position >= club.tier.position
    return customers_qualifying(club).filter(pk=customer.pk).exists()
