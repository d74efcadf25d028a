"""What action nodes do one customer at a time (tasks, webhooks, tag removals), and what a
step that could not do its work records. Every effect is a database row written in the step's
transaction, keyed by (enrollment, node, visit), so a re-run after a crash finds it there.

A message step whose template, survey or channel is gone (or whose template has nothing for
the channel) did not do its work because of how the journey is set up, not because of the
customer: its outcome starts with PROBLEM, the engine records it as a problem step, and the
journey pages count it on the node and on the journeys list. The enrollment then moves on
as after any step: holding customers until someone fixes the template would send the
message late, out of step with the waits around it ("thanks for your order" a month on),
and would hold back the rest of the journey too. The problem is fixed for the customers
who enter after the fix; launching refuses a journey with such problems in the first place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lifelong import clock
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import customer_tag_remove
from lifelong.followups.models import TaskSource
from lifelong.followups.services import task_create
from lifelong.journeys.definition import (
    CallWebhook,
    CreateTask,
    TagChange,
)
from lifelong.journeys.models import Enrollment
from lifelong.messaging.models import WEBHOOK
from lifelong.messaging.services import message_enqueue

# The outcome of a step that could not do its work (see the module docstring).
PROBLEM = "problem: "


def node_effect(node: Any, *, enrollment: Enrollment, customer: Customer, key: str) -> str:
    """Apply a node whose effect is a row (or a call out) per customer; returns a short outcome
    for the step record. Every other node runs for its whole group (group_effects.py,
    group_sends.py)."""
    if isinstance(node, CreateTask):
        task_create(
            customer=customer,
            title=node.title,
            due_at=clock.now() + dt.timedelta(hours=node.due_hours),
            source=TaskSource.JOURNEY,
            source_ref=key,
        )
        return "task created"
    if isinstance(node, TagChange) and node.action == "remove":
        customer_tag_remove(customer=customer, name=node.tag)
        return "tag remove"
    if isinstance(node, CallWebhook):
        message_enqueue(
            customer=customer,
            dedupe_key=key,
            channel=WEBHOOK,
            purpose=Purpose.TRANSACTIONAL,
            payload={
                "url": str(node.url),
                "type": "journey.step",
                "journey_id": enrollment.journey_id,
                "node_id": node.id,
                "customer": {"id": customer.pk, "external_id": customer.external_id},
                "context": enrollment.context,
            },
            journey_id=enrollment.journey_id,
            enrollment_id=enrollment.pk,
            node_id=node.id,
        )
        return "webhook queued"
    raise ValueError(f"no effect for node type {node.type!r}")
