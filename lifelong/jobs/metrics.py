"""What /metrics shows, all read from the database, so any node's /metrics tells the whole
deployment: four small queries per scrape (the sweep states, the outbox through its partial
indexes, the enrollments through their due index, the per-channel send counts)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from lifelong.jobs.backlog import enrollments_due
from lifelong.jobs.models import ChannelSends
from lifelong.jobs.schedule import sweeps_status
from lifelong.messaging.models import Message, Status

# Messages not yet settled: what the dispatch sweep still has to do.
OUTBOX_STATUSES = (Status.QUEUED, Status.DEFERRED, Status.SENDING)


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        lag = GaugeMetricFamily(
            "lifelong_sweep_lag_seconds",
            "How long the sweep's oldest due run has been waiting (0: none is)",
            labels=["sweep"],
        )
        duration = GaugeMetricFamily(
            "lifelong_sweep_duration_seconds", "Duration of the sweep's last run", labels=["sweep"]
        )
        runs = CounterMetricFamily("lifelong_sweep_runs", "Runs of the sweep", labels=["sweep"])
        failures = CounterMetricFamily(
            "lifelong_sweep_failures", "Runs of the sweep that failed", labels=["sweep"]
        )
        for status in sweeps_status():
            name = status.sweep.name
            lag.add_metric([name], status.lag.total_seconds())
            duration.add_metric([name], status.state.last_duration_seconds or 0.0)
            runs.add_metric([name], status.state.runs)
            failures.add_metric([name], status.state.failures)
        yield from (lag, duration, runs, failures)

        outbox = GaugeMetricFamily(
            "lifelong_outbox_messages",
            "Messages waiting to be sent, by status and channel",
            labels=["status", "channel"],
        )
        rows = (
            Message.objects.filter(status__in=OUTBOX_STATUSES)
            .values_list("status", "channel")
            .annotate(n=Count("*"))
            .order_by()
        )
        for status_value, channel, n in rows:
            outbox.add_metric([status_value, channel], n)
        yield outbox

        due = GaugeMetricFamily(
            "lifelong_enrollments_due", "Journey enrollments whose next step is due"
        )
        due.add_metric([], enrollments_due())
        yield due

        sent = CounterMetricFamily(
            "lifelong_messages_sent", "Messages handed to a channel's provider", labels=["channel"]
        )
        failed = CounterMetricFamily(
            "lifelong_send_failures",
            "Send attempts a channel's provider refused or did not answer",
            labels=["channel"],
        )
        for counts in ChannelSends.objects.order_by("channel"):
            sent.add_metric([counts.channel], counts.sent)
            failed.add_metric([counts.channel], counts.failed)
        yield from (sent, failed)


# Only ours: no process or platform metrics, which differ per process behind one address.
# No auto-describe, so registering does not query.
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(DatabaseCollector())


def metrics_render() -> bytes:
    """The Prometheus text exposition of every metric."""
    return generate_latest(REGISTRY)
