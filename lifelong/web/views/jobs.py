"""The Jobs page: how each sweep is doing, and the events the reactors had to set aside."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong.accounts.permissions import MANAGE_MARKETING, VIEW_OPERATIONS
from lifelong.accounts.services import audit_record
from lifelong.events.models import SetAsideEvent
from lifelong.jobs.backlog import sweep_backlogs
from lifelong.jobs.schedule import sweeps_status
from lifelong.jobs.sweeps import Sweep
from lifelong.journeys import reactor as journeys_reactor
from lifelong.loyalty import earning as loyalty_earning
from lifelong.web.access import object_get, require, staff_user

SET_ASIDE_SHOWN = 100
# Each reactor that sets events aside, with what processes one of its events again.
RETRIES: dict[str, Callable[..., bool]] = {
    journeys_reactor.CURSOR: journeys_reactor.set_aside_retry,
    loyalty_earning.SET_ASIDE: loyalty_earning.set_aside_retry,
}


def _schedule_label(sweep: Sweep) -> str:
    if sweep.daily:
        return _("daily at %(hour)02d:00") % {"hour": settings.DAILY_SWEEP_HOUR}
    seconds = sweep.every_seconds
    if seconds == 3600:
        return _("hourly")
    if seconds % 3600 == 0:
        return _("every %(n)s h") % {"n": seconds // 3600}
    if seconds % 60 == 0:
        return _("every %(n)s min") % {"n": seconds // 60}
    return _("every %(n)s s") % {"n": seconds}


@require(VIEW_OPERATIONS)
def jobs(request: HttpRequest) -> HttpResponse:
    backlogs = sweep_backlogs()
    rows = [
        (status, _schedule_label(status.sweep), backlogs.get(status.sweep.name))
        for status in sweeps_status()
    ]
    set_aside = SetAsideEvent.objects.select_related("event").order_by("-set_aside_at", "-pk")
    return render(
        request,
        "web/jobs/list.html",
        {
            "rows": rows,
            "set_aside": set_aside[:SET_ASIDE_SHOWN],
            "set_aside_count": set_aside.count(),
        },
    )


# Journeys and the loyalty programme are the marketers' (and owners') business, so retrying
# their events is too.
@require(MANAGE_MARKETING)
@require_POST
def set_aside_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    aside = object_get(request, SetAsideEvent, pk, MANAGE_MARKETING)
    went_through = RETRIES[aside.reactor](event_id=aside.event_id)
    audit_record(
        actor=staff_user(request),
        action="jobs.set_aside_retry",
        object_type="events.event",
        object_id=str(aside.event_id),
        changes={"went_through": went_through},
    )
    if went_through:
        messages.success(request, _("The event went through and left the list."))
    else:
        messages.error(request, _("The event failed again; the error above is the new one."))
    return redirect("web:jobs")
