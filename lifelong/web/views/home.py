"""The dashboard: a few counts that tell the day's workload."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lifelong import clock
from lifelong.accounts.permissions import VIEW
from lifelong.commerce.models import Order
from lifelong.customers.models import Customer
from lifelong.followups.models import Task, TaskStatus
from lifelong.web.access import require, staff_user
from lifelong.web.views.team_home import team_home_context


@require(VIEW)
def home(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    user = staff_user(request)
    tasks = Task.objects.filter(status=TaskStatus.OPEN).aggregate(
        open=Count("pk"), my_overdue=Count("pk", filter=Q(assignee=user, due_at__lt=now))
    )
    counts = {
        "customers": Customer.objects.live().count(),
        "recent_orders": Order.objects.filter(placed_at__gte=now - dt.timedelta(days=30)).count(),
        "open_tasks": tasks["open"],
        "my_overdue": tasks["my_overdue"],
    }
    return render(request, "web/home.html", {"counts": counts, **team_home_context(user)})
