"""Who a campaign reaches: its audience, each customer's arm, channel, and why not.

The preview and the run decide with the same function, `decide`, batch by batch: a few
queries per batch of customers (their addresses, consents, suppressions, topic opt-outs,
recent sends), never one per customer. The channel is chosen as
`messaging.services.channel_choose` chooses it (the preferred channel, else the first fallback
that is set up, has an address, something to say there and, for marketing, consent), with
the same building blocks, but for a whole batch at once. The dispatcher's gates check consent,
suppression, opt-outs, caps and quiet hours again at send time; this only keeps messages that
would certainly be stopped out of the outbox and tells the preview why.

Arms come from a hash of the campaign's salt and the customer id: the same customer is in
the same arm on every run and every preview, whatever else changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence

from django.db.models import Q, QuerySet

from lifelong.campaigns.models import (
    PREFERRED,
    Arm,
    Campaign,
    RecipientStatus,
    SkipReason,
)
from lifelong.customers.models import Channel, Consent, Customer, Purpose
from lifelong.messaging.gates import COUNTED
from lifelong.messaging.models import (
    ChannelConfig,
    Message,
    PushSubscription,
    SendingPolicy,
    Suppression,
    Template,
    TopicOptOut,
)
from lifelong.messaging.services import ADDRESS_FIELDS, FALLBACK_ORDER
from lifelong.messaging.variants import variant_for
from lifelong.segments.models import SegmentMembership
from lifelong.segments.rules import rules_compile, rules_parse

BATCH = 1000
CUSTOMER_FIELDS = ("pk", "first_name", "last_name", "preferred_channel", "language", "time_zone")
ADDRESS_COLUMNS = tuple(sorted(set(ADDRESS_FIELDS.values())))


def audience_queryset(campaign: Campaign, *, now: dt.datetime) -> QuerySet[Customer]:
    """The live customers the campaign is for: its segment's members, or those its rules match."""
    live = Customer.objects.live()
    if campaign.segment_id is not None:
        members = SegmentMembership.objects.filter(segment_id=campaign.segment_id)
        return live.filter(pk__in=members.values("customer_id"))
    return live.filter(rules_compile(rules_parse(campaign.rules), now=now))


