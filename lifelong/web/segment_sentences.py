"""A stored rule tree as nested sentences for people to read, in the staff member's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.customers.models import Channel, Purpose
from lifelong.loyalty.models import Tier
from lifelong.loyalty.privileges import PRIVILEGES
from lifelong.web.forms_segments import (
    SCORE_FIELDS,
    SCORE_NAMES,
    SUMMARY_FIELDS,
    Choices,
    profile_fields,
    text_of,
)


@dataclass
class Sentence:
    text: str
    children: list[Sentence] = field(default_factory=list)


def rules_sentences(rules: dict[str, Any]) -> Sentence:
    """A stored (valid) rule tree as nested sentences for people to read."""
    if rules.get("kind", "group") == "group":
        children = [rules_sentences(child) for child in rules.get("rules", [])]
        negate, op = bool(rules.get("negate")), rules.get("op", "and")
        if not children:
            text = _("Nobody") if (op == "or") != negate else _("Every customer")
        elif op == "and":
            text = _("Not all of these are true:") if negate else _("All of these are true:")
        else:
            text = _("None of these is true:") if negate else _("At least one of these is true:")
        return Sentence(text, children)
    return Sentence(_condition_sentence(rules))


def _label(choices: Choices, value: Any) -> str:
    return str(dict(choices).get(value, value))


def _quoted(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_quoted(v) for v in value)
    return f"«{text_of(value)}»"


def _days(days: Any) -> str:
    return _("in the last %(n)s days") % {"n": days}


def _number(value: Any) -> str:
    try:
        return number_format(Decimal(str(value)), force_grouping=True)
    except InvalidOperation:
        return str(value)


OP_WORDS: Mapping[str, Promise] = {
    "eq": gettext_lazy("is"),
    "gt": gettext_lazy("is more than"),
    "gte": gettext_lazy("is at least"),
    "lt": gettext_lazy("is less than"),
    "lte": gettext_lazy("is at most"),
    "in": gettext_lazy("is one of"),
    "contains": gettext_lazy("contains"),
}


def _condition_sentence(node: dict[str, Any]) -> str:
    kind, negate = node.get("kind"), bool(node.get("negate"))
    if kind == "tag":
        tag = _quoted(node.get("tag"))
        return (_("has no tag %(tag)s") if negate else _("has the tag %(tag)s")) % {"tag": tag}
    if kind == "event":
        event = _quoted(node.get("type"))
        sentence = (_("did not do %(event)s") if negate else _("did %(event)s")) % {"event": event}
        within = node.get("within_days")
        return sentence if within is None else f"{sentence} {_days(within)}"
    if kind == "bought":
        within = node.get("within_days")
        if node.get("sku") is not None:
            what = _("the SKU %(sku)s") % {"sku": _quoted(node["sku"])}
        else:
            what = _("from the category %(category)s") % {"category": _quoted(node.get("category"))}
        sentence = (_("did not buy %(what)s") if negate else _("bought %(what)s")) % {"what": what}
        return sentence if within is None else f"{sentence} {_days(within)}"
    sentence = _positive_sentence(kind, node)
    return _("not: %(condition)s") % {"condition": sentence} if negate else sentence


def _positive_sentence(kind: Any, node: dict[str, Any]) -> str:
    op = str(node.get("op", ""))
    if kind == "consent":
        return _("consented to %(purpose)s messages by %(channel)s") % {
            "purpose": _label(Purpose.choices, node.get("purpose")).lower(),
            "channel": _label(Channel.choices, node.get("channel")),
        }
    if kind == "last_order":
        if op == "within":
            return _("last order in the last %(n)s days") % {"n": node.get("days")}
        return _("last order more than %(n)s days ago") % {"n": node.get("days")}
    if kind == "summary":
        field_name = _label(SUMMARY_FIELDS, node.get("field"))
        return f"{field_name} {OP_WORDS.get(op, op)} {_number(node.get('value'))}"
    if kind == "score":
        score = str(node.get("field", ""))
        value = node.get("value")
        if score in SCORE_NAMES:
            names = value if isinstance(value, list) else [value]
            shown = ", ".join(_label(SCORE_NAMES[score], v) for v in names)
        else:
            shown = text_of(value)
        return f"{_label(SCORE_FIELDS, score)} {OP_WORDS.get(op, op)} {shown}"
    if kind == "tier":
        tier_names = dict(Tier.objects.values_list("slug", "name"))
        shown = ", ".join(f"«{tier_names.get(slug, slug)}»" for slug in node.get("tiers") or [])
        return _("tier is one of %(tiers)s") % {"tiers": shown}
    if kind == "privilege":
        code = str(node.get("privilege", ""))
        name = PRIVILEGES[code][0] if code in PRIVILEGES else code
        return _("tier opens the privilege «%(privilege)s»") % {"privilege": name}
    if kind == "points":
        return _("points balance %(op)s %(value)s") % {
            "op": OP_WORDS.get(op, op),
            "value": _number(node.get("value")),
        }
    if kind == "profile":
        field_name = _label(profile_fields(), node.get("field"))
        if op == "empty":
            return _("%(field)s is empty") % {"field": field_name}
        return f"{field_name} {OP_WORDS.get(op, op)} {_quoted(node.get('value'))}"
    key = _quoted(node.get("key"))
    if op == "exists":
        return _("attribute %(key)s is set") % {"key": key}
    return _("attribute %(key)s %(op)s %(value)s") % {
        "key": key,
        "op": OP_WORDS.get(op, op),
        "value": _quoted(node.get("value")),
    }
