"""The segment builder: rule trees to and from plain form fields (sentences: segment_sentences).

Every node of the tree is a set of form fields named `<path>.<attribute>`, where the
path is "r" for the root group and "r_0_2" for the third child of its first child.
The server turns the posted fields back into a tree (`draft_from_post`), so htmx can
add, remove and re-render nodes, and nobody writes JSON by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.loyalty.models import Tier
from lifelong.segments.editing import LIFECYCLE_FIELDS, RuleProblem
from lifelong.segments.models import LifecycleRules, LoyalType, RfmSegment, Stage
from lifelong.segments.rules import MAX_DEPTH, MODEL_SCORES, RULE_MESSAGES
from lifelong.web.forms import Form

ROOT = "r"
PATH = re.compile(r"^r(?:_\d{1,3}){0,8}$")
NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?$")

Choices = Sequence[tuple[str, str | Promise]]

KINDS: Choices = [
    ("summary", gettext_lazy("Orders and spend")),
    ("last_order", gettext_lazy("Last order")),
    ("bought", gettext_lazy("Bought a product")),
    ("event", gettext_lazy("Did an event")),
    ("score", gettext_lazy("Stage and RFM")),
    ("tag", gettext_lazy("Tag")),
    ("consent", gettext_lazy("Consent")),
    ("profile", gettext_lazy("Profile field")),
    ("attribute", gettext_lazy("Attribute")),
    ("tier", gettext_lazy("Loyalty tier")),
    ("privilege", gettext_lazy("Tier privilege")),
    ("points", gettext_lazy("Points balance")),
]
GROUP_OPS: Choices = [("and", gettext_lazy("all of")), ("or", gettext_lazy("any of"))]
COMPARE: Choices = [("eq", "="), ("gt", ">"), ("gte", "≥"), ("lt", "<"), ("lte", "≤")]
ATTRIBUTE_OPS: Choices = [
    *COMPARE,
    ("in", gettext_lazy("is one of")),
    ("contains", gettext_lazy("contains")),
    ("exists", gettext_lazy("is set")),
]
PROFILE_FIELD_NAMES = (
    "first_name",
    "last_name",
    "patronymic",
    "gender",
    "email",
    "phone",
    "language",
    "time_zone",
    "source",
)
PROFILE_OPS: Choices = [
    ("eq", gettext_lazy("equals")),
    ("in", gettext_lazy("is one of")),
    ("contains", gettext_lazy("contains")),
    ("empty", gettext_lazy("is empty")),
]
SUMMARY_FIELDS: Choices = [
    ("orders_count", gettext_lazy("number of orders")),
    ("total_spent", gettext_lazy("total spent")),
]
LAST_ORDER_OPS: Choices = [
    ("within", gettext_lazy("within the last")),
    ("before", gettext_lazy("longer ago than")),
]
BOUGHT_BY: Choices = [("sku", gettext_lazy("SKU")), ("category", gettext_lazy("category"))]
SCORE_NAMES: Mapping[str, Choices] = {
    "stage": Stage.choices,
    "rfm_segment": RfmSegment.choices,
    "loyal_type": LoyalType.choices,
}
SCORE_FIELDS: Choices = [
    ("stage", gettext_lazy("lifecycle stage")),
    ("rfm_segment", gettext_lazy("RFM segment")),
    ("loyal_type", gettext_lazy("loyal type")),
    ("rfm_recency", gettext_lazy("recency score (1–5)")),
    ("rfm_frequency", gettext_lazy("frequency score (1–5)")),
    ("rfm_monetary", gettext_lazy("monetary score (1–5)")),
    ("p_alive", gettext_lazy("P(alive), 0–1")),
    ("predicted_clv", gettext_lazy("predicted CLV")),
    ("loyalty_value", gettext_lazy("loyalty value")),
]
SCORE_OPS: Choices = [*COMPARE, ("in", gettext_lazy("is one of"))]

# What a condition of each kind starts as: already valid where a sensible default exists.
DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "summary": {"field": "orders_count", "op": "gte", "value": "1"},
    "last_order": {"op": "within", "days": 30},
    "bought": {"sku": None, "within_days": None},
    "event": {"type": "", "within_days": 30},
    "score": {"field": "stage", "op": "in", "value": []},
    "tag": {"tag": ""},
    "consent": {"channel": Channel.EMAIL, "purpose": Purpose.MARKETING},
    "profile": {"field": "first_name", "op": "eq", "value": None},
    "attribute": {"key": "", "op": "eq", "value": None},
    "tier": {"tiers": []},
    "privilege": {"privilege": "early_access"},
    "points": {"op": "gte", "value": 100},
}


def profile_fields() -> Choices:
    labels = {f.name: f.verbose_name for f in Customer._meta.concrete_fields}
    return [(name, labels[name]) for name in PROFILE_FIELD_NAMES]


def new_condition(kind: str = "summary") -> dict[str, Any]:
    return {"kind": kind, "negate": False, **DEFAULTS[kind]}


def new_group() -> dict[str, Any]:
    return {"kind": "group", "op": "and", "negate": False, "rules": [new_condition()]}


# --- posted fields -> draft tree ---------------------------------------------------------


def draft_from_post(data: Any) -> dict[str, Any]:
    """The rule tree the builder's fields describe (not validated: values may be wrong)."""
    fields: dict[str, dict[str, list[str]]] = {}
    for key in data:
        path, dot, attr = key.partition(".")
        if dot and PATH.match(path):
            fields.setdefault(path, {})[attr] = data.getlist(key)
    children: dict[str, list[str]] = {}
    for path in fields:
        if path != ROOT:
            children.setdefault(path.rsplit("_", 1)[0], []).append(path)
    return _draft_node(ROOT, fields, children)


