"""Audited segment and lifecycle rule edits, the refresh after commit, and rule problems."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pydantic
import pytest
from django.core.exceptions import ValidationError

from lifelong.accounts.models import AuditLog
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.segments.editing import (
    RuleProblem,
    lifecycle_rules_update,
    rules_problems,
    segment_activate,
    segment_add,
    segment_archive,
    segment_is_refreshing,
    segment_refresh_run,
    segment_update,
)
from lifelong.segments.models import LifecycleRules, Segment
from lifelong.segments.rules import MAX_CONDITIONS, MAX_DEPTH
from lifelong.segments.services import segment_refresh

EVERYONE = {"op": "and", "rules": []}
VIP = {"op": "and", "rules": [{"kind": "tag", "tag": "vip"}]}


@pytest.fixture
def actor(db):
    return UserFactory(username="maria", password=None)


def test_add_audits_and_refreshes_after_commit(actor, django_capture_on_commit_callbacks):
    CustomerFactory.create_batch(2)
    with django_capture_on_commit_callbacks() as callbacks:
        segment = segment_add(name="  Everyone ", rules=EVERYONE, actor=actor)
    assert segment.name == "Everyone"
    assert segment_is_refreshing(segment)
    audit = AuditLog.objects.get(action="segment.create")
    assert (audit.actor, audit.object_id) == (actor, str(segment.pk))
    assert audit.changes["rules"] == segment.rules
    assert len(callbacks) == 1
    segment_refresh_run(segment.pk)
    segment.refresh_from_db()
    assert segment.member_count == 2
    assert not segment_is_refreshing(segment)


def test_add_refuses_bad_input(actor):
    with pytest.raises(ValidationError):
        segment_add(name="  ", rules=EVERYONE, actor=actor)
    with pytest.raises(pydantic.ValidationError):
        segment_add(name="Bad", rules={"rules": [{"kind": "tag"}]}, actor=actor)
    assert not Segment.objects.exists()
    assert not AuditLog.objects.exists()


def test_new_rules_make_members_stale_and_are_audited(
    actor, frozen_time, django_capture_on_commit_callbacks
):
    segment = segment_add(name="Everyone", rules=EVERYONE, actor=actor)
    segment_refresh(segment=segment)
    frozen_time.shift(dt.timedelta(minutes=5))

    with django_capture_on_commit_callbacks() as callbacks:
        renamed = segment_update(segment=segment, name="All", rules=EVERYONE, actor=actor)
    assert not segment_is_refreshing(renamed)
    assert callbacks == []  # a new name does not change who is in it

    with django_capture_on_commit_callbacks() as callbacks:
        changed = segment_update(
            segment=segment, name="All", rules=VIP, description="Tagged", actor=actor
        )
    assert segment_is_refreshing(changed)
    assert len(callbacks) == 1
    audit = AuditLog.objects.filter(action="segment.update").order_by("pk").last()
    assert audit.changes["rules"]["to"]["rules"] == [{"kind": "tag", "tag": "vip", "negate": False}]
    assert audit.changes["description"] == {"from": "", "to": "Tagged"}
    assert "name" not in audit.changes

    before = AuditLog.objects.count()
    segment_update(segment=segment, name="All", rules=VIP, description="Tagged", actor=actor)
    assert AuditLog.objects.count() == before  # nothing changed, nothing logged


def test_archive_and_activate(actor, frozen_time, django_capture_on_commit_callbacks):
    segment = segment_add(name="Everyone", rules=EVERYONE, actor=actor)
    segment_refresh(segment=segment)
    archived = segment_archive(segment=segment, actor=actor)
    assert not archived.active and not segment_is_refreshing(archived)
    segment_archive(segment=segment, actor=actor)
    CustomerFactory()
    segment_refresh_run(segment.pk)  # an archived segment is left as it was
    assert Segment.objects.get(pk=segment.pk).member_count == 0

    frozen_time.shift(dt.timedelta(hours=1))
    with django_capture_on_commit_callbacks() as callbacks:
        active = segment_activate(segment=segment, actor=actor)
    assert active.active and segment_is_refreshing(active) and len(callbacks) == 1
    segment_refresh_run(segment.pk)
    assert Segment.objects.get(pk=segment.pk).member_count == 1
    actions = AuditLog.objects.filter(object_id=str(segment.pk)).order_by("pk")
    assert list(actions.values_list("action", flat=True)) == [
        "segment.create",
        "segment.archive",
        "segment.activate",
    ]


def test_lifecycle_rules_update(actor, django_capture_on_commit_callbacks):
    with pytest.raises(ValidationError) as error:
        lifecycle_rules_update(values={"sleeping_after_days": 400}, actor=actor)
    assert "sleeping_after_days" in error.value.message_dict
    with pytest.raises(ValueError, match="unknown lifecycle rules fields"):
        lifecycle_rules_update(values={"updated_at": None}, actor=actor)
    assert LifecycleRules.current().sleeping_after_days == 180

    with django_capture_on_commit_callbacks() as callbacks:
        rules = lifecycle_rules_update(
            values={"at_risk_factor": Decimal("2.5"), "loyal_min_orders": 5}, actor=actor
        )
    assert LifecycleRules.current().at_risk_factor == Decimal("2.5") == rules.at_risk_factor
    audit = AuditLog.objects.get(action="lifecycle_rules.update")
    assert audit.changes == {"at_risk_factor": {"from": "2.00", "to": "2.5"}}
    assert len(callbacks) == 1  # stages recomputed after commit


@pytest.mark.django_db(transaction=True)
def test_the_refresh_really_runs_in_a_thread_after_commit(monkeypatch):
    # Keep hold of every thread started here: looked up by name later, a thread that has
    # already finished would be missing.
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def start_and_keep(thread: threading.Thread) -> None:
        started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_and_keep)
    CustomerFactory.create_batch(3)
    segment = segment_add(name="Everyone", rules=EVERYONE, actor=None)
    [worker] = started
    assert worker.name == f"segment-refresh-{segment.pk}"
    worker.join(timeout=30)
    assert not worker.is_alive()
    segment.refresh_from_db()
    assert segment.member_count == 3


def test_rule_problems_point_at_nodes():
    rules = {
        "op": "or",
        "rules": [
            {"kind": "tag", "tag": "vip", "negate": 0},
            {
                "kind": "group",
                "rules": [{"kind": "score", "field": "stage", "op": "gt", "value": 1}],
            },
            {"kind": "summary", "field": "orders_count", "op": "gte", "value": "many"},
            {"kind": "weather"},
            "tag",
        ],
    }
    problems = rules_problems(rules)
    assert [p.loc for p in problems] == [
        ("rules", 0, "negate"),
        ("rules", 1, "rules", 0),
        ("rules", 2, "value"),
        ("rules", 3, "kind"),
        ("rules", 4),
    ]
    assert rules_problems(VIP) == []
    assert rules_problems({"op": "xor", "rules": {}}) == [
        RuleProblem(
            loc=("op",),
            msg="Input should be 'and' or 'or'",
            type="literal_error",
            params={"expected": "'and' or 'or'"},
        ),
        RuleProblem(loc=("rules",), msg="must be a list", type="list_type"),
    ]


def test_rule_problems_bound_the_tree():
    deep: dict = {"op": "and", "rules": []}
    node = deep
    for _ in range(MAX_DEPTH + 2):
        child: dict = {"op": "and", "rules": []}
        node["rules"].append(child)
        node = child
    assert [(p.type, p.params) for p in rules_problems(deep)] == [("too_deep", {"n": MAX_DEPTH})]
    wide = {"op": "and", "rules": [{"kind": "tag", "tag": "x"}] * (MAX_CONDITIONS + 1)}
    [problem] = rules_problems(wide)
    assert problem.loc == () and str(MAX_CONDITIONS) in problem.msg
    assert (problem.type, problem.params) == ("too_many", {"n": MAX_CONDITIONS})
