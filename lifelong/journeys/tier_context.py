"""What a journey started by a tier change knows about the tier: for its messages' texts.

The `tier_changed` event names tiers by code only; a welcome letter needs the tier's name
and what it opens. Read when the journey starts, in both shipped languages, so the text says
what the tier gave at that moment even if the tier is edited later.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation

from lifelong.loyalty.models import Tier
from lifelong.loyalty.privileges import PRIVILEGES

EVENT_TYPE = "tier_changed"


def tier_contexts() -> dict[str, dict[str, Any]]:
    """Each tier by code as a journey's context gives it to templates (`journey.tier`):
    name, colour, privileges [{code, name, description}] in Russian and `privileges_en`."""
    found = {}
    for tier in Tier.objects.all():
        found[tier.slug] = {
            "slug": tier.slug,
            "name": tier.name,
            "colour": tier.colour,
            "privileges": _privileges(tier.privileges, "ru"),
            "privileges_en": _privileges(tier.privileges, "en"),
        }
    return found


def _privileges(codes: list[str], language: str) -> list[dict[str, str]]:
    with translation.override(language):
        return [
            {"code": code, "name": str(name), "description": str(text)}
            for code in codes
            if code in PRIVILEGES
            for name, text in [PRIVILEGES[code]]
        ]