def _draft_node(
    path: str, fields: dict[str, dict[str, list[str]]], children: dict[str, list[str]]
) -> dict[str, Any]:
    own = fields.get(path, {})

    def get(attr: str) -> str | None:
        values = own.get(attr)
        return values[-1] if values else None

    kind = get("kind") or "group"
    negate = get("negate") == "1"
    if kind == "group":
        ordered = sorted(children.get(path, []), key=lambda p: int(p.rsplit("_", 1)[1]))
        return {
            "kind": "group",
            "op": get("op") or "and",
            "negate": negate,
            "rules": [_draft_node(child, fields, children) for child in ordered],
        }
    if kind not in DEFAULTS:
        return {"kind": kind, "negate": negate}
    if get("shown") not in (None, kind):
        # The kind was just switched: the other fields belong to the old kind.
        return new_condition(kind) | {"negate": negate}
    return {"kind": kind, "negate": negate, **_condition_fields(kind, get, own)}


def _condition_fields(kind: str, get: Any, own: dict[str, list[str]]) -> dict[str, Any]:
    defaults = DEFAULTS[kind]

    def text(attr: str) -> str | None:
        value = get(attr)
        return None if value is None else value.strip()

    def choice(attr: str) -> Any:
        return text(attr) or defaults[attr]

    if kind == "attribute":
        op = choice("op")
        raw = text("value")
        value = None if op == "exists" else _scalars(raw) if op == "in" else _scalar(raw)
        return {"key": text("key") or "", "op": op, "value": value}
    if kind == "profile":
        op = choice("op")
        raw = text("value")
        if op == "empty" or raw is None:
            return {"field": choice("field"), "op": op, "value": None}
        return {"field": choice("field"), "op": op, "value": _parts(raw) if op == "in" else raw}
    if kind == "tag":
        return {"tag": text("tag") or ""}
    if kind == "tier":
        return {"tiers": [v for v in own.get("values", []) if v]}
    if kind == "privilege":
        return {"privilege": choice("privilege")}
    if kind == "points":
        raw = text("value")
        return {"op": choice("op"), "value": defaults["value"] if raw is None else _integer(raw)}
    if kind == "consent":
        return {"channel": choice("channel"), "purpose": choice("purpose")}
    if kind == "summary":
        raw = text("value")
        value = defaults["value"] if raw is None else _decimal_text(raw)
        return {"field": choice("field"), "op": choice("op"), "value": value}
    if kind == "last_order":
        raw = text("days")
        return {"op": choice("op"), "days": defaults["days"] if raw is None else _integer(raw)}
    if kind == "bought":
        by = "category" if text("by") == "category" else "sku"
        return {by: text("target") or None, "within_days": _optional_integer(text("within_days"))}
    if kind == "event":
        raw = text("within_days")
        within = defaults["within_days"] if raw is None else _optional_integer(raw)
        return {"type": text("type") or "", "within_days": within}
    # score
    score = choice("field")
    if score in SCORE_NAMES:
        names = [v for v in own.get("values", []) if v]
        if len(names) == 1:
            return {"field": score, "op": "eq", "value": names[0]}
        return {"field": score, "op": "in", "value": names}
    op = text("op") or "gte"
    raw = text("value")
    if score in MODEL_SCORES:
        value = _decimal_text(raw) if raw is not None else "0.5" if score == "p_alive" else "0"
        number = float(value) if NUMBER.match(value) else value
        return {"field": score, "op": "lt" if op == "in" else op, "value": number}
    if raw is None:
        return {"field": score, "op": "gte", "value": 4}
    value = [_integer(p) for p in _parts(raw)] if op == "in" else _integer(raw)
    return {"field": score, "op": op, "value": value}


