"""The names behind the ids and codes that events carry, for the customer card's timeline.

Events store what is stable (a segment's id, a product's SKU, a tier's and a topic's code);
people read names. A page of the timeline reads the names it needs at once: at most one
query per kind, and none for a page without such events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lifelong.commerce.models import Product
from lifelong.community.models import Club
from lifelong.events.models import Event
from lifelong.loyalty.models import Tier
from lifelong.messaging.models import Topic
from lifelong.segments.models import Segment

SEGMENT_EVENTS = ("segment_entered", "segment_exited")
PRODUCT_EVENTS = ("cart_updated", "cart_abandoned", "product_viewed")
TIER_EVENTS = ("tier_changed",)
TOPIC_EVENTS = ("topic_opted_in", "topic_opted_out")
CLUB_EVENTS = (
    "community_joined",
    "community_left",
    "community_removed",
    "community_post",
    "community_active_week",
)


def _skus(props: dict[str, Any]) -> list[str]:
    skus = props.get("skus")
    if not isinstance(skus, list):
        skus = [props["sku"]] if isinstance(props.get("sku"), str) else []
    return [str(s) for s in skus[:20]]


@dataclass(frozen=True)
class Names:
    segments: dict[str, str] = field(default_factory=dict)
    products: dict[str, str] = field(default_factory=dict)
    tiers: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    clubs: dict[str, str] = field(default_factory=dict)

    def fill(self, event_type: str, props: dict[str, Any]) -> dict[str, Any]:
        """The event's properties with the names it refers to (keys ending in `_name(s)`)."""
        if event_type in SEGMENT_EVENTS:
            segment = str(props.get("segment_id", ""))
            return {**props, "segment_name": self.segments.get(segment, f"#{segment}")}
        if event_type in PRODUCT_EVENTS:
            names = [self.products.get(sku, sku) for sku in _skus(props)]
            return {**props, "product_names": names}
        if event_type in TIER_EVENTS:
            old, new = str(props.get("from") or ""), str(props.get("to") or "")
            return {
                **props,
                "from_name": self.tiers.get(old, old),
                "to_name": self.tiers.get(new, new),
            }
        if event_type in TOPIC_EVENTS:
            topic = str(props.get("topic", ""))
            return {**props, "topic_name": self.topics.get(topic, topic)}
        if event_type in CLUB_EVENTS:
            club = str(props.get("club_id", ""))
            return {**props, "club_name": self.clubs.get(club, f"#{club}")}
        return props


def timeline_names(events: Iterable[Event]) -> Names:
    segments: set[int] = set()
    skus: set[str] = set()
    codes: set[str] = set()
    topics: set[str] = set()
    clubs: set[int] = set()
    for event in events:
        props = event.properties if isinstance(event.properties, dict) else {}
        if event.type in SEGMENT_EVENTS and str(props.get("segment_id", "")).isdigit():
            segments.add(int(props["segment_id"]))
        elif event.type in PRODUCT_EVENTS:
            skus.update(_skus(props))
        elif event.type in TIER_EVENTS:
            codes.update(str(props.get(k) or "") for k in ("from", "to"))
        elif event.type in TOPIC_EVENTS:
            topics.add(str(props.get("topic", "")))
        elif event.type in CLUB_EVENTS and str(props.get("club_id", "")).isdigit():
            clubs.add(int(props["club_id"]))
    return Names(
        segments={
            str(pk): name
            for pk, name in Segment.objects.filter(pk__in=segments).values_list("pk", "name")
        }
        if segments
        else {},
        products=dict(Product.objects.filter(sku__in=skus).values_list("sku", "name"))
        if skus
        else {},
        tiers=dict(Tier.objects.filter(slug__in=codes - {""}).values_list("slug", "name"))
        if codes - {""}
        else {},
        topics=dict(Topic.objects.filter(slug__in=topics).values_list("slug", "name"))
        if topics
        else {},
        clubs={
            str(pk): title
            for pk, title in Club.objects.filter(pk__in=clubs).values_list("pk", "title")
        }
        if clubs
        else {},
    )
