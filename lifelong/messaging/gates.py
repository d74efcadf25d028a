"""What may be sent now: consent, suppression, topic opt-outs, frequency caps, quiet hours.

`gates_apply` decides for a claimed batch inside the claim transaction, with the batch's
customers locked, so caps hold across any number of concurrent dispatchers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Q

from lifelong.customers.models import Consent, Customer, Purpose
from lifelong.lib.pg_array import in_values
from lifelong.lib.zones import zone_of
from lifelong.messaging.models import (
    WEBHOOK,
    ChannelConfig,
    Message,
    SendingPolicy,
    Status,
    Suppression,
    TopicOptOut,
)

COUNTED = (Status.SENDING, Status.SENT, Status.DELIVERED, Status.UNKNOWN)
# What the gates read of a customer.
GATE_FIELDS = ("time_zone", "merged_into")


@dataclasses.dataclass
class Verdict:
    status: str  # SENDING to go ahead, or the status the message takes instead
    reason: str = ""
    retry_at: dt.datetime | None = None


def quiet_until(
    *, now: dt.datetime, time_zone: str, start: dt.time, end: dt.time
) -> dt.datetime | None:
    """The end of the quiet window if `now` falls inside it in the customer's zone, else None."""
    if start == end:
        return None
    zone = zone_of(time_zone)
    local = now.astimezone(zone)

    def inside(instant: dt.datetime) -> bool:
        t = instant.astimezone(zone).time()
        return (start <= t < end) if start < end else (t >= start or t < end)

    if not inside(now):
        return None
    # Compared as UTC instants, never as wall times: in the repeated hour of a fall-back the
    # first "01:30" is already past while the second is ahead, and a wake in the past would
    # have dispatch re-claim and re-defer the same message in a tight loop. An end that falls
    # in a spring-forward gap does not exist that day: wake once the clock reads past it
    # (by at most the gap's length late).
    wakes = (
        dt.datetime.combine(day, end, tzinfo=zone).replace(fold=fold).astimezone(dt.UTC)
        for day in (local.date(), local.date() + dt.timedelta(days=1))
        for fold in (0, 1)
    )
    return min(wake for wake in wakes if wake > now and not inside(wake))


def _cap_retry(sent_times: list[dt.datetime], count: int, hours: int) -> dt.datetime | None:
    """When a cap of `count` per `hours` is full, the moment the oldest send leaves the window."""
    if count <= 0 or len(sent_times) < count:
        return None
    sent_times = sorted(sent_times, reverse=True)
    return sent_times[count - 1] + dt.timedelta(hours=hours)


def gates_apply(
    messages: Sequence[Message],
    *,
    now: dt.datetime,
    policy: SendingPolicy,
    customers: dict[int, Customer],
    configs: dict[str, ChannelConfig],
) -> dict[int, Verdict]:
    """A verdict per message id, given the batch's customers (with GATE_FIELDS) and the
    active channels. Queries are per batch, never per message."""
    customer_ids = sorted({m.customer_id for m in messages if m.customer_id})
    marketing = [m for m in messages if m.purpose == Purpose.MARKETING and m.customer_id]
    consents = _consents(marketing)
    opted_out = set(
        TopicOptOut.objects.filter(in_values("customer_id", customer_ids)).values_list(
            "customer_id", "topic__slug"
        )
    )
    addresses = {m.to.lower() for m in messages if m.to}
    suppressed = set(
        Suppression.objects.filter(in_values("address", addresses, sql_type="text")).values_list(
            "channel", "address"
        )
    )
    # A list, so that with no channel set up yet max() still gets the policy's window.
    window = dt.timedelta(hours=max([policy.cap_hours, *(c.cap_hours for c in configs.values())]))
    recent: dict[int, list[tuple[str, dt.datetime]]] = defaultdict(list)
    for customer_id, channel, sent_at in (
        Message.objects.filter(
            in_values("customer_id", {m.customer_id for m in marketing}),
            purpose=Purpose.MARKETING,
            status__in=COUNTED,
        )
        .filter(Q(sent_at__gte=now - window) | Q(status=Status.SENDING))
        .values_list("customer_id", "channel", "sent_at")
    ):
        recent[customer_id].append((channel, sent_at or now))

    verdicts: dict[int, Verdict] = {}
    for message in messages:
        verdicts[message.pk] = verdict = _verdict(
            message,
            now=now,
            policy=policy,
            config=configs.get(message.channel),
            customer=customers.get(message.customer_id) if message.customer_id else None,
            consented=(message.customer_id, message.channel) in consents,
            opted_out=(message.customer_id, message.topic) in opted_out,
            suppressed=(message.channel, message.to.lower()) in suppressed,
            recent=recent[message.customer_id] if message.customer_id else [],
        )
        if (
            verdict.status == Status.SENDING
            and message.purpose == Purpose.MARKETING
            and message.customer_id
        ):
            # Later messages of the same batch must see this one inside the cap.
            recent[message.customer_id].append((message.channel, now))
    return verdicts