def _parts(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _scalar(raw: str | None) -> str | int | float | bool | None:
    """An attribute value as typed: numbers and true/false become JSON numbers and booleans."""
    if not raw:
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if NUMBER.match(raw):
        return float(raw) if "." in raw else int(raw)
    return raw


def _scalars(raw: str | None) -> list[str | int | float | bool | None]:
    return [_scalar(part) for part in _parts(raw)]


def _decimal_text(raw: str) -> str:
    # "10 000,50" as people type money; pydantic reports anything else as not a number.
    return raw.replace("\u00a0", "").replace(" ", "").replace(",", ".")


def _integer(raw: str) -> int | str:
    return int(raw) if re.fullmatch(r"-?\d{1,9}", raw) else raw


def _optional_integer(raw: str | None) -> int | str | None:
    return _integer(raw) if raw else None


def draft_add(draft: dict[str, Any], action: str) -> dict[str, Any]:
    """Apply a builder button ("add:r_0", "group:r", "remove:r_1") to the draft tree."""
    verb, _sep, path = action.partition(":")
    if not PATH.match(path):
        return draft
    indices = [int(part) for part in path.split("_")[1:]]
    if verb == "remove" and indices:
        parent = _node_at(draft, indices[:-1])
        if parent is not None and indices[-1] < len(parent.get("rules", [])):
            del parent["rules"][indices[-1]]
        return draft
    target = _node_at(draft, indices)
    if target is None or target.get("kind") != "group":
        return draft
    if verb == "add":
        target["rules"].append(new_condition())
    elif verb == "group" and len(indices) + 1 < MAX_DEPTH:
        target["rules"].append(new_group())
    return draft


def _node_at(draft: dict[str, Any], indices: list[int]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = draft
    for index in indices:
        rules = node.get("rules") if node else None
        if not isinstance(rules, list) or index >= len(rules):
            return None
        node = rules[index]
    return node


# --- draft tree -> builder nodes for the template ------------------------------------


@dataclass
class BuilderNode:
    """One node of the builder as the template shows it: input values as text."""

    path: str
    kind: str
    negate: bool
    depth: int
    values: dict[str, Any] = field(default_factory=dict)
    children: list[BuilderNode] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return self.kind == "group"

    @property
    def is_root(self) -> bool:
        return self.path == ROOT

    @property
    def can_nest(self) -> bool:
        return self.depth + 1 < MAX_DEPTH

    @property
    def error_slot(self) -> str:
        return f"err-{self.path}"


def builder_tree(draft: dict[str, Any], problems: Sequence[RuleProblem] = ()) -> BuilderNode:
    """The builder nodes of a draft, with each problem shown at the node it concerns."""
    errors = problems_by_path(problems)
    return _builder_node(draft, ROOT, 0, errors)


def builder_paths(node: BuilderNode) -> list[str]:
    return [node.path, *(path for child in node.children for path in builder_paths(child))]


def _builder_node(node: Any, path: str, depth: int, errors: Mapping[str, list[str]]) -> BuilderNode:
    if not isinstance(node, dict):
        node = new_condition()
    kind = str(node.get("kind", "group"))
    built = BuilderNode(
        path=path,
        kind=kind,
        negate=bool(node.get("negate")),
        depth=depth,
        errors=list(errors.get(path, [])),
    )
    if kind == "group":
        built.values = {"op": node.get("op", "and")}
        built.children = [
            _builder_node(child, f"{path}_{index}", depth + 1, errors)
            for index, child in enumerate(node.get("rules") or [])
        ]
        return built
    built.values = _input_values(kind, node)
    return built


def text_of(value: Any) -> str:
    """A node value as the text a form field or a sentence shows."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(text_of(v) for v in value)
    return str(value)


def _input_values(kind: str, node: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        key: text_of(value) for key, value in node.items() if key not in ("kind", "negate")
    }
    if kind == "bought":
        by = "category" if node.get("category") is not None else "sku"
        values.update(by=by, target=text_of(node.get(by)))
    if kind == "tier":
        chosen_tiers = {str(v) for v in node.get("tiers") or []}
        values["names"] = [
            (slug, name, slug in chosen_tiers)
            for slug, name in Tier.objects.order_by("position").values_list("slug", "name")
        ]
    if kind == "score":
        score = node.get("field", "stage")
        raw = node.get("value")
        chosen = {str(v) for v in (raw if isinstance(raw, list) else [raw])}
        values["names"] = [
            (value, label, value in chosen) for value, label in SCORE_NAMES.get(score, [])
        ]
    return values


def problems_by_path(problems: Sequence[RuleProblem]) -> dict[str, list[str]]:
    """Problems as translated messages keyed by the builder path of the node they concern."""
    by_path: dict[str, list[str]] = {}
    for problem in problems:
        path, rest = ROOT, list(problem.loc)
        while len(rest) >= 2 and rest[0] == "rules" and isinstance(rest[1], int):
            path += f"_{rest[1]}"
            rest = rest[2:]
        by_path.setdefault(path, []).append(problem_message(problem, rest))
    return by_path


FIELD_LABELS: Mapping[str, Promise] = {
    "key": gettext_lazy("Key"),
    "value": gettext_lazy("Value"),
    "tag": gettext_lazy("Tag"),
    "days": gettext_lazy("Days"),
    "within_days": gettext_lazy("Days"),
    "type": gettext_lazy("Event"),
    "sku": gettext_lazy("SKU or category"),
    "category": gettext_lazy("SKU or category"),
}


def problem_message(problem: RuleProblem, rest: Sequence[str | int] = ()) -> str:
    """A pydantic complaint in the staff member's language, naming the field."""
    known = {
        "missing": _("This field is required."),
        "string_too_short": _("This field is required."),
        "decimal_parsing": _("Enter a number."),
        "int_parsing": _("Enter a whole number."),
        "int_from_float": _("Enter a whole number."),
        "int_type": _("Enter a whole number."),
        "decimal_type": _("Enter a number."),
        "greater_than_equal": _("The number is too small."),
        "less_than_equal": _("The number is too large."),
        "string_too_long": _("The text is too long."),
        "string_pattern_mismatch": _("Use Latin letters, digits, - and _ only."),
        "union_tag_invalid": _("Choose a kind of condition."),
        "literal_error": _("Choose one of the offered options."),
        "enum": _("Choose one of the offered options."),
    }
    if problem.type in RULE_MESSAGES:
        text = str(RULE_MESSAGES[problem.type]) % problem.params
    else:
        text = str(known.get(problem.type, problem.msg))
    label = FIELD_LABELS.get(str(rest[0])) if rest else None
    return f"{label}: {text}" if label else text


# --- plain forms ---------------------------------------------------------------------


class SegmentForm(Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


# Shown apart from the stage thresholds: they decide loyal types, not stages.
DEVOTEE_FIELDS = (
    "devotee_min_frequency_score",
    "limited_min_discount_share",
    "lazy_max_aov_score",
    "profitable_min_recency_score",
)
LIFECYCLE_HELP: Mapping[str, Promise] = {
    "at_risk_factor": gettext_lazy(
        "A customer is at risk once the time since their last order is this many times "
        "their own usual gap between orders."
    ),
    "default_gap_days": gettext_lazy(
        "The usual gap assumed for customers with one order: with a factor of 2 and 60 days, "
        "a new customer is at risk after 120 days."
    ),
    "min_gap_days": gettext_lazy(
        "Shorter gaps count as this long, so two orders on one day do not make the next day "
        "“at risk”."
    ),
    "loyal_min_orders": gettext_lazy("Loyal customers have at least this many orders…"),
    "loyal_within_days": gettext_lazy("…and their last order within this many days."),
    "sleeping_after_days": gettext_lazy("Sleeping: no order for this many days."),
    "churned_after_days": gettext_lazy(
        "Churned: no order for this many days (must be longer than sleeping)."
    ),
    "devotee_min_frequency_score": gettext_lazy(
        "Only customers with at least this frequency score (1–5) get a loyal type."
    ),
    "limited_min_discount_share": gettext_lazy(
        "Limited devotees: at least this share (0–1) of their orders had a discount."
    ),
    "lazy_max_aov_score": gettext_lazy(
        "Lazy devotees: average order score (1–5) at most this: frequent but small baskets."
    ),
    "profitable_min_recency_score": gettext_lazy(
        "Profitable devotees: recency score (1–5) at least this."
    ),
}


class LifecycleRulesForm(forms.ModelForm):
    """The thresholds; the model's clean() checks them together (sleeping before churned)."""

    class Meta:
        model = LifecycleRules
        fields = LIFECYCLE_FIELDS
        help_texts = LIFECYCLE_HELP

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
