"""Segment membership: full refresh, incremental apply, enter/exit events, query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.commerce.models import Order
from lifelong.customers.models import Customer
from lifelong.customers.services import consent_record, customer_tags_add
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.segments.models import ChurnKind, ChurnReason, Segment, SegmentMembership
from lifelong.segments.services import (
    MembershipChange,
    churn_reason_record,
    segment_create,
    segment_refresh,
    segments_apply_for_customers,
    segments_refresh_all,
    stages_refresh,
)
from lifelong.segments.tests.helpers import buyer

pytestmark = pytest.mark.django_db

BIG = {
    "op": "and",
    "rules": [{"kind": "summary", "field": "total_spent", "op": "gte", "value": "1000"}],
}


def members(segment) -> set[int]:
    return set(
        SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True)
    )


def events(type: str) -> list:
    return sorted(
        (e.customer_id, e.properties["segment_id"]) for e in Event.objects.filter(type=type)
    )


def test_refresh_adds_and_removes_members_with_events(frozen_time):
    big, small = buyer(5, total=Decimal("1500")), buyer(5, total=Decimal("100"))
    segment = segment_create(name="Крупные", rules=BIG)
    assert segment_refresh(segment=segment) == MembershipChange(entered=1, exited=0)
    assert members(segment) == {big.pk}
    assert events("segment_entered") == [(big.pk, segment.pk)]
    segment.refresh_from_db()
    assert (segment.member_count, segment.refreshed_at) == (1, clock.now())

    assert segment_refresh(segment=segment) == MembershipChange(entered=0, exited=0)
    assert len(events("segment_entered")) == 1

    Order.objects.filter(customer=big).delete()
    buyer(1, total=Decimal("5000"), customer=small)
    buyer(customer=big)
    assert segment_refresh(segment=segment) == MembershipChange(entered=1, exited=1)
    assert members(segment) == {small.pk}
    assert events("segment_exited") == [(big.pk, segment.pk)]
    assert SegmentMembership.objects.get(segment=segment).since == clock.now()


def test_apply_for_customers_touches_only_them(frozen_time):
    first, second = buyer(5, total=Decimal("100")), buyer(5, total=Decimal("100"))
    segment = segment_create(name="Крупные", rules=BIG)
    inactive = segment_create(name="Выкл", rules={"op": "and", "rules": []}, active=False)
    segment_refresh(segment=segment)
    buyer(1, total=Decimal("5000"), customer=first)
    buyer(1, total=Decimal("5000"), customer=second)
    assert segments_apply_for_customers(customer_ids=[first.pk]) == MembershipChange(1, 0)
    assert members(segment) == {first.pk}
    assert members(inactive) == set()
    segment.refresh_from_db()
    assert segment.member_count == 1
    assert segments_apply_for_customers(customer_ids=[]) == MembershipChange(0, 0)


def test_refresh_all_skips_inactive_and_broken_segments(frozen_time):
    buyer(5, total=Decimal("1500"))
    good = segment_create(name="Крупные", rules=BIG)
    off = segment_create(name="Выкл", rules=BIG, active=False)
    broken = Segment.objects.create(name="Сломан", rules={"op": "nope"})
    assert segments_refresh_all() == 1
    assert len(members(good)) == 1
    assert members(off) == members(broken) == set()


def test_merged_customers_leave_segments(frozen_time, owner):
    from lifelong.customers.services import customer_merge

    primary, duplicate = buyer(5, total=Decimal("1500")), buyer(5, total=Decimal("1500"))
    segment = segment_create(name="Крупные", rules=BIG)
    segment_refresh(segment=segment)
    customer_merge(primary=primary, duplicate=duplicate, actor=owner)
    assert segments_apply_for_customers(customer_ids=[duplicate.pk]) == MembershipChange(0, 1)
    assert members(segment) == {primary.pk}


def test_churn_reason(frozen_time, owner):
    customer = CustomerFactory()
    churn = churn_reason_record(
        customer=customer, kind=ChurnKind.NATURAL, reason=" Переехала ", actor=owner
    )
    assert (churn.reason, churn.recorded_by) == ("Переехала", owner)
    assert Event.objects.get(type="churn_reason_recorded").properties == {
        "kind": "natural",
        "reason": "Переехала",
    }
    with pytest.raises(ValueError, match="kind"):
        churn_reason_record(customer=customer, kind="fate", reason="x")
    with pytest.raises(ValueError, match="empty"):
        churn_reason_record(customer=customer, kind=ChurnKind.PREVENTABLE, reason=" ")
    assert ChurnReason.objects.count() == 1


@pytest.mark.parametrize("customers", [10, 100])
def test_query_counts_do_not_grow_with_customers(
    frozen_time, django_assert_max_num_queries, customers
):
    everyone = [buyer(i % 50 + 1, total=Decimal(i * 20)) for i in range(customers)]
    segment = segment_create(name="Крупные", rules=BIG)
    segment_create(name="Все", rules={"op": "and", "rules": []})
    # A fixed set of statements (scratch table, INSERT ... SELECT, one DELETE) at any size;
    # PostgreSQL adds SET LOCAL work_mem and an ANALYZE of the scratch table.
    with django_assert_max_num_queries(16):
        segment_refresh(segment=segment)
    Order.objects.update(total=Decimal("1"))
    from lifelong.commerce.services import customer_summaries_refresh

    customer_summaries_refresh([c.pk for c in everyone])
    with django_assert_max_num_queries(16):
        segment_refresh(segment=segment)
    with django_assert_max_num_queries(12):
        segments_apply_for_customers(customer_ids=[c.pk for c in everyone])


# --- property: incremental membership always equals a full recomputation -----------------

conditions = st.sampled_from(
    [
        {"kind": "summary", "field": "orders_count", "op": "gte", "value": 2},
        {"kind": "summary", "field": "total_spent", "op": "gt", "value": "300"},
        {"kind": "last_order", "op": "within", "days": 20},
        {"kind": "attribute", "key": "city", "op": "eq", "value": "Казань"},
        {"kind": "tag", "tag": "vip"},
        {"kind": "consent", "channel": "email", "purpose": "marketing"},
        {"kind": "event", "type": "email_opened", "within_days": 10},
        {"kind": "bought", "sku": "MAT"},
        {"kind": "score", "field": "stage", "op": "in", "value": ["new", "lead"]},
    ]
)


def trees(depth: int = 2) -> st.SearchStrategy[dict]:
    leaf = st.builds(lambda c, n: {**c, "negate": n}, conditions, st.booleans())
    return st.recursive(
        leaf,
        lambda children: st.builds(
            lambda op, rules, n: {"kind": "group", "op": op, "rules": rules, "negate": n},
            st.sampled_from(["and", "or"]),
            st.lists(children, max_size=3),
            st.booleans(),
        ),
        max_leaves=6,
    ).map(lambda node: node if node.get("kind") == "group" else {"op": "and", "rules": [node]})


changes = st.lists(
    st.tuples(
        st.sampled_from(["order", "mat", "event", "tag", "city", "consent", "withdraw"]),
        st.integers(0, 3),  # customer
        st.integers(1, 40),  # days ago / amount seed
    ),
    max_size=8,
)


def apply_change(kind: str, customer: Customer, n: int) -> None:
    from lifelong.commerce.services import LineInput, order_upsert

    now = clock.now()
    if kind in ("order", "mat"):
        order_upsert(
            external_id=f"P{Order.objects.count()}",
            customer=customer,
            total=Decimal(n * 20),
            placed_at=now - dt.timedelta(days=n),
            lines=[LineInput(sku="MAT" if kind == "mat" else "BAG", quantity=1, price=Decimal(1))],
        )
    elif kind == "event":
        event_record(customer=customer, type="email_opened", occurred_at=now - dt.timedelta(n))
    elif kind == "tag":
        customer_tags_add(customer=customer, names=["vip"])
    elif kind == "city":
        customer.attributes = {"city": "Казань" if n % 2 else "Тверь"}
        customer.save(update_fields=["attributes"])
    else:
        consent_record(
            customer=customer,
            channel="email",
            purpose="marketing",
            granted=kind == "consent",
            source="t",
        )


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=st.lists(trees(), min_size=1, max_size=2), before=changes, after=changes)
def test_incremental_equals_full_recomputation(frozen_time, rules, before, after):
    Event.objects.all().delete()
    SegmentMembership.objects.all().delete()
    Segment.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    customers = [CustomerFactory() for _ in range(4)]
    for kind, i, n in before:
        apply_change(kind, customers[i], n)
    stages_refresh()
    segments = [segment_create(name=f"S{i}", rules=r) for i, r in enumerate(rules)]
    for segment in segments:
        segment_refresh(segment=segment)

    touched = set()
    for kind, i, n in after:
        apply_change(kind, customers[i], n)
        touched.add(customers[i].pk)
    segments_apply_for_customers(customer_ids=touched)

    incremental = {s.pk: members(s) for s in segments}
    for segment in segments:
        # A full recomputation finds nothing left to change.
        assert segment_refresh(segment=segment) == MembershipChange(0, 0)
        assert members(segment) == incremental[segment.pk]
        segment.refresh_from_db()
        assert segment.member_count == len(incremental[segment.pk])
        # Events tell the membership story exactly: entered once more than exited.
        for customer in customers:
            entered = Event.objects.filter(
                type="segment_entered", customer=customer, properties__segment_id=segment.pk
            ).count()
            exited = Event.objects.filter(
                type="segment_exited", customer=customer, properties__segment_id=segment.pk
            ).count()
            assert entered - exited == (customer.pk in incremental[segment.pk])
            assert entered <= 1 and exited <= 1
