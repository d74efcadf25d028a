"""What the scheduler knows about each sweep, kept in the database so that a restart,
a second scheduler or a second beat sees the same record."""

from __future__ import annotations

from django.db import models


class SweepState(models.Model):
    """One row per sweep: the last slot claimed and how its last run went.

    A slot is one due time of the sweep, in seconds since the epoch (see lifelong.jobs.schedule);
    whoever moves `last_slot` forward with a conditional UPDATE runs that slot, nobody else does.
    """

    name = models.CharField(max_length=60, primary_key=True)
    last_slot = models.BigIntegerField(default=-1)
    last_started_at = models.DateTimeField(null=True)
    last_finished_at = models.DateTimeField(null=True)
    last_duration_seconds = models.FloatField(null=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    runs = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class ChannelSends(models.Model):
    """Messages sent and send attempts failed per channel, since install: counted in the
    database by whichever process dispatched, so /metrics on any node shows them all."""

    channel = models.CharField(max_length=16, primary_key=True)
    sent = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.channel
