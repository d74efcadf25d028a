"""Reviews left outside (Yandex Maps, 2GIS, a marketplace): into the conversations inbox."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import AfterValidator, StringConstraints

from lifelong.accounts.models import ApiScope
from lifelong.api.idempotency import write_operation
from lifelong.api.schemas import ExternalId, Str200, Timestamp
from lifelong.customers.selectors import customers_by_external_id
from lifelong.events.field_limits import text_check
from lifelong.feedback.inbox import review_record

router = Router(tags=["feedback"])

ReviewText = Annotated[str, StringConstraints(max_length=4000), AfterValidator(text_check)]
ReviewId = Annotated[
    str, StringConstraints(min_length=1, max_length=120), AfterValidator(text_check)
]


class ReviewIn(Schema):
    """One review as the site shows it. The same (source, external_id) again is recorded once."""

    source: Literal["yandex_maps", "2gis", "marketplace", "other"]
    external_id: ReviewId = Field(..., description="The review's id on that site.")
    customer_external_id: ExternalId | None = Field(
        None, description="The customer, when the shop knows who wrote it; unknown ids are ignored."
    )
    rating: int | None = Field(None, ge=1, le=5)
    text: ReviewText = ""
    author: Str200 = ""
    url: Annotated[str, StringConstraints(max_length=1000, pattern=r"^https?://[^\s]+$")] = ""
    published_at: Timestamp | None = None


class ReviewOut(Schema):
    id: int
    conversation_id: int
    themes: list[str]
    sentiment: str
    urgent: bool
    duplicate: bool


@write_operation(
    router,
    "POST",
    "/reviews",
    scope=ApiScope.FEEDBACK,
    response={200: ReviewOut, 201: ReviewOut},
)
def reviews_create(request: HttpRequest, payload: ReviewIn) -> Status[dict[str, Any]]:
    """Put an outside review in the conversations inbox (and emit `review_received`).

    201 the first time, 200 with `duplicate: true` when this review was sent before.
    """
    customer = None
    if payload.customer_external_id:
        customer = customers_by_external_id([payload.customer_external_id]).get(
            payload.customer_external_id
        )
    item, created = review_record(
        source=payload.source,
        external_id=payload.external_id,
        customer=customer,
        text=payload.text,
        rating=payload.rating,
        author=payload.author,
        url=payload.url,
        published_at=payload.published_at,
    )
    body = {
        "id": item.pk,
        "conversation_id": item.conversation_id,
        "themes": item.themes,
        "sentiment": item.sentiment,
        "urgent": item.urgent,
        "duplicate": not created,
    }
    return Status(201 if created else 200, body)
