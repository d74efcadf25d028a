"""Node effects applied to a whole group of enrollments (same version, same node) at once.

The set-based engine (engine_rounds.py) calls these with every enrollment of a round that
stands on one node: a tag is linked to all their customers in one insert, an attribute is
set in one UPDATE, a condition is one query over the group, and a wait for events looks at
the events of all the group's customers in one query. Each function writes the same rows
the one-customer effect would (an award is posted to the ledger for the whole group at
once), and keeps the in-memory customers the engine renders
messages from in step with what it wrote.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Q

from lifelong.customers.models import Customer, Tag
from lifelong.events.models import Event
from lifelong.journeys.definition import AwardPoints, Condition, SetAttribute, WaitEvent
from lifelong.journeys.models import Enrollment, StepRun
from lifelong.lib.pg_array import in_values, pg_array
from lifelong.loyalty.services import Award, points_award_many
from lifelong.segments.rules import rules_compile

# Events about messages count for a wait only when they are about this enrollment's messages.
MESSAGE_EVENTS = ("message_opened", "message_clicked", "message_replied", "message_delivered")


def steps_record(
    enrollment_ids: Sequence[int],
    *,
    node_id: str,
    visits: Sequence[int],
    outcomes: Sequence[str],
    now: dt.datetime,
    problem: str,
) -> None:
    """The group's step records in one insert. On PostgreSQL the rows go as arrays (UNNEST):
    no model instance per row, and one statement however large the group. A step already
    recorded (same enrollment, node and visit) fails the insert, and with it the group's
    attempt, which the engine then halves to find the colliding enrollment."""
    flags = [outcome.startswith(problem) for outcome in outcomes]
    if connection.vendor != "postgresql":
        StepRun.objects.bulk_create(
            StepRun(
                enrollment_id=pk, node_id=node_id, visit=visit, ran_at=now, outcome=o, problem=f
            )
            for pk, visit, o, f in zip(enrollment_ids, visits, outcomes, flags, strict=True)
        )
        return
    table = StepRun._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (enrollment_id, node_id, visit, ran_at, outcome, problem)"  # noqa: S608
            " SELECT e, %s, v, %s, o, p"
            " FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::bool[]) AS s (e, v, o, p)",
            [node_id, now, *map(pg_array, (enrollment_ids, visits, outcomes, flags))],
        )


def step_key(enrollment: Enrollment, node_id: str, visit: int) -> str:
    """What keys a step's effects (outbox rows, ledger postings, invites, tasks): a re-run of
    the same (enrollment, node, visit) finds them already there."""
    return f"j{enrollment.pk}:{node_id}:{visit}"


def points_award(
    node: AwardPoints, group: Sequence[Enrollment], visits: Sequence[int]
) -> list[str]:
    """Credit the node's points to every customer of the group with one ledger write; the
    outcome per enrollment ("points credited before" for a step whose award is posted)."""
    posted = points_award_many(
        [
            Award(
                customer_id=enrollment.customer_id,
                points=node.points,
                key=f"journey:{step_key(enrollment, node.id, visit)}",
                reason={
                    "enrollment_id": enrollment.pk,
                    "node_id": node.id,
                    "comment": node.reason[:500],
                },
            )
            for enrollment, visit in zip(group, visits, strict=True)
        ]
    )
    return [
        f"{node.points} points" if tx is not None else "points credited before" for tx in posted
    ]


def tags_add(*, tag: str, customer_ids: Iterable[int]) -> None:
    """Link one tag (created on first use) to every customer; links already there stay."""
    name = tag.strip()
    ids = sorted(set(customer_ids))
    if not name or not ids:
        return
    tag_id = Tag.objects.filter(name=name).values_list("pk", flat=True).first()
    if tag_id is None:
        Tag.objects.bulk_create([Tag(name=name)], ignore_conflicts=True)
        tag_id = Tag.objects.values_list("pk", flat=True).get(name=name)
    link = Customer.tags.through
    if connection.vendor == "postgresql":
        # No model instance per customer: the ids go as one array.
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {link._meta.db_table} (customer_id, tag_id)"
                " SELECT unnest(%s::bigint[]), %s ON CONFLICT DO NOTHING",
                [pg_array(ids), tag_id],
            )
        return
    link.objects.bulk_create(
        [link(customer_id=pk, tag_id=tag_id) for pk in ids], ignore_conflicts=True
    )


def attribute_set(node: SetAttribute, customers: Sequence[Customer]) -> None:
    """Set one attribute on every customer in one statement, keeping their other attributes."""
    ids = sorted({c.pk for c in customers})
    if not ids:
        return
    table = Customer._meta.db_table
    value = json.dumps(node.value)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET attributes = COALESCE(attributes, '{{}}'::jsonb)"  # noqa: S608
                " || jsonb_build_object(%s::text, %s::jsonb) WHERE id = ANY(%s::bigint[])",
                [node.key, value, pg_array(ids)],
            )
        else:
            marks = ", ".join(["%s"] * len(ids))
            # The key is validated to [A-Za-z0-9_-], so it is safe inside the quoted path.
            cursor.execute(
                f"UPDATE {table} SET attributes = json_set(COALESCE(attributes, '{{}}'),"  # noqa: S608
                f" %s, json(%s)) WHERE id IN ({marks})",
                [f'$."{node.key}"', value, *ids],
            )
    for customer in customers:
        customer.attributes = {**(customer.attributes or {}), node.key: node.value}


def condition_matches(
    node: Condition, customer_ids: Iterable[int], *, now: dt.datetime
) -> set[int]:
    """The customers of the group for whom the condition holds: one query."""
    ids = sorted(set(customer_ids))
    matches = Customer.objects.filter(in_values("pk", ids)).filter(
        rules_compile(node.rule, now=now)
    )
    if node.in_segment is not None:
        matches = matches.filter(segment_memberships__segment_id=node.in_segment)
    return set(matches.values_list("pk", flat=True))


def events_seen(
    node: WaitEvent, enrollments: Sequence[Enrollment], *, now: dt.datetime
) -> set[int]:
    """The enrollments (ids) whose customer did one of the awaited things within their wait.

    One query over the group's customers and the widest window; each enrollment's own
    window (from the start of its wait to its deadline or now) and, for message events,
    the enrollment the message belongs to are checked on the rows.
    """
    if not enrollments:
        return set()
    windows: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    for enrollment in enrollments:
        started = enrollment.wait_started_at or now
        deadline = started + dt.timedelta(hours=node.timeout_hours)
        windows[enrollment.pk] = (started, min(now, deadline))
    by_customer: dict[int, list[Enrollment]] = defaultdict(list)
    for enrollment in enrollments:
        by_customer[enrollment.customer_id].append(enrollment)
    since = min(w[0] for w in windows.values())
    until = max(w[1] for w in windows.values())
    plain = [t for t in node.events if t not in MESSAGE_EVENTS]
    about_us = [t for t in node.events if t in MESSAGE_EVENTS]
    wanted = Q(type__in=plain) if plain else Q(pk__in=[])
    if about_us:
        wanted |= Q(type__in=about_us)
    rows = Event.objects.filter(
        wanted,
        customer_id__in=sorted(by_customer),
        occurred_at__gte=since,
        occurred_at__lte=until,
    ).values_list("customer_id", "type", "occurred_at", "properties__enrollment_id")
    seen: set[int] = set()
    for customer_id, kind, occurred_at, about in rows:
        for enrollment in by_customer[customer_id]:
            start, end = windows[enrollment.pk]
            if not start <= occurred_at <= end:
                continue
            if kind in plain or _same_enrollment(about, enrollment.pk):
                seen.add(enrollment.pk)
    return seen


def _same_enrollment(about: object, enrollment_id: int) -> bool:
    """JSON may hold the id as a number or a string: the old filter matched the number."""
    return about is not None and not isinstance(about, bool) and about == enrollment_id
