"""Rule segments: read them and their members, define and change them, count a draft.

Rules are checked node by node (`segments.editing.rules_problems`), so a 422 names the
offending condition as a plain path into the submitted JSON, e.g.
`body.payload.rules.rules.1.value`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import ValidationError
from pydantic import AfterValidator, PlainValidator, StringConstraints

from lifelong.accounts.models import ApiScope
from lifelong.api.auth import READ
from lifelong.api.errors import READ_ERRORS, ErrorOut, ValidationErrorOut
from lifelong.api.idempotency import write_operation
from lifelong.api.ingest import NotFound
from lifelong.api.pagination import keyset_page
from lifelong.api.schemas import CustomerOut, PageQuery
from lifelong.events.field_limits import name_check
from lifelong.segments import editing
from lifelong.segments.models import Segment, SegmentMembership
from lifelong.segments.rules import RuleGroup
from lifelong.segments.services import segment_count

router = Router(tags=["segments"])


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(name_check)]
Description = Annotated[
    str, StringConstraints(max_length=2000), AfterValidator(lambda v: name_check(v) if v else v)
]


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    return value


# Documented as the RuleGroup tree, checked by the handler so that errors read as JSON paths.
Rules = Annotated[dict[str, Any], PlainValidator(_object, json_schema_input_type=RuleGroup)]
SegmentId = Annotated[int, Field(ge=1, le=2**62)]


class SegmentIn(Schema):
    name: Name
    description: Description = ""
    rules: Rules = Field(
        description="AND/OR groups of conditions; see the RuleGroup schema and docs/segments.md."
    )
    active: bool | None = Field(
        None, description="false archives the segment, true brings it back; omitted: unchanged."
    )


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    rules: RuleGroup
    active: bool
    member_count: int
    refreshing: bool = Field(description="Members are being recomputed for new rules.")
    refreshed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_refreshing(obj: Segment) -> bool:
        return editing.segment_is_refreshing(obj)


class SegmentPage(Schema):
    items: list[SegmentOut]
    next_after: int | None


class CountIn(Schema):
    rules: Rules


class CountOut(Schema):
    count: int


class MemberOut(Schema):
    since: dt.datetime
    customer: CustomerOut


class MemberPage(Schema):
    items: list[MemberOut]
    next_after: int | None


def _rules(rules: dict[str, Any], *loc: str) -> dict[str, Any]:
    problems = editing.rules_problems(rules)
    if problems:
        raise ValidationError(
            [
                {"loc": (*loc, *problem.loc), "msg": problem.msg, "type": problem.type}
                for problem in problems
            ]
        )
    return rules


def _segment(segment_id: int) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound(f"No segment with id {segment_id}.")
    return segment


@router.get("/segments", auth=READ, response={200: SegmentPage, **READ_ERRORS})
def segments_list(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    """Segments by id, archived ones included (see `active`)."""
    return keyset_page(Segment.objects.all(), page)


@router.post(
    "/segments/count",
    auth=READ,
    response={200: CountOut, frozenset({400, 401, 403, 404}): ErrorOut, 422: ValidationErrorOut},
)
def segments_count(request: HttpRequest, payload: CountIn) -> dict[str, int]:
    """How many customers a rule tree matches right now (nothing is saved)."""
    rules = _rules(payload.rules, "body", "payload", "rules")
    return {"count": segment_count(rules=rules)}


@router.get("/segments/{segment_id}", auth=READ, response={200: SegmentOut, **READ_ERRORS})
def segments_get(request: HttpRequest, segment_id: SegmentId) -> Segment:
    return _segment(segment_id)


@router.get("/segments/{segment_id}/members", auth=READ, response={200: MemberPage, **READ_ERRORS})
def segments_members(
    request: HttpRequest, segment_id: SegmentId, page: Query[PageQuery]
) -> dict[str, Any]:
    """Current members in the order they joined; `next_after` pages on."""
    segment = _segment(segment_id)
    members = SegmentMembership.objects.filter(segment=segment).select_related("customer")
    return keyset_page(members.prefetch_related("customer__tags"), page)


@write_operation(router, "POST", "/segments", scope=ApiScope.CUSTOMERS, response={201: SegmentOut})
def segments_create(request: HttpRequest, payload: SegmentIn) -> Status[Segment]:
    """Define a segment. Its members are computed in the background (`refreshing`)."""
    rules = _rules(payload.rules, "body", "payload", "rules")
    with transaction.atomic():
        segment = editing.segment_add(
            name=payload.name, description=payload.description, rules=rules, actor=None
        )
        if payload.active is False:
            segment = editing.segment_archive(segment=segment, actor=None)
    return Status(201, segment)


@write_operation(
    router,
    "PUT",
    "/segments/{segment_id}",
    scope=ApiScope.CUSTOMERS,
    response={200: SegmentOut},
)
def segments_put(request: HttpRequest, segment_id: SegmentId, payload: SegmentIn) -> Segment:
    """Replace the name, description and rules; new rules recompute the members."""
    segment = _segment(segment_id)
    rules = _rules(payload.rules, "body", "payload", "rules")
    with transaction.atomic():
        segment = editing.segment_update(
            segment=segment,
            name=payload.name,
            description=payload.description,
            rules=rules,
            actor=None,
        )
        if payload.active is False:
            segment = editing.segment_archive(segment=segment, actor=None)
        elif payload.active is True:
            segment = editing.segment_activate(segment=segment, actor=None)
    return segment