def _verdict(
    message: Message,
    *,
    now: dt.datetime,
    policy: SendingPolicy,
    config: ChannelConfig | None,
    customer: Customer | None,
    consented: bool,
    opted_out: bool,
    suppressed: bool,
    recent: list[tuple[str, dt.datetime]],
) -> Verdict:
    if message.expires_at is not None and message.expires_at <= now:
        return Verdict(Status.EXPIRED, "expired before it could be sent")
    if config is None:
        return Verdict(Status.FAILED, f"channel {message.channel} is not set up")
    if message.customer_id and (customer is None or customer.merged_into_id):
        return Verdict(Status.CANCELLED, "customer merged or deleted")
    if not message.to:
        return Verdict(Status.SUPPRESSED, "no address on this channel")
    if suppressed:
        return Verdict(Status.SUPPRESSED, "address is suppressed")
    if message.purpose != Purpose.MARKETING or message.channel == WEBHOOK:
        return Verdict(Status.SENDING)
    if not consented:
        return Verdict(Status.CANCELLED, "no marketing consent for this channel")
    if opted_out:
        return Verdict(Status.CANCELLED, f"opted out of topic {message.topic}")
    assert customer is not None
    wake = quiet_until(
        now=now, time_zone=customer.time_zone, start=policy.quiet_start, end=policy.quiet_end
    )
    if wake is not None:
        return Verdict(Status.DEFERRED, "quiet hours", wake)
    retries = [
        _cap_retry(
            [at for _ch, at in recent if at >= now - dt.timedelta(hours=policy.cap_hours)],
            policy.cap_count,
            policy.cap_hours,
        ),
        _cap_retry(
            [
                at
                for ch, at in recent
                if ch == message.channel and at >= now - dt.timedelta(hours=config.cap_hours)
            ],
            config.cap_count,
            config.cap_hours,
        ),
    ]
    later = [r for r in retries if r is not None]
    if later:
        return Verdict(Status.DEFERRED, "frequency cap", max(later))
    return Verdict(Status.SENDING)


def _consents(messages: Sequence[Message]) -> set[tuple[int, str]]:
    """(customer, channel) pairs whose current marketing consent is a grant."""
    pairs = {(m.customer_id, m.channel) for m in messages}
    if not pairs:
        return set()
    newest: dict[tuple[int, str], bool] = {}
    for customer_id, channel, granted in (
        Consent.objects.filter(
            in_values("customer_id", {c for c, _ in pairs}),
            channel__in={ch for _, ch in pairs},
            purpose=Purpose.MARKETING,
        )
        .newest_first()
        .values_list("customer_id", "channel", "granted")
    ):
        newest.setdefault((customer_id, channel), granted)
    return {pair for pair, granted in newest.items() if granted and pair in pairs}