def audience_ids(campaign: Campaign, *, now: dt.datetime, after: int, limit: int) -> list[int]:
    """The next `limit` audience ids above `after`, in id order (the batches of a run)."""
    return list(
        audience_queryset(campaign, now=now)
        .filter(pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def _unit(text: str) -> float:
    """A uniform number in [0, 1) fixed by `text`."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def arm_of(campaign: Campaign, customer_id: int) -> str:
    """The customer's arm: holdout by the holdout percentage, then A / B / the rest."""
    if _unit(f"holdout:{campaign.salt}:{customer_id}") * 100 < campaign.holdout_percent:
        return Arm.HOLDOUT
    if campaign.template_b_id is None:
        return Arm.A
    share = _unit(f"ab:{campaign.salt}:{customer_id}") * 100
    if share < campaign.ab_sample_percent / 2:
        return Arm.A
    return Arm.B if share < campaign.ab_sample_percent else Arm.REST


@dataclasses.dataclass(frozen=True)
class Decision:
    customer_id: int
    name: str
    time_zone: str
    arm: str
    status: str
    reason: str = ""
    channel: str = ""
    # Sendable, but the frequency cap is full right now: the dispatcher will hold it back.
    capped: bool = False


@dataclasses.dataclass
class Context:
    """What a run or a preview reads once, not per batch."""

    configured: dict[str, ChannelConfig]
    policy: SendingPolicy
    templates: tuple[Template, ...]
    topic: str
    _variants: dict[tuple[str, str], bool] = dataclasses.field(default_factory=dict)

    def says_something(self, channel: str, language: str) -> bool:
        """Every template of the campaign has something to send on this channel."""
        key = (channel, language)
        if key not in self._variants:
            self._variants[key] = all(
                variant_for(t, channel, language=language) is not None for t in self.templates
            )
        return self._variants[key]


def context_make(campaign: Campaign) -> Context:
    templates = tuple(t for t in (campaign.template, campaign.template_b) if t is not None)
    return Context(
        configured={c.channel: c for c in ChannelConfig.objects.filter(active=True)},
        policy=SendingPolicy.current(),
        templates=templates,
        topic=campaign.topic or campaign.template.topic,
    )


def decide(
    campaign: Campaign, ids: Sequence[int], *, now: dt.datetime, context: Context
) -> list[Decision]:
    """Each customer's arm, and the channel to send on or the reason not to, in id order."""
    if not ids:
        return []
    marketing = campaign.purpose == Purpose.MARKETING
    rows = {
        row["pk"]: row
        for row in Customer.objects.filter(pk__in=ids).values(*CUSTOMER_FIELDS, *ADDRESS_COLUMNS)
    }
    candidates = (
        [campaign.channel]
        if campaign.channel != PREFERRED
        else [str(c) for c in FALLBACK_ORDER if c in context.configured]
    )
    pushable: set[int] = set()
    if Channel.PUSH in candidates and Channel.PUSH in context.configured:
        pushable = set(
            PushSubscription.objects.filter(customer_id__in=ids).values_list(
                "customer_id", flat=True
            )
        )
    consented = _consents(ids, candidates) if marketing else set()

    chosen: dict[int, tuple[str, str]] = {}  # customer -> (channel, address)
    reasons: dict[int, str] = {}
    for pk in ids:
        row = rows.get(pk)
        if row is None:  # deleted since the audience was read
            continue
        order = candidates
        preferred = row["preferred_channel"]
        if campaign.channel == PREFERRED and preferred in candidates:
            order = [preferred, *(c for c in candidates if c != preferred)]
        reason = SkipReason.NO_CHANNEL
        for channel in order:
            if channel not in context.configured:
                continue
            address = _address(row, channel, pushable)
            if not address or not context.says_something(channel, row["language"]):
                continue
            if marketing and (pk, channel) not in consented:
                reason = SkipReason.NO_CONSENT
                continue
            chosen[pk] = (channel, address)
            break
        else:
            reasons[pk] = reason

    suppressed = set(
        Suppression.objects.filter(
            address__in=[a.lower() for c, a in chosen.values() if c != Channel.PUSH]
        ).values_list("channel", "address")
    )
    opted_out: set[int] = set()
    if marketing and context.topic:
        opted_out = set(
            TopicOptOut.objects.filter(
                customer_id__in=list(chosen), topic__slug=context.topic
            ).values_list("customer_id", flat=True)
        )
    for pk, (channel, address) in chosen.items():
        if (channel, address.lower()) in suppressed:
            reasons[pk] = SkipReason.SUPPRESSED
        elif pk in opted_out:
            reasons[pk] = SkipReason.OPTED_OUT
    sendable = [pk for pk in chosen if pk not in reasons]
    capped = _capped(sendable, chosen, now=now, context=context) if marketing else set()

    decisions = []
    for pk in ids:
        row = rows.get(pk)
        if row is None:
            continue
        arm = arm_of(campaign, pk)
        name = " ".join(p for p in (row["first_name"], row["last_name"]) if p) or f"#{pk}"
        common = {"customer_id": pk, "name": name, "time_zone": row["time_zone"], "arm": arm}
        if pk in reasons:
            decisions.append(Decision(**common, status=RecipientStatus.SKIPPED, reason=reasons[pk]))
            continue
        status: str = RecipientStatus.QUEUED
        if arm == Arm.HOLDOUT:
            status = RecipientStatus.HOLDOUT
        elif arm == Arm.REST:
            status = RecipientStatus.WAITING
        decisions.append(
            Decision(**common, status=status, channel=chosen[pk][0], capped=pk in capped)
        )
    return decisions


def _address(row: dict[str, object], channel: str, pushable: set[int]) -> str:
    if channel == Channel.PUSH:
        return str(row["pk"]) if row["pk"] in pushable else ""
    field = ADDRESS_FIELDS.get(Channel(channel))
    return str(row[field] or "") if field else ""


def _consents(ids: Sequence[int], channels: Sequence[str]) -> set[tuple[int, str]]:
    """(customer, channel) pairs whose current marketing consent is a grant."""
    newest: dict[tuple[int, str], bool] = {}
    for customer_id, channel, granted in (
        Consent.objects.filter(customer_id__in=ids, channel__in=channels, purpose=Purpose.MARKETING)
        .newest_first()
        .values_list("customer_id", "channel", "granted")
    ):
        newest.setdefault((customer_id, channel), granted)
    return {pair for pair, granted in newest.items() if granted}


def _capped(
    ids: list[int], chosen: dict[int, tuple[str, str]], *, now: dt.datetime, context: Context
) -> set[int]:
    """Customers whose frequency cap (the policy's or their channel's) is full right now."""
    policy = context.policy
    caps = {c: (cfg.cap_count, cfg.cap_hours) for c, cfg in context.configured.items()}
    if not ids or (policy.cap_count <= 0 and not any(n for n, _h in caps.values())):
        return set()
    longest = max([policy.cap_hours, *(h for _n, h in caps.values())])
    everywhere: Counter[int] = Counter()
    by_channel: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for customer_id, channel, sent_at in (
        Message.objects.filter(customer_id__in=ids, purpose=Purpose.MARKETING, status__in=COUNTED)
        .filter(Q(sent_at__gte=now - dt.timedelta(hours=longest)) | Q(sent_at__isnull=True))
        .values_list("customer_id", "channel", "sent_at")
    ):
        at = sent_at or now
        if at >= now - dt.timedelta(hours=policy.cap_hours):
            everywhere[customer_id] += 1
        count, hours = caps.get(channel, (0, 0))
        if count and at >= now - dt.timedelta(hours=hours):
            by_channel[customer_id][channel] += 1
    full = set()
    for pk in ids:
        channel = chosen[pk][0]
        count, _hours = caps.get(channel, (0, 0))
        if (policy.cap_count > 0 and everywhere[pk] >= policy.cap_count) or (
            count > 0 and by_channel[pk][channel] >= count
        ):
            full.add(pk)
    return full
