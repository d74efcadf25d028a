"""Customers' time zones: a stored name, or the business's zone when it is unknown."""

from __future__ import annotations

import functools
import zoneinfo

from django.conf import settings


@functools.cache
def zone_of(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
