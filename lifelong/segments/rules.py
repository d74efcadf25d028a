"""Segment rules: a pydantic-validated tree of AND/OR groups, compiled to one Django Q.

Every condition compiles to a column lookup on the customer (or its state row) or
to an EXISTS subquery, so a rule never multiplies rows and the same Q serves the
live count, the full refresh and the incremental refresh.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Exists,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    LessThan,
    LessThanOrEqual,
)
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from lifelong.commerce.models import OrderLine, OrderStatus
from lifelong.customers.models import Channel, Consent, Customer, Purpose
from lifelong.events.field_limits import FieldLimitError, text_check
from lifelong.events.models import Event
from lifelong.lib.yo import yo_fold, yo_folded
from lifelong.loyalty.models import Account, CustomerTier, Tier
from lifelong.loyalty.privileges import PRIVILEGES
from lifelong.segments.models import CustomerState

MAX_DEPTH = 6
MAX_CONDITIONS = 100

# Keys become part of an ORM lookup path; "__" would let a key reach other lookups.
JSON_KEY = r"^[A-Za-z0-9_-]{1,64}$"
# As in the customer summary: cancelled and refunded orders are not purchases.
NOT_PURCHASES = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)

# What each refusal of a rule tree says to staff, keyed by the error's type; `params` fill
# it in. The API shows pydantic's English message, built from the same params.
RULE_MESSAGES: dict[str, Promise] = {
    "key_double_underscore": gettext_lazy("A key cannot contain two underscores in a row."),
    "sku_or_category": gettext_lazy("Enter a SKU or a category."),
    "one_number": gettext_lazy("Enter one number."),
    "probability": gettext_lazy("P(alive) is between 0 and 1."),
    "whole_numbers": gettext_lazy("Enter whole numbers."),
    "names": gettext_lazy("Choose one of the offered options."),
    "eq_or_in": gettext_lazy("Choose one of the offered options."),
    "too_deep": gettext_lazy("Groups nest at most %(n)d deep."),
    "too_many": gettext_lazy("At most %(n)d conditions."),
    "value_missing": gettext_lazy("Enter a value."),
    "value_shape": gettext_lazy("Enter a value."),
    "values_missing": gettext_lazy("Choose or enter at least one value."),
    "text_unstorable": gettext_lazy("Remove the NUL characters and broken Unicode from the text."),
    "finite_number": gettext_lazy("Enter a number."),
}


def rule_error(code: str, message: str, **params: Any) -> PydanticCustomError:
    """A refusal with a code from RULE_MESSAGES; `message` is English with {params}."""
    return PydanticCustomError(code, message, params)


def _storable(value: Any) -> Any:
    # Values are bound into SQL against text and JSON columns: PostgreSQL refuses NUL
    # there and no database compares with NaN or an infinity, so refuse them here.
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            try:
                text_check(item)
            except FieldLimitError:
                raise rule_error(
                    "text_unstorable", "must not contain NUL characters or lone surrogates"
                ) from None
        elif isinstance(item, float) and not math.isfinite(item):
            raise rule_error("finite_number", "must be a finite number")
    return value


Storable = AfterValidator(_storable)
Scalar = str | int | float | bool
Comparison = Literal["eq", "gt", "gte", "lt", "lte", "in"]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    negate: bool = False


class AttributeCondition(_Node):
    """A key of `Customer.attributes`: compare, test membership, substring, or presence."""

    kind: Literal["attribute"]
    key: str = Field(pattern=JSON_KEY)
    op: Literal["eq", "gt", "gte", "lt", "lte", "in", "contains", "exists"]
    value: Annotated[Scalar | list[Scalar] | None, Storable] = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> AttributeCondition:
        if "__" in self.key:
            raise rule_error(
                "key_double_underscore", "an attribute key cannot contain a double underscore"
            )
        _check_value(self.op, self.value, allow_none_for=("exists",))
        return self


class ProfileCondition(_Node):
    """A text field of the customer's profile."""

    kind: Literal["profile"]
    field: Literal[
        "first_name",
        "last_name",
        "patronymic",
        "gender",
        "email",
        "phone",
        "language",
        "time_zone",
        "source",
    ]
    op: Literal["eq", "in", "contains", "empty"]
    value: Annotated[str | list[str] | None, Storable] = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> ProfileCondition:
        _check_value(self.op, self.value, allow_none_for=("empty",))
        return self


