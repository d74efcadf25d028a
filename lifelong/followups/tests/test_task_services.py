"""The task queue: creation, completion with the next step, urgency and gaps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong import clock
from lifelong.commerce.services import order_upsert
from lifelong.factories import CustomerFactory, TaskFactory, UserFactory
from lifelong.followups.models import TaskSource, TaskStatus
from lifelong.followups.services import (
    TaskError,
    customers_without_next_step,
    next_task,
    task_complete,
    task_create,
)

pytestmark = pytest.mark.django_db


def test_complete_records_outcome_and_creates_next_step(support, frozen_time):
    task = TaskFactory(assignee=support)
    due = clock.now() + dt.timedelta(days=7)
    follow = task_complete(
        task=task,
        outcome="Доволен ковриком",
        by=support,
        next_title="Предложить курс",
        next_due_at=due,
    )
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.outcome == "Доволен ковриком"
    assert follow is not None and follow.assignee == support and follow.due_at == due
    assert list(task.customer.events.values_list("type", flat=True).order_by("id")) == [
        "task_done",
        "task_created",
    ]
    with pytest.raises(TaskError):
        task_complete(task=task, outcome="again", by=support)


def test_next_step_needs_a_due_date(support):
    task = TaskFactory(assignee=support)
    with pytest.raises(TaskError):
        task_complete(task=task, outcome="ok", by=support, next_title="Позвонить")
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN  # nothing half-written


def test_next_task_prefers_own_most_urgent_then_unassigned(support, frozen_time):
    other = UserFactory(username="other")
    now = clock.now()
    TaskFactory(assignee=other, due_at=now - dt.timedelta(days=5))
    unassigned = TaskFactory(assignee=None, due_at=now - dt.timedelta(days=3))
    assert next_task(support) == unassigned
    mine_later = TaskFactory(assignee=support, due_at=now + dt.timedelta(days=2))
    mine_overdue = TaskFactory(assignee=support, due_at=now - dt.timedelta(hours=1))
    assert next_task(support) == mine_overdue
    task_complete(task=mine_overdue, outcome="done", by=support)
    assert next_task(support) == mine_later


def test_automations_create_a_task_once_per_ref():
    customer = CustomerFactory()
    due = clock.now()
    first = task_create(
        customer=customer,
        title="SLA",
        due_at=due,
        source=TaskSource.FEEDBACK,
        source_ref="response:7",
    )
    again = task_create(
        customer=customer,
        title="SLA",
        due_at=due,
        source=TaskSource.FEEDBACK,
        source_ref="response:7",
    )
    assert first.pk == again.pk
    assert customer.tasks.count() == 1


def test_active_customers_without_next_step(frozen_time):
    recent, recent_with_task, old, _lead = CustomerFactory.create_batch(4)
    now = clock.now()
    for customer, days_ago in ((recent, 10), (recent_with_task, 20), (old, 500)):
        order_upsert(
            external_id=f"o-{customer.pk}",
            customer=customer,
            total=Decimal("10"),
            placed_at=now - dt.timedelta(days=days_ago),
        )
    TaskFactory(customer=recent_with_task)
    assert list(customers_without_next_step()) == [recent]
