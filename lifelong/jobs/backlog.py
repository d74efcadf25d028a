"""How much work waits for the sweeps that have a queue, each one count over an index:
the Jobs page and /metrics show it next to each sweep's lag."""

from __future__ import annotations

from django.db.models import Case, F, Sum, When

from lifelong import clock
from lifelong.campaigns.models import CampaignRun, RunStatus
from lifelong.events.models import Event, ImportJob, ImportStatus
from lifelong.journeys.models import Enrollment, EnrollmentStatus, ReactorCursor
from lifelong.journeys.reactor import CURSOR
from lifelong.messaging.models import Message, Status


def enrollments_due() -> int:
    return Enrollment.objects.filter(
        status=EnrollmentStatus.ACTIVE, next_run_at__lte=clock.now()
    ).count()


def messages_due() -> int:
    return Message.objects.filter(
        status__in=(Status.QUEUED, Status.DEFERRED), next_attempt_at__lte=clock.now()
    ).count()


def events_unreacted() -> int:
    cursor = ReactorCursor.objects.filter(name=CURSOR).values_list("last_event_id", flat=True)
    return Event.objects.filter(pk__gt=cursor.first() or 0).count()


def imports_pending() -> int:
    return ImportJob.objects.filter(status=ImportStatus.PENDING).count()


def campaign_customers_waiting() -> int:
    """Customers running campaigns have still to decide, or to give the A/B winner: from the
    runs' own counters (a recipient not skipped nor held out is either queued or waiting)."""
    left = CampaignRun.objects.filter(
        status__in=[RunStatus.QUEUEING, RunStatus.QUEUEING_REST]
    ).aggregate(
        n=Sum(
            Case(
                When(status=RunStatus.QUEUEING, then=F("audience_total") - F("processed")),
                default=F("processed") - F("skipped") - F("held_out") - F("queued"),
            )
        )
    )["n"]
    return max(left or 0, 0)


BACKLOGS = {
    "journeys.advance_due": enrollments_due,
    "messaging.dispatch_due": messages_due,
    "journeys.react": events_unreacted,
    "imports.run_pending": imports_pending,
    "campaigns.due": campaign_customers_waiting,
}


def sweep_backlogs() -> dict[str, int]:
    """Waiting rows per sweep, for the sweeps that keep a queue."""
    return {name: count() for name, count in BACKLOGS.items()}
