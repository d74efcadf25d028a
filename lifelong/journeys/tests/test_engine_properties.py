"""Hypothesis: random valid journey graphs under random event streams keep the engine's laws.

- no node runs twice for one visit, and visits to a node count up 1, 2, 3 ... per enrollment;
- every enrollment either has ended (no due time) or is active and waits on a due time;
- holdout enrollments never run a node.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.commerce.services import order_upsert
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.journeys.definition import definition_parse
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import Enrollment, EnrollmentStatus, JourneyStatus, StepRun
from lifelong.journeys.reactor import journeys_react
from lifelong.journeys.services import journey_create, journey_status_set

NODE_TYPES = ("wait", "wait_event", "condition", "split", "tag", "attribute", "exit")
EVENTS = ("order_placed", "message_opened", "visited")


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid graphs: forward edges anywhere, backward edges (loops) only out of waits."""
    size = draw(st.integers(1, 8))
    ids = [f"n{i}" for i in range(size)]

    def target(i: int, backward: bool) -> str | None:
        choices = ids[: i + 1] if backward else ids[i + 1 :]
        return draw(st.one_of(st.none(), st.sampled_from(choices))) if choices else None

    nodes: list[dict[str, Any]] = []
    for i, node_id in enumerate(ids):
        kind = draw(st.sampled_from(NODE_TYPES))
        if kind == "wait":
            nodes.append(
                {
                    "id": node_id,
                    "type": kind,
                    "hours": draw(st.integers(1, 72)),
                    "next": target(i, backward=True),
                }
            )
        elif kind == "wait_event":
            nodes.append(
                {
                    "id": node_id,
                    "type": kind,
                    "events": [draw(st.sampled_from(EVENTS))],
                    "timeout_hours": draw(st.integers(1, 72)),
                    "on_event": target(i, backward=True),
                    "on_timeout": target(i, backward=True),
                }
            )
        elif kind == "condition":
            rule = {"op": "and", "rules": [{"kind": "tag", "tag": "t"}]}
            nodes.append(
                {
                    "id": node_id,
                    "type": kind,
                    "rule": rule,
                    "yes": target(i, backward=False),
                    "no": target(i, backward=False),
                }
            )
        elif kind == "split":
            nodes.append(
                {
                    "id": node_id,
                    "type": kind,
                    "branches": [
                        {"weight": draw(st.integers(1, 5)), "next": target(i, backward=False)}
                        for _ in range(2)
                    ],
                }
            )
        elif kind == "tag":
            nodes.append({"id": node_id, "type": kind, "tag": "t", "next": target(i, False)})
        elif kind == "attribute":
            nodes.append(
                {"id": node_id, "type": kind, "key": "seen", "value": i, "next": target(i, False)}
            )
        else:
            nodes.append({"id": node_id, "type": "exit"})
    return {
        "trigger": {"kind": "event", "event_type": "visited"},
        "start": "n0",
        "nodes": nodes,
        "goal": {"event": "order_placed", "within_days": draw(st.integers(1, 10))},
        "reentry": {"policy": draw(st.sampled_from(["once", "after_days"])), "days": 1},
        "holdout_percent": draw(st.sampled_from([0, 20, 50])),
    }


actions = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(EVENTS), st.integers(0, 48)),
    min_size=1,
    max_size=15,
)


@pytest.mark.django_db
@settings(
    max_examples=15,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(definition=graphs(), stream=actions)
def test_random_graphs_and_event_streams_keep_the_engine_laws(definition, stream):
    definition_parse(definition)  # the generator only makes valid graphs
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC), tick=False) as traveller:
        Enrollment.objects.all().delete()
        journey = journey_create(
            name="Random",
            slug=f"random-{clock.now().timestamp()}-{id(definition)}",
            definition=definition,
        )
        journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
        journeys_react()
        customers = CustomerFactory.create_batch(4)
        for n, (who, event, hours) in enumerate(stream):
            customer = customers[who]
            if event == "order_placed":
                order_upsert(
                    external_id=f"{journey.pk}-{n}",
                    customer=customer,
                    total=Decimal("100"),
                    placed_at=clock.now(),
                )
            else:
                event_record(customer=customer, type=event)
            journeys_react()
            advance_due()
            traveller.shift(dt.timedelta(hours=hours))
        traveller.shift(dt.timedelta(days=30))
        journeys_react()
        advance_due()

    enrollments = list(journey.enrollments.all())
    visits: dict[tuple[int, str], list[int]] = defaultdict(list)
    for enrollment_id, node_id, visit in StepRun.objects.filter(
        enrollment__journey=journey
    ).values_list("enrollment_id", "node_id", "visit"):
        visits[(enrollment_id, node_id)].append(visit)
    for seen in visits.values():
        assert sorted(seen) == list(range(1, len(seen) + 1)), "a visit ran twice or was skipped"
    for enrollment in enrollments:
        if enrollment.status == EnrollmentStatus.ACTIVE:
            assert enrollment.next_run_at is not None, "an active enrollment waits on nothing"
        else:
            assert enrollment.next_run_at is None and enrollment.ended_at is not None
        if enrollment.holdout:
            assert not any(key[0] == enrollment.pk for key in visits)
