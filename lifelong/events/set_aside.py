"""Setting aside the events a reactor cannot process, so that one bad row stops nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from lifelong import clock
from lifelong.events.models import Event, SetAsideEvent

log = logging.getLogger(__name__)


def event_alone(*, reactor: str, event_id: int, work: Callable[[], object]) -> bool:
    """Run `work` for one event in a savepoint; True when it went through.

    On failure nothing of it remains, the event is set aside under `reactor` with the error,
    and the caller's cursor moves on. On success an earlier setting aside is cleared.
    """
    try:
        with transaction.atomic():
            work()
    except Exception as exc:
        log.error(
            "event_set_aside", extra={"reactor": reactor, "event_id": event_id}, exc_info=True
        )
        SetAsideEvent.objects.update_or_create(
            reactor=reactor,
            event_id=event_id,
            defaults={"error": f"{type(exc).__name__}: {exc}"[:2000], "set_aside_at": clock.now()},
        )
        return False
    SetAsideEvent.objects.filter(reactor=reactor, event_id=event_id).delete()
    return True


def set_aside_event(*, reactor: str, event_id: int) -> dict[str, Any] | None:
    """The set-aside event as the reactors read it, for a retry; None (and the row dropped)
    when the event is gone with its customer."""
    event = (
        Event.objects.filter(pk=event_id, customer__isnull=False)
        .values("pk", "customer_id", "type", "properties", "occurred_at")
        .first()
    )
    if event is None:
        SetAsideEvent.objects.filter(reactor=reactor, event_id=event_id).delete()
        return None
    return dict(event)
