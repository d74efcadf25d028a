"""Housekeeping for stored Idempotency-Key responses."""

from __future__ import annotations

import datetime as dt

from lifelong import clock
from lifelong.events.models import IdempotentRequest

RETENTION = dt.timedelta(hours=24)


def idempotency_prune() -> int:
    """Forget idempotency keys older than a day (as Stripe does); returns rows removed."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=clock.now() - RETENTION).delete()
    return deleted
