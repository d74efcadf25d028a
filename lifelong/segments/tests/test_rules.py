"""Rule validation and compilation: every condition kind, plain and negated."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from lifelong import clock
from lifelong.commerce.models import Order, OrderLine, OrderStatus
from lifelong.customers.models import Customer
from lifelong.customers.services import consent_record, customer_tags_add
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory, OrderFactory, ProductFactory
from lifelong.segments.models import CustomerState, Stage
from lifelong.segments.rules import rules_compile, rules_parse
from lifelong.segments.services import segment_count, stages_refresh
from lifelong.segments.tests.helpers import buyer

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(frozen_time):
    """a: Kazan, vip, email consent, bought a mat 10 days ago, opened an email 5 days ago.
    b: Moscow, consent withdrawn, bought a block 100 days ago, opened an email 60 days ago.
    c: nothing at all.
    """
    now = clock.now()
    mat = ProductFactory(sku="MAT", category="Коврики")
    block = ProductFactory(sku="BLOCK", category="Блоки")
    a = buyer(10, total=Decimal("3000"), customer=CustomerFactory(first_name="Алла"))
    b = buyer(100, 120, total=Decimal("500"), customer=CustomerFactory(first_name="Борис"))
    c = CustomerFactory(first_name="Вера", email="")
    Customer.objects.filter(pk=a.pk).update(attributes={"city": "Казань", "age": 30, "in": "x"})
    Customer.objects.filter(pk=b.pk).update(attributes={"city": "Москва", "age": 45})
    for customer, product in ((a, mat), (b, block)):
        order = Order.objects.filter(customer=customer).first()
        OrderLine.objects.create(order=order, product=product, sku=product.sku, price=order.total)
    cancelled = OrderFactory(customer=c, status=OrderStatus.CANCELLED)
    OrderLine.objects.create(order=cancelled, product=mat, sku="MAT", price=Decimal("1"))
    customer_tags_add(customer=a, names=["vip"])
    consent_record(customer=a, channel="email", purpose="marketing", granted=True, source="t")
    consent_record(
        customer=b,
        channel="email",
        purpose="marketing",
        granted=True,
        source="t",
        at=now - dt.timedelta(days=2),
    )
    consent_record(customer=b, channel="email", purpose="marketing", granted=False, source="t")
    event_record(customer=a, type="email_opened", occurred_at=now - dt.timedelta(days=5))
    event_record(customer=b, type="email_opened", occurred_at=now - dt.timedelta(days=60))
    stages_refresh()
    return {"a": a.pk, "b": b.pk, "c": c.pk}


def matching(world, condition: dict) -> tuple[set[str], set[str]]:
    """Names matching the condition, and names matching it negated."""
    names = {pk: name for name, pk in world.items()}

    def run(rules: dict) -> set[str]:
        q = rules_compile(rules_parse(rules), now=clock.now())
        return {names[pk] for pk in Customer.objects.filter(q).values_list("pk", flat=True)}

    plain = run({"op": "and", "rules": [condition]})
    negated = run({"op": "and", "rules": [{**condition, "negate": True}]})
    assert plain | negated == {"a", "b", "c"}
    assert not plain & negated
    return plain, negated


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"kind": "attribute", "key": "city", "op": "eq", "value": "Казань"}, {"a"}),
        (
            {"kind": "attribute", "key": "city", "op": "in", "value": ["Казань", "Москва"]},
            {"a", "b"},
        ),
        ({"kind": "attribute", "key": "age", "op": "gt", "value": 40}, {"b"}),
        ({"kind": "attribute", "key": "age", "op": "lte", "value": 30}, {"a"}),
        ({"kind": "attribute", "key": "city", "op": "contains", "value": "оскв"}, {"b"}),
        ({"kind": "attribute", "key": "city", "op": "exists"}, {"a", "b"}),
        ({"kind": "attribute", "key": "in", "op": "eq", "value": "x"}, {"a"}),
        ({"kind": "profile", "field": "first_name", "op": "eq", "value": "Борис"}, {"b"}),
        (
            {"kind": "profile", "field": "first_name", "op": "in", "value": ["Алла", "Вера"]},
            {"a", "c"},
        ),
        ({"kind": "profile", "field": "first_name", "op": "contains", "value": "лл"}, {"a"}),
        ({"kind": "profile", "field": "email", "op": "empty"}, {"c"}),
        ({"kind": "tag", "tag": "vip"}, {"a"}),
        ({"kind": "consent", "channel": "email", "purpose": "marketing"}, {"a"}),
        ({"kind": "consent", "channel": "sms", "purpose": "marketing"}, set()),
        ({"kind": "summary", "field": "orders_count", "op": "gte", "value": 2}, {"b"}),
        ({"kind": "summary", "field": "total_spent", "op": "gt", "value": "2000"}, {"a"}),
        ({"kind": "summary", "field": "orders_count", "op": "eq", "value": 0}, {"c"}),
        ({"kind": "last_order", "op": "within", "days": 30}, {"a"}),
        ({"kind": "last_order", "op": "before", "days": 30}, {"b"}),
        ({"kind": "bought", "sku": "MAT"}, {"a"}),  # c's mat order was cancelled
        ({"kind": "bought", "category": "Блоки"}, {"b"}),
        ({"kind": "bought", "category": "Блоки", "within_days": 50}, set()),
        ({"kind": "event", "type": "email_opened"}, {"a", "b"}),
        ({"kind": "event", "type": "email_opened", "within_days": 30}, {"a"}),
        ({"kind": "score", "field": "stage", "op": "eq", "value": "new"}, {"a"}),
        ({"kind": "score", "field": "stage", "op": "in", "value": ["lead", "at_risk"]}, {"b", "c"}),
    ],
)
def test_each_condition_kind(world, condition, expected):
    plain, _negated = matching(world, condition)
    assert plain == expected


def test_scores_need_a_state_row_and_negation_includes_the_unscored(world):
    CustomerState.objects.filter(pk=world["c"]).delete()
    plain, negated = matching(
        world, {"kind": "score", "field": "rfm_recency", "op": "gte", "value": 1}
    )
    assert plain == set()  # RFM not computed yet
    assert negated == {"a", "b", "c"}


def test_groups_nest(world):
    rules = {
        "op": "or",
        "rules": [
            {"kind": "tag", "tag": "vip"},
            {
                "kind": "group",
                "op": "and",
                "rules": [
                    {"kind": "event", "type": "email_opened"},
                    {"kind": "last_order", "op": "before", "days": 60},
                ],
            },
        ],
    }
    assert segment_count(rules=rules) == 2
    assert segment_count(rules={**rules, "negate": True}) == 1
    assert segment_count(rules={"op": "and", "rules": []}) == 3
    assert segment_count(rules={"op": "or", "rules": []}) == 0
    assert segment_count(rules={"op": "or", "rules": [], "negate": True}) == 3
    assert (
        segment_count(
            rules={
                "op": "or",
                "rules": [
                    {"kind": "group", "op": "and", "rules": []},
                    {"kind": "tag", "tag": "vip"},
                ],
            }
        )
        == 3
    )


def test_merged_customers_never_count(world, owner):
    from lifelong.customers.services import customer_merge

    customer_merge(
        primary=Customer.objects.get(pk=world["a"]),
        duplicate=Customer.objects.get(pk=world["c"]),
        actor=owner,
    )
    assert segment_count(rules={"op": "and", "rules": []}) == 2


@pytest.mark.parametrize(
    "rules",
    [
        {"op": "xor", "rules": []},
        {"op": "and", "rules": [{"kind": "nope"}]},
        {"op": "and", "rules": [{"kind": "attribute", "key": "a__b", "op": "eq", "value": 1}]},
        {"op": "and", "rules": [{"kind": "attribute", "key": "a", "op": "in", "value": 1}]},
        {"op": "and", "rules": [{"kind": "attribute", "key": "a", "op": "eq"}]},
        {"op": "and", "rules": [{"kind": "bought", "sku": "A", "category": "B"}]},
        {"op": "and", "rules": [{"kind": "bought"}]},
        {"op": "and", "rules": [{"kind": "score", "field": "stage", "op": "gt", "value": "a"}]},
        {
            "op": "and",
            "rules": [{"kind": "score", "field": "rfm_recency", "op": "eq", "value": "five"}],
        },
        {"op": "and", "rules": [{"kind": "consent", "channel": "fax", "purpose": "marketing"}]},
        {"op": "and", "rules": [{"kind": "tag", "tag": "x", "extra": 1}]},
        {"op": "and", "rules": [{"kind": "last_order", "op": "within", "days": -1}]},
        {"op": "and", "rules": [{"kind": "tag", "tag": "x"}] * 101},
    ],
)
def test_invalid_rules_are_rejected(rules):
    with pytest.raises(ValidationError):
        rules_parse(rules)


def test_nesting_is_bounded():
    rules = {"op": "and", "rules": []}
    for _ in range(7):
        rules = {"op": "and", "rules": [{"kind": "group", **rules}]}
    with pytest.raises(ValidationError, match="nest"):
        rules_parse(rules)


def test_stage_values_in_rules_are_the_stage_names():
    parsed = rules_parse(
        {
            "op": "and",
            "rules": [
                {"kind": "score", "field": "stage", "op": "eq", "value": Stage.AT_RISK.value}
            ],
        }
    )
    assert parsed.model_dump(mode="json")["rules"][0]["value"] == "at_risk"


def matched(condition: dict) -> set[int]:
    q = rules_compile(rules_parse({"op": "and", "rules": [condition]}), now=clock.now())
    return set(Customer.objects.filter(q).values_list("pk", flat=True))


def test_text_rules_read_yo_as_ye(db):
    """«Королева» finds «Королёва» and «Орёл» finds «Орел»: people type ё as е and back."""
    yo = CustomerFactory(last_name="Королёва", attributes={"city": "Орёл"})
    ye = CustomerFactory(last_name="Королева", attributes={"city": "Орел"})
    CustomerFactory(last_name="Королькова", attributes={"city": "Омск"})
    for value in ("оролев", "оролёв"):
        rule = {"kind": "profile", "field": "last_name", "op": "contains", "value": value}
        assert matched(rule) == {yo.pk, ye.pk}
    for value in ("рел", "рёл"):
        rule = {"kind": "attribute", "key": "city", "op": "contains", "value": value}
        assert matched(rule) == {yo.pk, ye.pk}