class TagCondition(_Node):
    kind: Literal["tag"]
    tag: Annotated[str, Storable] = Field(min_length=1, max_length=64)


class ConsentCondition(_Node):
    """The current consent (the row recorded last) for the channel and purpose is a grant."""

    kind: Literal["consent"]
    channel: Channel
    purpose: Purpose


class SummaryCondition(_Node):
    """Order summary: number of counted orders or net spend."""

    kind: Literal["summary"]
    field: Literal["orders_count", "total_spent"]
    op: Literal["eq", "gt", "gte", "lt", "lte"]
    value: Decimal = Field(ge=0)


class LastOrderCondition(_Node):
    """Last counted order within the past N days, or longer ago than N days.

    Customers who never ordered match neither.
    """

    kind: Literal["last_order"]
    op: Literal["within", "before"]
    days: int = Field(ge=0, le=36500)


class BoughtCondition(_Node):
    """Bought a SKU or anything of a category, ever or within the past N days."""

    kind: Literal["bought"]
    sku: Annotated[str | None, Storable] = Field(default=None, min_length=1, max_length=64)
    category: Annotated[str | None, Storable] = Field(default=None, min_length=1, max_length=128)
    within_days: int | None = Field(default=None, ge=0, le=36500)

    @model_validator(mode="after")
    def _one_target(self) -> BoughtCondition:
        if (self.sku is None) == (self.category is None):
            raise rule_error("sku_or_category", "give exactly one of sku or category")
        return self


class EventCondition(_Node):
    """Did an event of this type, ever or within the past N days ("did not" is negate)."""

    kind: Literal["event"]
    type: Annotated[str, Storable] = Field(min_length=1, max_length=64)
    within_days: int | None = Field(default=None, ge=0, le=36500)


# Scores of the CLV model (scoring.clv_scores_refresh): P(alive) is 0..1, the values money.
MODEL_SCORES = ("p_alive", "predicted_clv", "loyalty_value")


class ScoreCondition(_Node):
    """A computed score: RFM scores (1..5), RFM segment, lifecycle stage, loyal type, or a
    CLV model score (P(alive), predicted CLV, loyalty value; customers without one never match).
    """

    kind: Literal["score"]
    field: Literal[
        "rfm_recency",
        "rfm_frequency",
        "rfm_monetary",
        "rfm_segment",
        "stage",
        "loyal_type",
        "p_alive",
        "predicted_clv",
        "loyalty_value",
    ]
    op: Comparison
    value: Annotated[int | float | str | list[int] | list[str], Storable]

    @model_validator(mode="after")
    def _value_fits_op(self) -> ScoreCondition:
        _check_value(self.op, self.value, allow_none_for=())
        values = self.value if isinstance(self.value, list) else [self.value]
        if self.field in MODEL_SCORES:
            if self.op == "in" or any(isinstance(v, bool | str) for v in values):
                raise rule_error(
                    "one_number", "{field} is compared with one number", field=self.field
                )
            if self.field == "p_alive" and not 0 <= float(self.value) <= 1:  # type: ignore[arg-type]
                raise rule_error("probability", "P(alive) is between 0 and 1")
            return self
        numeric = self.field.startswith("rfm_") and self.field != "rfm_segment"
        if any(isinstance(v, int) != numeric for v in values):
            if numeric:
                raise rule_error("whole_numbers", "{field} takes numbers", field=self.field)
            raise rule_error("names", "{field} takes names", field=self.field)
        if not numeric and self.op not in ("eq", "in"):
            raise rule_error(
                "eq_or_in", "{field} can only be compared with eq or in", field=self.field
            )
        return self


class TierCondition(_Node):
    """The customer's tier is one of these (by code), as the tier sweep last announced it;
    a customer the sweep has not reached yet holds the entry level."""

    kind: Literal["tier"]
    tiers: list[Annotated[str, Field(pattern=r"^[-a-zA-Z0-9_]{1,40}$")]] = Field(
        min_length=1, max_length=50
    )


class PrivilegeCondition(_Node):
    """The customer's tier opens this privilege (`loyalty.privileges.PRIVILEGES`)."""

    kind: Literal["privilege"]
    privilege: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]

    @model_validator(mode="after")
    def _known(self) -> PrivilegeCondition:
        if self.privilege not in PRIVILEGES:
            raise rule_error("names", "{privilege} is not a privilege", privilege=self.privilege)
        return self


