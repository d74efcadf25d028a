"""The event types this product knows: the ones it records itself, and any a shop has sent.

A journey waiting for an event type nobody ever records waits forever; a typo
("order_place") looks just like a custom event. So a type counts as known when the product
records it (below) or when at least one event of that type is in the log.
"""

from __future__ import annotations

from collections.abc import Iterable

from lifelong.events.models import Event

# Recorded by the product itself or by the shop integrations it ships with.
BUILT_IN_TYPES = frozenset(
    {
        "cart_abandoned",
        "cart_updated",
        "churn_reason_recorded",
        # The community: club joins, leaves and removals and posts come from the bot's updates
        # (community.updates, community.services), active weeks from a sweep
        # (community.activity), early-access openings from another (community.early_access).
        "community_active_week",
        "community_joined",
        "community_left",
        "community_post",
        "community_removed",
        "consent_granted",
        "consent_withdrawn",
        "customer_created",
        "customer_merged",
        "customer_updated",
        "early_access_opened",
        "fact_added",
        "feedback_closed",
        "feedback_replied",
        "journey_entered",
        "journey_goal_met",
        "message_clicked",
        "message_delivered",
        "message_failed",
        "message_opened",
        "message_replied",
        "message_sent",
        "note_added",
        "nps_detractor",
        "nps_promoter",
        "order_cancelled",
        "order_delivered",
        "order_paid",
        "order_placed",
        "order_refund",
        "order_refunded",
        "order_returned",
        "product_viewed",
        "referral_converted",
        "review_posted",
        "review_received",
        "segment_entered",
        "segment_exited",
        "stage_changed",
        "survey_answered",
        "tag_added",
        "tag_removed",
        "task_created",
        "task_done",
        "telegram_linked",
        "tier_changed",
        "topic_opted_in",
        "topic_opted_out",
        "visit",
    }
)


def event_types_unknown(types: Iterable[str]) -> set[str]:
    """The given types that are neither built in nor ever recorded (one query at most)."""
    unknown = {t for t in types if t not in BUILT_IN_TYPES}
    if not unknown:
        return set()
    seen = set(
        Event.objects.filter(type__in=unknown).order_by().values_list("type", flat=True).distinct()
    )
    return unknown - seen
