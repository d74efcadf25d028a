"""Request and response schemas of the API, shared with the inbound webhooks.

Every limit the database or a later step would enforce is stated here, so bad
input becomes a 422 with the field named (and shows in the OpenAPI schema)
rather than a database error.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import zoneinfo
from decimal import Decimal
from functools import cache
from typing import Annotated, Any

from django.conf import settings
from ninja import Field, Schema
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    StringConstraints,
    WithJsonSchema,
)

from lifelong.commerce.models import OrderStatus
from lifelong.customers.models import Channel, Gender, Purpose
from lifelong.events.field_limits import currency_check, json_check, name_check, text_check
from lifelong.events.properties import properties_check

# Strings that fit a CharField of that max_length and that every database stores.
Str32 = Annotated[str, StringConstraints(max_length=32), AfterValidator(text_check)]
Str64 = Annotated[str, StringConstraints(max_length=64), AfterValidator(text_check)]
Str100 = Annotated[str, StringConstraints(max_length=100), AfterValidator(text_check)]
Str128 = Annotated[str, StringConstraints(max_length=128), AfterValidator(text_check)]
Str200 = Annotated[str, StringConstraints(max_length=200), AfterValidator(text_check)]
Str254 = Annotated[str, StringConstraints(max_length=254), AfterValidator(text_check)]
Str255 = Annotated[str, StringConstraints(max_length=255), AfterValidator(text_check)]
Required64 = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(text_check)
]
Name255 = Annotated[str, StringConstraints(max_length=255), AfterValidator(name_check)]


# Ids travel in URL paths: no slash, no whitespace, no leading dot (path tricks).
ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@+=-]*$"
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]

MAX_MONEY = Decimal("999999999999.99")
Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, max_digits=14, decimal_places=2)]
PositiveMoney = Annotated[Decimal, Field(gt=0, le=MAX_MONEY, max_digits=14, decimal_places=2)]
Currency = Annotated[
    str,
    AfterValidator(currency_check),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["RUB"]}),
]

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _plausible_time(value: dt.datetime) -> dt.datetime:
    # Far-away years overflow when shifted to UTC and mean a broken client anyway.
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1900 and 2200")
    # Stored in UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows.
    return value.astimezone(dt.UTC)


def _iso_only(value: Any) -> Any:
    # Pydantic would also take a number as a Unix time; the schema promises ISO 8601.
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be an ISO 8601 date or date-time")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_plausible_time)]
# The range is checked with the rest of the profile (customers.services.clean_profile).
Birthday = Annotated[dt.date, BeforeValidator(_iso_only)]


def _ip(value: str) -> str:
    return str(ipaddress.ip_address(value))


IpAddress = Annotated[
    str,
    AfterValidator(_ip),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}]}
    ),
]


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _time_zone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError("unknown time zone; use an IANA name such as Europe/Moscow")
    return value


TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_time_zone)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$")]

JsonObject = Annotated[dict[str, Any], AfterValidator(json_check)]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(name_check)]
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")]
# Stored as "ext:<key>" in Event.idempotency_key (200 chars) so clients cannot
# collide with the keys the services derive ("order:...", "refund:...").
EventKey = Annotated[
    str, StringConstraints(min_length=1, max_length=196), AfterValidator(text_check)
]


# --- pagination ---------------------------------------------------------------------------


class PageQuery(Schema):
    limit: int = Field(100, ge=1, le=500, description="Items per page.")
    after: int | None = Field(
        None, ge=0, le=2**62, description="`next_after` of the previous page."
    )


# --- customers ----------------------------------------------------------------------------


class CustomerIn(Schema):
    """Fields to set. Absent or null fields stay as they are; attributes merge; tags add."""

    first_name: Str100 | None = None
    last_name: Str100 | None = None
    patronymic: Str100 | None = None
    gender: Gender | None = None
    birthday: Birthday | None = None
    email: Str254 | None = None
    phone: Str32 | None = None
    telegram_chat_id: Str32 | None = None
    vk_id: Str32 | None = None
    language: Language | None = None
    time_zone: TimeZone | None = None
    attributes: JsonObject | None = None
    tags: list[TagName] | None = Field(None, max_length=50)
    source: Str64 | None = None


class CustomerOut(Schema):
    id: int
    external_id: str | None
    first_name: str
    last_name: str
    patronymic: str
    gender: str
    birthday: dt.date | None
    email: str
    phone: str
    telegram_chat_id: str
    vk_id: str
    language: str
    time_zone: str
    attributes: dict[str, Any]
    tags: list[str]
    source: str
    created_at: dt.datetime
    updated_at: dt.datetime
    first_order_at: dt.datetime | None
    last_order_at: dt.datetime | None
    orders_count: int
    total_spent: Decimal

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        # Reads the prefetched tags when the list view prefetched them.
        return sorted(tag.name for tag in obj.tags.all())


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_after: int | None


class CustomerFilters(Schema):
    email: Str254 | None = None
    phone: Str32 | None = None
    updated_since: Timestamp | None = None


class MergeIn(Schema):
    primary: ExternalId
    duplicate: ExternalId


class ConsentIn(Schema):
    channel: Channel
    purpose: Purpose
    granted: bool
    source: Str64 = "api"
    at: Timestamp | None = None
    ip: IpAddress | None = None
    form: Str200 = ""
    text_version: Str64 = ""


class ConsentOut(Schema):
    id: int
    channel: str
    purpose: str
    granted: bool
    at: dt.datetime
    source: str
    ip: str | None
    form: str
    text_version: str


# --- products -----------------------------------------------------------------------------


def _default_currency() -> str:
    return str(settings.DEFAULT_CURRENCY)


class ProductIn(Schema):
    name: Name255
    category: Str128 = ""
    price: Money = Decimal("0")
    currency: Currency = Field(default_factory=_default_currency)
    replenishment_days: int | None = Field(None, ge=1, le=3650)
    active: bool = True


class ProductOut(Schema):
    id: int
    sku: str
    name: str
    category: str
    price: Decimal
    currency: str
    replenishment_days: int | None
    active: bool


class ProductPage(Schema):
    items: list[ProductOut]
    next_after: int | None


class ProductFilters(Schema):
    active: bool | None = None
    category: Str128 | None = None


# --- orders -------------------------------------------------------------------------------


class LineIn(Schema):
    sku: Required64
    quantity: int = Field(1, ge=1, le=1_000_000)
    price: Money
    name: Str255 = ""


class OrderIn(Schema):
    """The whole order as the shop sees it now; lines, when given, replace the stored ones."""

    customer_external_id: ExternalId
    total: Money
    placed_at: Timestamp
    status: OrderStatus = OrderStatus.PLACED
    currency: Currency = Field(default_factory=_default_currency)
    paid_at: Timestamp | None = None
    delivered_at: Timestamp | None = None
    discount: Money = Decimal("0")
    coupon: Str64 = ""
    channel: Str64 = ""
    lines: list[LineIn] | None = Field(None, max_length=500)


class LineOut(Schema):
    sku: str
    name: str
    quantity: int
    price: Decimal


class OrderOut(Schema):
    id: int
    external_id: str
    customer_external_id: str | None
    status: str
    placed_at: dt.datetime
    paid_at: dt.datetime | None
    delivered_at: dt.datetime | None
    total: Decimal
    refunded_total: Decimal
    discount: Decimal
    currency: str
    coupon: str
    channel: str
    lines: list[LineOut]

    @staticmethod
    def resolve_customer_external_id(obj: Any) -> str | None:
        return obj.customer.external_id

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        # In the order they were written (sorted here, so a prefetched list keeps serving).
        return sorted(obj.lines.all(), key=lambda line: line.pk)


class OrderPage(Schema):
    items: list[OrderOut]
    next_after: int | None


class OrderFilters(Schema):
    customer_external_id: ExternalId | None = None
    updated_since: Timestamp | None = None


class RefundLineIn(Schema):
    sku: Required64
    quantity: int = Field(1, ge=1, le=1_000_000)


class RefundIn(Schema):
    """Money given back; `lines`, when given, say which goods (loyalty then takes back
    exactly the points those lines earned)."""

    external_id: ExternalId
    amount: PositiveMoney
    reason: Str255 = ""
    is_return: bool = False
    lines: list[RefundLineIn] = Field(default_factory=list, max_length=500)


class RefundOut(Schema):
    external_id: str
    order_external_id: str

    @staticmethod
    def resolve_order_external_id(obj: Any) -> str:
        return obj.order.external_id

    amount: Decimal
    reason: str
    is_return: bool
    lines: list[RefundLineIn]
    created_at: dt.datetime

    @staticmethod
    def resolve_lines(obj: Any) -> list[dict[str, Any]]:
        return [{"sku": ln.sku, "quantity": ln.quantity} for ln in obj.lines.all()]


# --- events -------------------------------------------------------------------------------

MAX_BATCH = 1000


def _event_properties(value: dict[str, Any]) -> dict[str, Any]:
    properties_check(value)
    return value


class EventIn(Schema):
    """One thing that happened. An unknown customer_external_id creates a bare customer."""

    type: EventType
    customer_external_id: ExternalId | None = None
    properties: Annotated[JsonObject, AfterValidator(_event_properties)] = Field(
        default_factory=dict,
        description=(
            "Free-form, up to 64 KB. The names the product reads must have their shape: "
            "skus (list of strings), sku, product, url, order_id, external_id, currency "
            "(strings), total (an amount), segment_id (a whole number)."
        ),
    )
    occurred_at: Timestamp | None = None
    idempotency_key: EventKey | None = Field(
        None, description="A replay with the same key returns the first event."
    )


class EventBatchIn(Schema):
    events: list[EventIn] = Field(..., min_length=1, max_length=MAX_BATCH)


class EventOut(Schema):
    id: int
    type: str
    occurred_at: dt.datetime
    received_at: dt.datetime
    duplicate: bool


class EventBatchOut(Schema):
    created: int
    duplicates: int
    results: list[EventOut]