class PointsCondition(_Node):
    """The customer's spendable points balance (available, not pending or held)."""

    kind: Literal["points"]
    op: Literal["eq", "gt", "gte", "lt", "lte"] = "gte"
    value: int = Field(ge=0, le=10**12)


Condition = Annotated[
    AttributeCondition
    | ProfileCondition
    | TagCondition
    | ConsentCondition
    | SummaryCondition
    | LastOrderCondition
    | BoughtCondition
    | EventCondition
    | ScoreCondition
    | TierCondition
    | PrivilegeCondition
    | PointsCondition,
    Field(discriminator="kind"),
]


class RuleGroup(_Node):
    """AND/OR over conditions and nested groups. An empty AND matches everyone."""

    kind: Literal["group"] = "group"
    op: Literal["and", "or"] = "and"
    rules: list[Annotated[Condition | RuleGroup, Field(union_mode="left_to_right")]] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _bounded(self) -> RuleGroup:
        depth, count = _measure(self)
        if depth > MAX_DEPTH:
            raise rule_error("too_deep", "groups nest at most {n} deep", n=MAX_DEPTH)
        if count > MAX_CONDITIONS:
            raise rule_error("too_many", "at most {n} conditions", n=MAX_CONDITIONS)
        return self


def _measure(node: RuleGroup | _Node) -> tuple[int, int]:
    if not isinstance(node, RuleGroup):
        return 0, 1
    measured = [_measure(child) for child in node.rules]
    return 1 + max((d for d, _ in measured), default=0), sum(c for _, c in measured)


def _check_value(op: str, value: Any, *, allow_none_for: tuple[str, ...]) -> None:
    if op in allow_none_for:
        return
    if value is None:
        raise rule_error("value_missing", "{op} needs a value", op=op)
    if (op == "in") != isinstance(value, list):
        raise rule_error("value_shape", "in takes a list; other operators take one value")
    if op == "in" and not value:
        raise rule_error("values_missing", "in needs at least one value")


def rules_parse(data: Any) -> RuleGroup:
    """Validate stored or submitted rules; raises pydantic.ValidationError."""
    return RuleGroup.model_validate(data)


def rules_compile(rules: RuleGroup, *, now: dt.datetime) -> Q:
    """The Q over `Customer` that selects exactly the customers matching `rules` at `now`.

    Merged customers are not excluded here; callers start from the live customers.
    """
    return _compile(rules, now)


def _compile(node: RuleGroup | _Node, now: dt.datetime) -> Q:
    if isinstance(node, RuleGroup):
        parts = [_compile(child, now) for child in node.rules]
        if not parts:
            # As in logic: an empty AND is true, an empty OR false. An empty Q() would
            # vanish when combined ("Q() | x" is x), so both are real conditions.
            q = Q(pk__isnull=False) if node.op == "and" else Q(pk__in=[])
        else:
            q = parts[0]
            for part in parts[1:]:
                q = (q & part) if node.op == "and" else (q | part)
    else:
        q = _condition(node, now)
    return ~q if node.negate else q


def _lookup(prefix: str, op: str, value: Any) -> Q:
    # Always name the lookup, so a JSON key called "in" or "gt" stays a key.
    return Q(**{f"{prefix}__{'exact' if op == 'eq' else op}": value})


def _since(now: dt.datetime, days: int | None) -> dt.datetime | None:
    return None if days is None else now - dt.timedelta(days=days)


def _condition(node: _Node, now: dt.datetime) -> Q:
    if isinstance(node, TagCondition | ConsentCondition | BoughtCondition | EventCondition):
        return Q(_subquery_condition(node, now))
    if isinstance(node, TierCondition):
        return _tier_in(node.tiers)
    if isinstance(node, PrivilegeCondition):
        opening = [
            slug
            for slug, privileges in Tier.objects.filter(active=True).values_list(
                "slug", "privileges"
            )
            if node.privilege in (privileges or [])
        ]
        return _tier_in(opening) if opening else Q(pk__in=[])
    if isinstance(node, PointsCondition):
        # No account yet is a balance of 0, never NULL, so negation stays exact.
        balance = Coalesce(
            Subquery(Account.objects.filter(customer_id=OuterRef("pk")).values("available")[:1]),
            Value(0),
            output_field=BigIntegerField(),
        )
        return Q(COMPARISONS[node.op](balance, node.value))
    if isinstance(node, ScoreCondition):
        # Through EXISTS rather than a join, so customers without a state row are
        # simply "not matching" and the negation includes them.
        scored = CustomerState.objects.filter(customer_id=OuterRef("pk"))
        return Q(Exists(scored.filter(_lookup(node.field, node.op, node.value))))
    return _two_valued(_column_condition(node, now))


