"""The `loyalty` objects of a group, read together, are those read one customer at a time, and
the group costs the same few queries whatever its size."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from lifelong import clock
from lifelong.conftest import FROZEN_AT
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.holds import hold_reserve
from lifelong.loyalty.services import points_award
from lifelong.loyalty.sweeps import loyalty_expire_due
from lifelong.loyalty.tests.helpers import order_paid, programme_start
from lifelong.loyalty.tests.test_tiers import ladder_create
from lifelong.loyalty.tiers import tier_set_manual, tiers_refresh
from lifelong.messaging.templating.loyalty import loyalty_context, loyalty_contexts

PEOPLE = st.lists(
    st.fixed_dictionaries(
        {
            "language": st.sampled_from(["ru", "en"]),
            "award": st.sampled_from([0, 1, 3, 1250]),
            "orders": st.lists(st.sampled_from(["990", "12400", "31000"]), max_size=3),
            "hold": st.integers(0, 2),
            "guru": st.booleans(),
        }
    ),
    min_size=1,
    max_size=6,
)


def _people(specs: list[dict]) -> list:
    tiers = ladder_create()
    customers = []
    for n, spec in enumerate(specs):
        customer = CustomerFactory.create(language=spec["language"])
        if spec["award"]:
            points_award(customer_id=customer.pk, points=spec["award"], key=f"a{customer.pk}")
        for i, total in enumerate(spec["orders"]):
            order_paid(customer, f"Z-{n}-{i}", total)
        if spec["hold"] and spec["award"] > spec["hold"]:
            hold_reserve(
                customer_id=customer.pk,
                order_external_id=f"H-{n}",
                points=spec["hold"],
                timeout_seconds=600,
            )
        if spec["guru"]:
            tier_set_manual(
                customer_id=customer.pk,
                tier=tiers["guru"],
                until=clock.now() + dt.timedelta(days=400),
                actor=None,
                reason="test",
            )
        customers.append(customer)
    loyalty_earn()
    tiers_refresh(customer_ids=[c.pk for c in customers])
    return customers


class TestGroupEqualsSingles(TestCase):
    @settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow])
    @given(specs=PEOPLE, days=st.sampled_from([0, 20, 340, 400]))
    def test_each_customer_reads_the_same_alone_and_in_a_group(self, specs, days):
        with time_machine.travel(FROZEN_AT, tick=False) as travel:
            programme_start(pending_days=14, expiry_months=12, point_value=Decimal("1"))
            customers = _people(specs)
            # Lots become spendable, come close to their expiry, or expire.
            travel.shift(dt.timedelta(days=days))
            loyalty_expire_due()
            segments = {c.pk: {"stage": f"s{c.pk}"} for c in customers}
            group = loyalty_contexts(
                customers=[(c.pk, c.language) for c in customers], segments=segments
            )
            for customer in customers:
                alone = loyalty_context(
                    customer_id=customer.pk,
                    language=customer.language,
                    segments=segments[customer.pk],
                )
                assert group[customer.pk] == alone
                assert str(group[customer.pk]) == str(alone)


class TestQueriesPerGroup(TestCase):
    def test_ten_and_forty_customers_cost_the_same_queries(self):
        with time_machine.travel(FROZEN_AT, tick=False):
            programme_start(pending_days=14, expiry_months=12)
            specs = [
                {
                    "language": ("ru", "en")[n % 2],
                    "award": 10 * n,
                    "orders": ["12400"] * (n % 3),
                    "hold": 0,
                    "guru": n % 5 == 0,
                }
                for n in range(40)
            ]
            customers = _people(specs)
            counts = []
            for size in (10, 40):
                with CaptureQueriesContext(connection) as queries:
                    found = loyalty_contexts(
                        customers=[(c.pk, c.language) for c in customers[:size]], segments={}
                    )
                assert len(found) == size
                counts.append(len(queries))
            # Seven per language: the programme, accounts, lots; tiers, tier rows, two totals.
            assert counts == [14, 14]
