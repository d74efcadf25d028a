"""Journeys: list them, and enroll a customer by hand (the "manual / API" trigger)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from lifelong.accounts.models import ApiScope
from lifelong.api.auth import READ
from lifelong.api.errors import READ_ERRORS
from lifelong.api.idempotency import write_operation
from lifelong.api.ingest import NotFound, customer_get
from lifelong.api.pagination import keyset_page
from lifelong.api.schemas import PageQuery
from lifelong.journeys.models import Enrollment, Journey, JourneyStatus
from lifelong.journeys.services import enrollment_start

router = Router(tags=["journeys"])

Slug = Annotated[str, StringConstraints(pattern=r"^[-a-zA-Z0-9_]{1,80}$")]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class JourneyOut(Schema):
    id: int
    slug: str
    name: str
    status: str
    version: int | None
    updated_at: dt.datetime

    @staticmethod
    def resolve_version(obj: Journey) -> int | None:
        return obj.current_version.number if obj.current_version else None


class JourneyPage(Schema):
    items: list[JourneyOut]
    next_after: int | None


class EnrollIn(Schema):
    customer_external_id: ExternalId
    context: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        max_length=50,
        description="Data the journey's templates can use as `journey.<key>`.",
    )


class EnrollOut(Schema):
    enrolled: bool
    enrollment_id: int | None = None
    holdout: bool | None = Field(
        default=None, description="In the control group: tracked, sent nothing."
    )
    detail: str = ""


@router.get("/journeys", auth=READ, response={200: JourneyPage, **READ_ERRORS})
def journeys_list(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    """Journeys by id, with their status and current version."""
    return keyset_page(Journey.objects.select_related("current_version"), page)


@write_operation(
    router,
    "POST",
    "/journeys/{slug}/enrollments",
    scope=ApiScope.EVENTS,
    response={200: EnrollOut, 201: EnrollOut},
)
def journeys_enroll(request: HttpRequest, slug: Slug, payload: EnrollIn) -> Status[EnrollOut]:
    """Start the journey for one customer now. 201 when enrolled; 200 with `enrolled: false`
    when the journey is not running or its re-entry policy says no (nothing changes)."""
    journey = Journey.objects.select_related("current_version").filter(slug=slug).first()
    if journey is None:
        raise NotFound(f"No journey {slug!r}.")
    customer = customer_get(payload.customer_external_id)
    if journey.status != JourneyStatus.ACTIVE:
        return Status(200, EnrollOut(enrolled=False, detail="the journey is not running"))
    enrollment: Enrollment | None = enrollment_start(
        journey=journey, customer=customer, context=payload.context
    )
    if enrollment is None:
        return Status(
            200, EnrollOut(enrolled=False, detail="already enrolled under the re-entry policy")
        )
    return Status(
        201, EnrollOut(enrolled=True, enrollment_id=enrollment.pk, holdout=enrollment.holdout)
    )
