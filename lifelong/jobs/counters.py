"""Counters kept in the memory of the process that counts (Prometheus counters): sends and
failed send attempts per channel. Everything else /metrics shows is read from the database."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

# No auto-describe: the database collector must not query at import.
REGISTRY = CollectorRegistry(auto_describe=False)

MESSAGES_SENT = Counter(
    "lifelong_messages_sent",
    "Messages handed to a channel's provider by this process",
    ["channel"],
    registry=REGISTRY,
)
SEND_FAILURES = Counter(
    "lifelong_send_failures",
    "Send attempts a channel's provider refused or did not answer, in this process",
    ["channel"],
    registry=REGISTRY,
)
