"""The demo's journeys and channels: every ready-made journey running, nothing leaving.

Every channel is delivered by the "sandbox" transport, so the demo sends for real through
the outbox and the dispatcher while no message ever leaves the machine. The sandbox e-mail
channel is also how `lifelong simulate` recognises a demo database.
"""

from __future__ import annotations

from lifelong.customers.models import Channel, Customer
from lifelong.demo.catalogue import AROMA, COURSES, MATS, MEDITATION, PROPS, TEA
from lifelong.demo.people import CUSTOMER_PREFIX
from lifelong.journeys.library import LIBRARY, library_install
from lifelong.journeys.models import JourneyStatus
from lifelong.journeys.services import journey_status_set
from lifelong.messaging.models import WEBHOOK, BrandVoice, ChannelConfig

SANDBOX = "sandbox"
SHOP_NAME = "Прана"
CATEGORIES = {
    "course": [COURSES.name],
    "tool": [MATS.name, PROPS.name, MEDITATION.name],
    "consumable": [TEA.name, AROMA.name],
}


def demo_journeys_ensure() -> None:
    """Sandbox channels, the shop's sender name, and every library journey, active."""
    for channel in (*Channel.values, WEBHOOK):
        ChannelConfig.objects.update_or_create(
            channel=channel, defaults={"transport": SANDBOX, "active": True}
        )
        BrandVoice.objects.get_or_create(channel=channel, defaults={"sender_name": SHOP_NAME})
    for entry in LIBRARY:
        journey = library_install(entry.slug, categories=CATEGORIES)
        if journey.status != JourneyStatus.ACTIVE:
            journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)


def demo_present() -> bool:
    """A demo database: sandbox e-mail and demo customers (a real shop has neither)."""
    return (
        ChannelConfig.objects.filter(channel=Channel.EMAIL, transport=SANDBOX).exists()
        and Customer.objects.filter(external_id__startswith=CUSTOMER_PREFIX).exists()
    )
