"""Awards credited as a group (a journey step's, `points_award_many`) post exactly what the same
awards credited one at a time post, and crediting the group again posts nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import Entry, Lot, Transaction
from lifelong.loyalty.services import Award, points_award, points_award_many, points_redeem
from lifelong.loyalty.tests.helpers import assert_consistent, balances

pytestmark = pytest.mark.django_db

FROZEN_AT = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
PEOPLE = 3
# (whose, points, status points, key): a key drawn twice is one award credited once.
award = st.tuples(
    st.integers(0, PEOPLE - 1), st.integers(0, 300), st.integers(0, 40), st.integers(0, 6)
)
# Per customer before the awards: points earned, and how many of them spent since.
history = st.tuples(st.integers(0, 300), st.integers(0, 300))


def _awards(side: list[Customer], tag: str, drawn: list[tuple[int, int, int, int]]) -> list[Award]:
    return [
        Award(
            customer_id=side[who].pk,
            points=points,
            status_points=status,
            key=f"{tag}:{key}",
            reason={"enrollment_id": key, "node_id": "gift", "comment": f"award {key}"},
        )
        for who, points, status, key in drawn
    ]


def _ledger(customer: Customer, tag: str) -> tuple[list[tuple], list[tuple]]:
    """The customer's postings (keys without the side's tag) with their entries, and lots."""
    postings = [
        (
            tx.key.removeprefix(tag),
            tx.kind,
            tx.enrollment_id,
            tx.node_id,
            tx.comment,
            sorted(
                (e.account.kind, e.bucket, e.points, e.lot.points if e.lot else None)
                for e in Entry.objects.filter(transaction=tx).select_related("account", "lot")
            ),
        )
        for tx in Transaction.objects.filter(customer=customer).order_by("pk")
    ]
    lots = list(
        Lot.objects.filter(customer=customer)
        .order_by("pk")
        .values_list("points", "remaining", "released", "expires_at", "pending_until")
    )
    return postings, lots


@settings(
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    before=st.lists(history, min_size=PEOPLE, max_size=PEOPLE),
    drawn=st.lists(award, max_size=12),
)
def test_a_group_award_posts_what_the_awards_one_at_a_time_post(before, drawn):
    with time_machine.travel(FROZEN_AT, tick=False), transaction.atomic():
        sides = {
            "a:": CustomerFactory.create_batch(PEOPLE),
            "g:": CustomerFactory.create_batch(PEOPLE),
        }
        for tag, side in sides.items():
            for n, (customer, (earned, spent)) in enumerate(zip(side, before, strict=True)):
                if earned:
                    points_award(customer_id=customer.pk, points=earned, key=f"{tag}earn{n}")
                if 0 < spent <= earned:
                    points_redeem(customer_id=customer.pk, points=spent, key=f"{tag}spend{n}")

        alone = [
            points_award(
                customer_id=a.customer_id,
                points=a.points,
                key=a.key,
                status_points=a.status_points,
                **a.reason,
            )
            for a in _awards(sides["a:"], "a", drawn)
        ]
        together = points_award_many(_awards(sides["g:"], "g", drawn))

        assert [tx is None for tx in together] == [tx is None for tx in alone]
        for one, other in zip(sides["a:"], sides["g:"], strict=True):
            assert balances(one) == balances(other)
            assert _ledger(one, "a:") == _ledger(other, "g:")
        posted = Transaction.objects.count()
        assert points_award_many(_awards(sides["g:"], "g", drawn)) == [None] * len(drawn)
        assert Transaction.objects.count() == posted
        assert_consistent()
        transaction.set_rollback(True)
