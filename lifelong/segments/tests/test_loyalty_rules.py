"""Segment conditions on the loyalty programme: tier is, has a privilege, points balance."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydantic import ValidationError

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import CustomerTier, Tier
from lifelong.loyalty.services import points_award
from lifelong.segments.rules import rules_compile, rules_parse
from lifelong.segments.services import segment_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(frozen_time):
    """novichok (entry) for everyone; znatok opens early access; guru (by invitation) opens
    early access and a personal manager.
    a: znatok, 250 points.  b: guru set by hand, 40 points.  c: no tier row, no account.
    d: a row announcing the entry level, 100 points."""
    Tier.objects.create(slug="novichok", name="Новичок", position=1)
    Tier.objects.create(
        slug="znatok", name="Знаток", position=2, min_orders=2, privileges=["early_access"]
    )
    guru = Tier.objects.create(
        slug="guru",
        name="Гуру",
        position=3,
        invitation_only=True,
        privileges=["early_access", "personal_manager"],
    )
    # A switched-off tier that opened a privilege opens nothing now.
    Tier.objects.create(
        slug="old", name="Старый", position=4, active=False, privileges=["closed_community"]
    )
    a, b, c, d = CustomerFactory.create_batch(4)
    CustomerTier.objects.create(customer=a, shown="znatok")
    CustomerTier.objects.create(
        customer=b,
        shown="guru",
        manual_tier=guru,
        manual_until=clock.now() + dt.timedelta(days=30),
    )
    CustomerTier.objects.create(customer=d, shown="novichok")
    for customer, points in ((a, 250), (b, 40), (d, 100)):
        points_award(customer_id=customer.pk, points=points, key=f"gift:{customer.pk}")
    return {"a": a.pk, "b": b.pk, "c": c.pk, "d": d.pk}


def matching(world, condition: dict) -> set[str]:
    """Names matching the condition; the negation matches exactly everyone else."""
    names = {pk: name for name, pk in world.items()}

    def run(rules: dict) -> set[str]:
        q = rules_compile(rules_parse(rules), now=clock.now())
        return {names[pk] for pk in Customer.objects.filter(q).values_list("pk", flat=True)}

    plain = run({"op": "and", "rules": [condition]})
    negated = run({"op": "and", "rules": [{**condition, "negate": True}]})
    assert plain | negated == set(world) and not plain & negated
    return plain


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"kind": "tier", "tiers": ["znatok"]}, {"a"}),
        ({"kind": "tier", "tiers": ["znatok", "guru"]}, {"a", "b"}),
        # No row yet is the entry level.
        ({"kind": "tier", "tiers": ["novichok"]}, {"c", "d"}),
        ({"kind": "tier", "tiers": ["nosuchtier"]}, set()),
        ({"kind": "privilege", "privilege": "early_access"}, {"a", "b"}),
        ({"kind": "privilege", "privilege": "personal_manager"}, {"b"}),
        ({"kind": "privilege", "privilege": "closed_community"}, set()),
        ({"kind": "points", "op": "gte", "value": 100}, {"a", "d"}),
        ({"kind": "points", "op": "lt", "value": 50}, {"b", "c"}),
        ({"kind": "points", "op": "eq", "value": 0}, {"c"}),
        ({"kind": "points", "op": "gte", "value": 0}, {"a", "b", "c", "d"}),
    ],
)
def test_each_loyalty_condition(world, condition, expected):
    assert matching(world, condition) == expected


def test_without_an_entry_level_a_customer_without_a_row_has_no_tier(world):
    Tier.objects.filter(slug="novichok").update(min_orders=1)
    assert matching(world, {"kind": "tier", "tiers": ["novichok"]}) == {"d"}


def test_the_conditions_combine_with_others_in_one_query(world):
    rules = rules_parse(
        {
            "op": "or",
            "rules": [
                {"kind": "privilege", "privilege": "personal_manager"},
                {
                    "op": "and",
                    "rules": [
                        {"kind": "tier", "tiers": ["znatok"]},
                        {"kind": "points", "op": "gte", "value": 200},
                    ],
                },
            ],
        }
    )
    assert segment_count(rules=rules) == 2
    q = rules_compile(rules, now=clock.now())
    with CaptureQueriesContext(connection) as queries:
        assert Customer.objects.filter(q).count() == 2
    assert len(queries) == 1


@pytest.mark.parametrize(
    "condition",
    [
        {"kind": "tier", "tiers": []},
        {"kind": "tier", "tiers": ["a b"]},
        {"kind": "privilege", "privilege": "free_money"},
        {"kind": "points", "op": "gte", "value": -1},
        {"kind": "points", "op": "in", "value": 5},
    ],
)
def test_wrong_loyalty_conditions_are_refused(condition):
    with pytest.raises(ValidationError):
        rules_parse({"rules": [condition]})


def test_a_journey_condition_node_can_ask_for_a_tier(world):
    from lifelong.journeys.definition import definition_parse

    definition = definition_parse(
        {
            "trigger": {"kind": "manual"},
            "start": "vip",
            "nodes": [
                {
                    "id": "vip",
                    "type": "condition",
                    "rule": {"rules": [{"kind": "privilege", "privilege": "personal_manager"}]},
                    "yes": None,
                    "no": None,
                }
            ],
        }
    )
    node = definition.node("vip")
    q = rules_compile(node.rule, now=clock.now())
    assert set(Customer.objects.filter(q).values_list("pk", flat=True)) == {world["b"]}
