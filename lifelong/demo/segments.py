"""Sample segments, so the demo's segment pages show real groups of its customers."""

from __future__ import annotations

from typing import Any

from lifelong.demo.catalogue import COURSES, MATS, TEA
from lifelong.segments.models import Segment
from lifelong.segments.services import segment_create

SAMPLES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "Чайные души",
        "Брали чай или благовония за последние 90 дней: им — новинки и напоминание о запасе.",
        {"op": "and", "rules": [{"kind": "bought", "category": TEA.name, "within_days": 90}]},
    ),
    (
        "Ученики курсов без коврика",
        "Купили онлайн-курс, но коврик у нас не брали.",
        {
            "op": "and",
            "rules": [
                {"kind": "bought", "category": COURSES.name},
                {"kind": "bought", "category": MATS.name, "negate": True},
            ],
        },
    ),
    (
        "Ценные, но под угрозой",
        "Потратили от 15 000 ₽ и давно не заходили: позвонить лично.",
        {
            "op": "and",
            "rules": [
                {"kind": "summary", "field": "total_spent", "op": "gte", "value": 15000},
                {"kind": "score", "field": "stage", "op": "in", "value": ["at_risk", "sleeping"]},
            ],
        },
    ),
)


def demo_segments_ensure() -> None:
    """Create the sample segments that are missing; members come with the segment sweep."""
    existing = set(
        Segment.objects.filter(name__in=[s[0] for s in SAMPLES]).values_list("name", flat=True)
    )
    for name, description, rules in SAMPLES:
        if name not in existing:
            segment_create(name=name, description=description, rules=rules)
