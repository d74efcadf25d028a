"""Sends and failed send attempts per channel, added up in the database once per dispatch
batch (not per message: one UPDATE per channel keeps the counting off the hot path)."""

from __future__ import annotations

from collections import Counter

from django.db.models import F

from lifelong.jobs.models import ChannelSends

SENT = "sent"
FAILED = "failed"


def channel_sends_add(*, tally: Counter[tuple[str, str]]) -> None:
    """Add a batch's (channel, SENT or FAILED) counts: one UPDATE per channel once its row
    exists."""
    for channel in sorted({channel for channel, _ in tally}):
        counts = ChannelSends.objects.filter(channel=channel)
        added = {
            "sent": F("sent") + tally[channel, SENT],
            "failed": F("failed") + tally[channel, FAILED],
        }
        if not counts.update(**added):
            ChannelSends.objects.bulk_create([ChannelSends(channel=channel)], ignore_conflicts=True)
            counts.update(**added)