COMPARISONS: dict[str, Any] = {
    "eq": Exact,
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
}


def _tier_in(slugs: list[str]) -> Q:
    """Customers holding one of these tiers now: their row's announced tier, or, without a
    row, the entry level (as `loyalty.tiers.Ladder.entry`: the highest active tier open to
    qualification that has no threshold)."""
    rows = CustomerTier.objects.filter(customer_id=OuterRef("pk"))
    q = Q(Exists(rows.filter(shown__in=slugs)))
    entry = (
        Tier.objects.filter(
            active=True,
            invitation_only=False,
            min_status_points=0,
            min_spend=0,
            min_orders=0,
        )
        .order_by("-position")
        .values_list("slug", flat=True)
        .first()
    )
    if entry in slugs:
        q |= ~Q(Exists(rows))
    return q


def _two_valued(q: Q) -> Q:
    """`q` as a strict true/false: SQL NULL (a missing JSON key, a NULL date) becomes false.

    Without it NOT (attributes->'city' = 'x') would drop customers without a city.
    """
    flag = Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())
    return Q(Exact(flag, True))


def _column_condition(node: _Node, now: dt.datetime) -> Q:
    if isinstance(node, AttributeCondition):
        path = f"attributes__{node.key}"
        if node.op == "exists":
            return Q(attributes__has_key=node.key)
        if node.op == "contains":
            return Q(IContains(yo_folded(KT(path)), yo_fold(str(node.value))))
        return _lookup(path, node.op, node.value)
    if isinstance(node, ProfileCondition):
        if node.op == "empty":
            return _lookup(node.field, "eq", "")
        if node.op == "contains":
            return Q(IContains(yo_folded(node.field), yo_fold(str(node.value))))
        return _lookup(node.field, node.op, node.value)
    if isinstance(node, SummaryCondition):
        value: Any = int(node.value) if node.field == "orders_count" else node.value
        return _lookup(node.field, node.op, value)
    if isinstance(node, LastOrderCondition):
        edge = now - dt.timedelta(days=node.days)
        if node.op == "within":
            return Q(last_order_at__gte=edge)
        return Q(last_order_at__lt=edge)
    raise TypeError(f"unknown condition {node!r}")  # pragma: no cover - pydantic guards kinds


def _subquery_condition(node: _Node, now: dt.datetime) -> Exists | Exact:
    if isinstance(node, TagCondition):
        tagged = Customer.tags.through.objects.filter(
            customer_id=OuterRef("pk"), tag__name=node.tag
        )
        return Exists(tagged)
    if isinstance(node, ConsentCondition):
        newest = (
            Consent.objects.filter(
                customer_id=OuterRef("pk"), channel=node.channel, purpose=node.purpose
            )
            .newest_first()
            .values("granted")[:1]
        )
        # No consent row at all is "not granted", never NULL, so negation stays exact.
        return Exact(Coalesce(Subquery(newest), Value(False), output_field=BooleanField()), True)
    if isinstance(node, BoughtCondition):
        lines = OrderLine.objects.filter(order__customer_id=OuterRef("pk")).exclude(
            order__status__in=NOT_PURCHASES
        )
        if node.sku is not None:
            lines = lines.filter(sku=node.sku)
        else:
            lines = lines.filter(product__category=node.category)
        since = _since(now, node.within_days)
        if since is not None:
            lines = lines.filter(order__placed_at__gte=since)
        return Exists(lines)
    if isinstance(node, EventCondition):
        events = Event.objects.filter(customer_id=OuterRef("pk"), type=node.type)
        since = _since(now, node.within_days)
        if since is not None:
            events = events.filter(occurred_at__gte=since, occurred_at__lte=now)
        return Exists(events)
    raise TypeError(f"unknown condition {node!r}")  # pragma: no cover - pydantic guards kinds
