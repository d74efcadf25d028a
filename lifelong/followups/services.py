"""The task queue. Other modules create tasks through `task_create`."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.customers.models import Customer
from lifelong.events.services import event_record
from lifelong.followups.models import Task, TaskSource, TaskStatus
from lifelong.lib.errors import DomainError

ACTIVE_DAYS = 365


class TaskError(DomainError):
    """A task change that does not fit the task's state."""


def task_create(
    *,
    customer: Customer,
    title: str,
    due_at: dt.datetime,
    kind: str = "other",
    assignee: User | None = None,
    source: str = TaskSource.MANUAL,
    source_ref: str = "",
    created_by: User | None = None,
) -> Task:
    """Create a task. With a `source_ref` a repeated call returns the existing task."""
    title = title.strip()
    if not title:
        raise TaskError("a task needs a title")
    if source_ref:
        existing = Task.objects.filter(source=source, source_ref=source_ref).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            task = Task.objects.create(
                customer=customer,
                title=title,
                due_at=due_at,
                kind=kind,
                assignee=assignee,
                source=source,
                source_ref=source_ref,
                created_by=created_by,
            )
            event_record(
                customer=customer,
                type="task_created",
                properties={"task_id": task.pk, "title": title, "source": source},
                source="staff" if source == TaskSource.MANUAL else source,
            )
    except IntegrityError:
        return Task.objects.get(source=source, source_ref=source_ref)
    return task


@transaction.atomic
def task_complete(
    *,
    task: Task,
    outcome: str,
    by: User | None,
    next_title: str = "",
    next_due_at: dt.datetime | None = None,
    next_kind: str = "other",
) -> Task | None:
    """Close a task with its outcome and, when given, schedule the next step.

    Returns the next task, if one was created.
    """
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status != TaskStatus.OPEN:
        raise TaskError("this task is already closed")
    task.status = TaskStatus.DONE
    task.outcome = outcome.strip()
    task.completed_at = clock.now()
    task.save(update_fields=["status", "outcome", "completed_at"])
    event_record(
        customer=task.customer,
        type="task_done",
        properties={"task_id": task.pk, "title": task.title, "outcome": task.outcome},
        source="staff",
    )
    if not next_title.strip():
        return None
    if next_due_at is None:
        raise TaskError("the next step needs a due date")
    return task_create(
        customer=task.customer,
        title=next_title,
        due_at=next_due_at,
        kind=next_kind,
        assignee=task.assignee or by,
        created_by=by,
    )


def open_tasks(user: User | None = None) -> QuerySet[Task]:
    qs = Task.objects.filter(status=TaskStatus.OPEN).select_related("customer", "assignee")
    if user is not None:
        qs = qs.filter(assignee=user)
    return qs.order_by("due_at", "pk")


def next_task(user: User) -> Task | None:
    """The most urgent open task: the user's own first, then unassigned ones."""
    return open_tasks(user).first() or open_tasks().filter(assignee=None).first()


def customers_without_next_step(active_days: int = ACTIVE_DAYS) -> QuerySet[Customer]:
    """Customers who bought within `active_days` and have no open task."""
    since = clock.now() - dt.timedelta(days=active_days)
    has_open = Task.objects.filter(customer=OuterRef("pk"), status=TaskStatus.OPEN)
    return (
        Customer.objects.live()
        .filter(last_order_at__gte=since)
        .exclude(Exists(has_open))
        .order_by("-last_order_at")
    )
