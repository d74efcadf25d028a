"""What a "we fixed it" message did: reach, opens, clicks, replies, and repeat purchases
against the holdout. All the figures of one fix come from one query (`fix_results`).

The comparison is between customers a channel could reach when the fix was announced, in
the sent group and in the holdout (both drawn the same way), each counted from the moment
they were recorded for the fix. A customer counts for purchases only once their window
(30 days by default) has closed; the others are shown apart as still being watched, so the
figures never mix finished and unfinished windows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db.models import Count, Exists, OuterRef, Q

from lifelong import clock
from lifelong.commerce.models import Order, OrderStatus
from lifelong.feedback.models import Fix, FixRecipient, Item, ItemSource
from lifelong.journeys.uplift import uplift_interval

WINDOW_DAYS = 30


@dataclasses.dataclass(frozen=True)
class Uplift:
    difference: float  # sent group's repeat-purchase rate less the holdout's
    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class FixResults:
    window_days: int
    affected: int
    kept_back: int  # the holdout
    unreachable: int  # no channel could reach them (either group)
    queued: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    replied: int
    watched_sent: int  # reachable, window still open
    watched_holdout: int
    mature_sent: int  # reachable, window closed
    mature_holdout: int
    bought_sent: int
    bought_holdout: int
    uplift: Uplift | None

    def rate(self, bought: int, mature: int) -> float | None:
        return bought / mature if mature else None

    @property
    def rate_sent(self) -> float | None:
        return self.rate(self.bought_sent, self.mature_sent)

    @property
    def rate_holdout(self) -> float | None:
        return self.rate(self.bought_holdout, self.mature_holdout)


def fix_results(*, fix: Fix, window_days: int = WINDOW_DAYS) -> FixResults:
    """The fix's figures as of now (`clock.now`)."""
    window = dt.timedelta(days=window_days)
    closed_before = clock.now() - window
    bought = Order.objects.filter(
        customer_id=OuterRef("customer_id"),
        placed_at__gt=OuterRef("created_at"),
        placed_at__lte=OuterRef("created_at") + window,
    ).exclude(status=OrderStatus.CANCELLED)
    # A reply counts only when it answers the fix's message itself: every inbound reply is
    # linked to the message it answers (email by In-Reply-To, messengers and SMS to the last
    # message sent to them on that channel, messaging.services.inbound_event_record), so a
    # reply to a later message, or a message of the customer's own, is not the fix's.
    replied = Item.objects.filter(
        source=ItemSource.MESSAGE,
        message_id=OuterRef("message_id"),
    )
    reachable = ~Q(channel="")
    mature = Q(created_at__lte=closed_before)
    sent_group = Q(holdout=False) & reachable
    holdout_group = Q(holdout=True) & reachable
    figures = (
        FixRecipient.objects.filter(fix=fix)
        .annotate(has_bought=Exists(bought), has_replied=Exists(replied))
        .aggregate(
            affected=Count("pk"),
            kept_back=Count("pk", filter=Q(holdout=True)),
            unreachable=Count("pk", filter=Q(channel="")),
            queued=Count("pk", filter=Q(message__isnull=False)),
            sent=Count("pk", filter=Q(message__sent_at__isnull=False)),
            delivered=Count("pk", filter=Q(message__delivered_at__isnull=False)),
            opened=Count("pk", filter=Q(message__opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(message__clicked_at__isnull=False)),
            replied=Count("pk", filter=Q(message__sent_at__isnull=False, has_replied=True)),
            watched_sent=Count("pk", filter=sent_group & ~mature),
            watched_holdout=Count("pk", filter=holdout_group & ~mature),
            mature_sent=Count("pk", filter=sent_group & mature),
            mature_holdout=Count("pk", filter=holdout_group & mature),
            bought_sent=Count("pk", filter=sent_group & mature & Q(has_bought=True)),
            bought_holdout=Count("pk", filter=holdout_group & mature & Q(has_bought=True)),
        )
    )
    uplift = None
    if figures["mature_sent"] and figures["mature_holdout"]:
        uplift = Uplift(
            *uplift_interval(
                figures["bought_sent"],
                figures["mature_sent"],
                figures["bought_holdout"],
                figures["mature_holdout"],
            )
        )
    return FixResults(window_days=window_days, uplift=uplift, **figures)
