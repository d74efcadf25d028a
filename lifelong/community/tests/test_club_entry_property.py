"""The removal sweep reads a tier club's entry rule set-based; the join page and invitations
read it for one customer through `loyalty.tiers.tier_current`. Both must always agree, for
any mix of held tiers, switched-off tiers and manual tiers still valid or lapsed, and both
admit every customer staff invited, whatever their tier."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.community.entry import customer_qualifies, customers_qualifying
from lifelong.community.models import Club, ClubInvite, EntryRule, InviteSource
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import CustomerTier, Tier

NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)

rows = st.lists(
    st.tuples(
        st.sampled_from([None, 0, 1, 2, 3]),  # held tier index (None: no row)
        st.sampled_from([None, 0, 1, 2, 3]),  # manual tier index
        st.sampled_from([-5, 5]),  # manual tier's end, days from now
        st.booleans(),  # invited by staff
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.django_db
@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    customers=rows,
    entry_open=st.booleans(),
    switched_off=st.sampled_from([None, 1, 2]),
    club_tier=st.integers(0, 3),
)
def test_the_set_and_the_single_reading_of_a_tier_rule_agree(
    customers, entry_open, switched_off, club_tier
):
    with time_machine.travel(NOW, tick=False):
        Club.objects.all().delete()
        CustomerTier.objects.all().delete()
        Customer.objects.all().delete()
        Tier.objects.all().delete()
        # The lowest tier is the entry level (no threshold) or, sometimes, has one.
        tiers = [
            Tier.objects.create(
                slug=f"t{i}",
                name=f"T{i}",
                position=i + 1,
                min_orders=0 if (i == 0 and entry_open) else i + 1,
                min_spend=Decimal(0),
                active=i != switched_off,
            )
            for i in range(4)
        ]
        club = Club.objects.create(
            title="Клуб", chat_id="-1001", entry=EntryRule.TIER, tier=tiers[club_tier]
        )
        invited = set()
        for held, manual, until, by_staff in customers:
            customer = CustomerFactory.create()
            if by_staff:
                ClubInvite.objects.create(club=club, customer=customer, source=InviteSource.STAFF)
                invited.add(customer.pk)
            if held is None and manual is None:
                continue
            CustomerTier.objects.create(
                customer=customer,
                tier=tiers[held] if held is not None else None,
                manual_tier=tiers[manual] if manual is not None else None,
                manual_until=clock.now() + dt.timedelta(days=until) if manual is not None else None,
            )

        in_set = set(customers_qualifying(club).values_list("pk", flat=True))
        one_by_one = {
            c.pk for c in Customer.objects.all() if customer_qualifies(club=club, customer=c)
        }
        assert in_set == one_by_one
        assert invited <= in_set
