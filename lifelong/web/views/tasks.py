"""The follow-up queue: my tasks (or everyone's, or one person's), the next task, closing a
task with its next step and going straight on to the next one."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.accounts.permissions import VIEW, WORK_TASKS
from lifelong.customers.models import Customer
from lifelong.followups import services as task_services
from lifelong.followups.models import Task, TaskStatus
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms import OutcomeForm
from lifelong.web.listing import page_number, page_slice

PER_PAGE = 50


def my_tasks_queryset(user: User) -> QuerySet[Task]:
    """Open tasks assigned to `user`, then unassigned ones, each by due time."""
    return (
        task_services.open_tasks()
        .filter(Q(assignee=user) | Q(assignee=None))
        .annotate(
            mine=Case(
                When(assignee=user, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by("mine", "due_at", "pk")
    )


# Whose tasks the list shows: "" mine and unassigned, "all", "none" (unassigned), or a user id.
ALL, UNASSIGNED = "all", "none"


def tasks_queryset(user: User, who: str) -> QuerySet[Task]:
    """The open tasks the list shows for `who`, the most urgent first."""
    if who == ALL:
        return task_services.open_tasks()
    if who == UNASSIGNED:
        return task_services.open_tasks().filter(assignee=None)
    if who.isdigit():
        return task_services.open_tasks().filter(assignee_id=int(who))
    return my_tasks_queryset(user)


def _who(request: HttpRequest) -> str:
    who = request.GET.get("who", "")
    return who if who in (ALL, UNASSIGNED) or who.isdigit() else ""


@require(VIEW)
def task_list(request: HttpRequest) -> HttpResponse:
    user = staff_user(request)
    who = _who(request)
    page = page_slice(
        tasks_queryset(user, who), number=page_number(request.GET.get("page")), per_page=PER_PAGE
    )
    assignees = User.objects.filter(is_active=True).order_by("first_name", "username")
    return render(
        request,
        "web/tasks/list.html",
        {"page": page, "who": who, "assignees": assignees, "all": ALL, "unassigned": UNASSIGNED},
    )


@require(WORK_TASKS)
def task_next(request: HttpRequest) -> HttpResponse:
    task = task_services.next_task(staff_user(request))
    if task is None:
        messages.info(request, _("No open tasks. Well done!"))
        return redirect("web:tasks")
    return redirect("web:task", pk=task.pk)


@require(VIEW)
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # Reading the task needs VIEW; recording its outcome needs WORK_TASKS.
    permission = WORK_TASKS if request.method == "POST" else VIEW
    task = object_get(request, Task.objects.select_related("customer", "assignee"), pk, permission)
    user = staff_user(request)
    form = OutcomeForm(initial={"next_kind": task.kind})
    if request.method == "POST":
        form = OutcomeForm(request.POST)
        if form.is_valid():
            return _complete(request, task, form)
    return render(request, "web/tasks/detail.html", _detail_context(task, form, user))


def _complete(request: HttpRequest, task: Task, form: OutcomeForm) -> HttpResponse:
    data = form.cleaned_data
    no_next = data["no_next_step"]
    try:
        next_task = task_services.task_complete(
            task=task,
            outcome=data["outcome"],
            by=staff_user(request),
            next_title="" if no_next else data["next_title"],
            next_due_at=None if no_next else form.next_due_at,
            next_kind=data["next_kind"],
        )
    except task_services.TaskError as exc:
        form.add_error(None, str(exc))
        return render(
            request,
            "web/tasks/detail.html",
            _detail_context(task, form, staff_user(request)),
            status=400,
        )
    if next_task is not None:
        messages.success(
            request, _("Done. Next step planned: %(title)s") % {"title": next_task.title}
        )
    else:
        messages.success(request, _("Done. No next step for this customer."))
    # Straight on to the most urgent open task, so a queue is worked without going back.
    following = task_services.next_task(staff_user(request))
    if following is not None:
        return redirect("web:task", pk=following.pk)
    return redirect("web:tasks")


def _detail_context(task: Task, form: OutcomeForm, user: User) -> dict[str, object]:
    customer = task.customer
    return {
        "task": task,
        "customer": customer,
        "form": form,
        "can_work": user.can(WORK_TASKS) and task.status == TaskStatus.OPEN,
        "recent_notes": list(customer.notes.select_related("author")[:3]),
        "recent_orders": list(customer.orders.order_by("-placed_at")[:3]),
        "previous_tasks": list(
            customer.tasks.exclude(pk=task.pk)
            .exclude(status=TaskStatus.OPEN)
            .order_by("-completed_at")[:3]
        ),
    }


def no_next_step_queryset() -> QuerySet[Customer]:
    return task_services.customers_without_next_step().prefetch_related("tags")


@require(VIEW)
def no_next_step(request: HttpRequest) -> HttpResponse:
    page = page_slice(
        no_next_step_queryset(), number=page_number(request.GET.get("page")), per_page=PER_PAGE
    )
    return render(request, "web/tasks/no_next_step.html", {"page": page})
