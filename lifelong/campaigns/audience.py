"""Who a campaign reaches: its audience, each customer's arm, channel, and why not.

The preview and the run decide with the same function, `decide_next`, batch by batch: one
query reads the batch with every fact about each customer as a column (addresses, the current
consent per channel, suppressed addresses, topic opt-out), a second one their recent sends
for the caps; never a query per customer. The channel is chosen as
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
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower

from lifelong.campaigns.models import (
    PREFERRED,
    Arm,
    Campaign,
    RecipientStatus,
    SkipReason,
)
from lifelong.community.entry import customers_qualifying
from lifelong.community.models import Club, ClubMember, MemberStatus
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

# A batch's messages are rendered one by one (templating builds each customer's context):
# small batches keep each transaction short (SQLite has one writer at a time).
BATCH = 100
CUSTOMER_FIELDS = ("pk", "first_name", "last_name", "preferred_channel", "language", "time_zone")
ADDRESS_COLUMNS = tuple(sorted(set(ADDRESS_FIELDS.values())))


def audience_queryset(campaign: Campaign, *, now: dt.datetime) -> QuerySet[Customer]:
    """The live customers the campaign is for: its segment's members, or those its rules match."""
    live = Customer.objects.live()
    if campaign.club is not None:
        live = live.filter(pk__in=club_invitable(campaign.club).values("pk"))
    if campaign.segment_id is not None:
        members = SegmentMembership.objects.filter(segment_id=campaign.segment_id)
        return live.filter(pk__in=members.values("customer_id"))
    return live.filter(rules_compile(rules_parse(campaign.rules), now=now))


def club_invitable(club: Club) -> QuerySet[Customer]:
    """Those a club invitation is for: admitted by the club's entry rule now, and neither in
    the club nor holding an invitation to it (someone who left or was removed may come back)."""
    taken = ClubMember.objects.filter(
        club=club, status__in=[MemberStatus.INVITED, MemberStatus.JOINED]
    )
    return customers_qualifying(club).exclude(pk__in=taken.values("customer_id"))


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
    marketing: bool
    # The channels to try, in order (the preferred one is tried first, per customer).
    candidates: list[str]
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
    configured = {c.channel: c for c in ChannelConfig.objects.filter(active=True)}
    candidates = (
        [campaign.channel]
        if campaign.channel != PREFERRED
        else [str(c) for c in FALLBACK_ORDER if c in configured]
    )
    return Context(
        configured=configured,
        policy=SendingPolicy.current(),
        templates=tuple(t for t in (campaign.template, campaign.template_b) if t is not None),
        topic=campaign.topic or campaign.template.topic,
        marketing=campaign.purpose == Purpose.MARKETING,
        candidates=[c for c in candidates if c in configured],
    )


def _facts(context: Context) -> dict[str, Any]:
    """Per-customer facts as columns of the batch's one query: the current marketing consent
    per channel (the newest row, over the consent index), a suppressed address per channel, a
    push subscription, an opt-out of the topic."""
    columns: dict[str, Any] = {}
    for channel in context.candidates:
        if context.marketing:
            columns[f"consent_{channel}"] = Subquery(
                Consent.objects.filter(
                    customer_id=OuterRef("pk"), channel=channel, purpose=Purpose.MARKETING
                )
                .newest_first()
                .values("granted")[:1]
            )
        if channel == Channel.PUSH:
            columns["push"] = Exists(PushSubscription.objects.filter(customer_id=OuterRef("pk")))
        else:
            field = ADDRESS_FIELDS[Channel(channel)]
            columns[f"suppressed_{channel}"] = Exists(
                Suppression.objects.filter(channel=channel, address=Lower(OuterRef(field)))
            )
    if context.marketing and context.topic:
        columns["opted_out"] = Exists(
            TopicOptOut.objects.filter(customer_id=OuterRef("pk"), topic__slug=context.topic)
        )
    return columns


def decide_next(
    campaign: Campaign,
    *,
    now: dt.datetime,
    after: int,
    limit: int,
    context: Context,
    audience_at: dt.datetime | None = None,
) -> list[Decision]:
    """The next `limit` audience customers above id `after`, in id order, each with their arm
    and the channel to send on or the reason not to. Two queries per batch at most.

    Caps are counted as of `now`; the audience's rules are evaluated at `audience_at` (a run's
    start, so that every batch of a run reads the same rules), `now` by default.
    """
    facts = _facts(context)
    audience = audience_queryset(campaign, now=audience_at or now)
    rows = list(
        audience.filter(pk__gt=after)
        .annotate(**facts)
        .order_by("pk")
        .values(*CUSTOMER_FIELDS, *ADDRESS_COLUMNS, *facts)[:limit]
    )
    chosen: dict[int, str] = {}
    reasons: dict[int, str] = {}
    for row in rows:
        channel, reason = _choose(campaign, row, context)
        if channel is None:
            reasons[row["pk"]] = reason
        elif row.get(f"suppressed_{channel}"):
            reasons[row["pk"]] = SkipReason.SUPPRESSED
        elif row.get("opted_out"):
            reasons[row["pk"]] = SkipReason.OPTED_OUT
        else:
            chosen[row["pk"]] = channel
    capped = set()
    if context.marketing and chosen:
        capped = _capped(
            list(chosen),
            chosen,
            first=rows[0]["pk"],
            last=rows[-1]["pk"],
            now=now,
            context=context,
            audience=audience,
        )

    decisions = []
    for row in rows:
        pk = row["pk"]
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
        decisions.append(Decision(**common, status=status, channel=chosen[pk], capped=pk in capped))
    return decisions


def _choose(campaign: Campaign, row: dict[str, Any], context: Context) -> tuple[str | None, str]:
    """`channel_choose` for one row of the batch: (channel, "") or (None, why not)."""
    order = context.candidates
    preferred = row["preferred_channel"]
    if campaign.channel == PREFERRED and preferred in order:
        order = [preferred, *(c for c in order if c != preferred)]
    reason = SkipReason.NO_CHANNEL
    for channel in order:
        if not _address(row, channel) or not context.says_something(channel, row["language"]):
            continue
        if context.marketing and not row.get(f"consent_{channel}"):
            reason = SkipReason.NO_CONSENT
            continue
        return channel, ""
    return None, reason


def _address(row: dict[str, Any], channel: str) -> str:
    if channel == Channel.PUSH:
        return "push" if row.get("push") else ""
    field = ADDRESS_FIELDS.get(Channel(channel))
    return str(row[field] or "") if field else ""


def _capped(
    ids: list[int],
    chosen: dict[int, str],
    *,
    first: int,
    last: int,
    now: dt.datetime,
    context: Context,
    audience: QuerySet[Customer],
) -> set[int]:
    """Customers whose frequency cap (the policy's or their channel's) is full right now."""
    policy = context.policy
    caps = {c: (cfg.cap_count, cfg.cap_hours) for c, cfg in context.configured.items()}
    if policy.cap_count <= 0 and not any(n for n, _h in caps.values()):
        return set()
    longest = max([policy.cap_hours, *(h for _n, h in caps.values())])
    batch = audience.filter(pk__gte=first, pk__lte=last).values("pk")
    everywhere: Counter[int] = Counter()
    by_channel: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for customer_id, channel, sent_at in (
        Message.objects.filter(customer_id__in=batch, purpose=Purpose.MARKETING, status__in=COUNTED)
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
        count, _hours = caps.get(chosen[pk], (0, 0))
        if (policy.cap_count > 0 and everywhere[pk] >= policy.cap_count) or (
            count > 0 and by_channel[pk][chosen[pk]] >= count
        ):
            full.add(pk)
    return full
