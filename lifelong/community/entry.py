"""Who may be in a club: its entry rule, read set-based for the sweep and for one customer.

- tier: the customer's tier now (a valid manual tier, else the qualified one, as
  `loyalty.tiers.tier_current` decides) is the club's tier or higher; a tier going down is
  already late by the programme's own review and grace, and the club adds its own grace;
- segment: the customer is in the segment now (`SegmentMembership`);
- staff: staff invited the customer to this club (a staff-sourced `ClubInvite`);
- open: the customer has a linked chat on the club's messenger.

Under every rule, a customer staff invited qualifies: staff vouched for them (an invitation
by staff skips the rule), so the removal sweep must not take them out for failing it.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from lifelong import clock
from lifelong.community.models import Club, ClubInvite, EntryRule, InviteSource
from lifelong.customers.models import Customer
from lifelong.loyalty.models import Tier
from lifelong.loyalty.tiers import Ladder, tier_current
from lifelong.segments.models import SegmentMembership


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
    """The customers the club's entry rule admits now, and those staff invited (merged
    duplicates never)."""
    invited = Q(
        pk__in=ClubInvite.objects.filter(club=club, source=InviteSource.STAFF).values("customer_id")
    )
    rule = _rule(club)
    customers = Customer.objects.live()
    # An empty Q admits everyone, but `Q() | invited` would read as `invited` alone.
    return customers if rule == Q() else customers.filter(rule | invited)


def _rule(club: Club) -> Q:
    if club.entry == EntryRule.TIER:
        return _tier_holders(club.tier) if club.tier is not None else Q(pk__in=[])
    if club.entry == EntryRule.SEGMENT:
        if club.segment_id is None:
            return Q(pk__in=[])
        return Q(
            pk__in=SegmentMembership.objects.filter(segment_id=club.segment_id).values(
                "customer_id"
            )
        )
    if club.entry == EntryRule.STAFF:
        return Q(pk__in=[])  # only the invited
    if club.on_telegram:
        return ~Q(telegram_chat_id="")
    return ~Q(vk_id="")


def customer_qualifies(*, club: Club, customer: Customer) -> bool:
    """The same rule as `customers_qualifying`, for one customer."""
    if customer.merged_into_id is not None:
        return False
    if club.entry == EntryRule.TIER:
        held = tier_current(customer_id=customer.pk)
        if club.tier is not None and held is not None and held.position >= club.tier.position:
            return True
    return customers_qualifying(club).filter(pk=customer.pk).exists()
