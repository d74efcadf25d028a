"""The definition's validation errors as the canvas shows them: on their node, in words.

Pydantic and `journeys/definition.py` speak English with field names and node ids (they run
outside requests too). The builder puts each error on the card it is about, in the page's
language, and names fields as the side panel does; a loop without a wait marks every step in
it. Anything not known here keeps pydantic's message, after the field's name.
"""

from __future__ import annotations

import re
from typing import Any

import pydantic
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

FIELDS = {
    "template": gettext_lazy("Template"),
    "channel": gettext_lazy("Channel"),
    "days": gettext_lazy("Days"),
    "hours": gettext_lazy("Hours"),
    "events": gettext_lazy("Actions to wait for"),
    "timeout_hours": gettext_lazy("Give up after, hours"),
    "survey": gettext_lazy("Survey"),
    "club": gettext_lazy("Club"),
    "title": gettext_lazy("Task title"),
    "due_hours": gettext_lazy("Due in, hours"),
    "tag": gettext_lazy("Tag"),
    "key": gettext_lazy("Attribute"),
    "value": gettext_lazy("Value"),
    "points": gettext_lazy("Points"),
    "url": gettext_lazy("Address (https://…)"),
    "branches": gettext_lazy("Branches and their weights"),
    "weight": gettext_lazy("Branches and their weights"),
    "in_segment": gettext_lazy("Only customers in the segment"),
}
# The definition's own checks, by their English text.
CHECKS = {
    "a wait needs a duration, a time of day or a date": gettext_lazy("Set how long to wait."),
    "an event trigger needs an event type": gettext_lazy("Choose the event type."),
    "a segment trigger needs a segment": gettext_lazy("Choose the segment."),
    "days since the last order must be at least 1": gettext_lazy(
        "Days since the last order must be at least 1."
    ),
    "a calendar date trigger needs a day and a month": gettext_lazy(
        "Choose the day and the month."
    ),
}
LOOP = re.compile(r"^the loop (.+) has no wait in it$")


def _field(loc: list[Any]) -> str:
    names = [str(FIELDS.get(p, p)) for p in loc if isinstance(p, str)]
    return names[-1] if names else ""


def _message(error: Any, field: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    text = error["msg"].removeprefix("Value error, ")
    if text in CHECKS:
        return str(CHECKS[text])
    if kind in ("missing", "string_too_short") or (kind == "too_short" and field):
        return _("Fill in: %(field)s.") % {"field": field}
    if kind in ("greater_than", "greater_than_equal") and field:
        word = _("more than") if kind == "greater_than" else _("at least")
        return _("%(field)s: %(word)s %(limit)s.") % {
            "field": field,
            "word": word,
            "limit": ctx.get("gt", ctx.get("ge")),
        }
    if kind in ("less_than", "less_than_equal") and field:
        return _("%(field)s: at most %(limit)s.") % {
            "field": field,
            "limit": ctx.get("lt", ctx.get("le")),
        }
    return f"{field}: {text}" if field else text


def node_errors(exc: pydantic.ValidationError, nodes: list[Any]) -> list[tuple[str | None, str]]:
    """(node id, message) per error; None for the journey as a whole (shown on the trigger)."""
    found: list[tuple[str | None, str]] = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        loop = LOOP.match(error["msg"].removeprefix("Value error, "))
        if loop:
            message = _("This loop has no wait in it: customers would go round it at once.")
            for node_id in dict.fromkeys(loop.group(1).split(" → ")):
                found.append((node_id.strip("'"), message))
            continue
        node_id = None
        if len(loc) > 1 and loc[0] == "nodes" and isinstance(loc[1], int) and loc[1] < len(nodes):
            raw = nodes[loc[1]]
            node_id = raw.get("id") if isinstance(raw, dict) else None
            # A tagged union adds the node type to the path: not a field.
            loc = [p for p in loc[2:] if not (isinstance(raw, dict) and p == raw.get("type"))]
        elif loc and loc[0] == "trigger":
            loc = loc[1:]
        found.append((node_id, _message(error, _field(loc) if node_id or loc else "")))
    return found
