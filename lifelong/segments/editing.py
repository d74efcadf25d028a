"""Staff and API edits of segments and lifecycle rules, audited, with the recomputation after.

A saved rule change makes the segment's member list stale until it is recomputed:
`Segment.updated_at` later than `refreshed_at` is that "refreshing" state, shown in
the UI. The recomputation runs in a background thread once the edit commits (a big
base takes a while), and the hourly sweep catches any that a crash interrupted.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, TypeVar

import pydantic
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.forms.models import model_to_dict
from pydantic import TypeAdapter

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.segments.models import ENGAGEMENT_EVENTS, ClvSettings, LifecycleRules, Segment
from lifelong.segments.rules import MAX_DEPTH, Condition, RuleGroup, rule_error, rules_parse
from lifelong.segments.scoring import clv_scores_refresh
from lifelong.segments.services import segment_create, segment_refresh, stages_refresh

S = TypeVar("S", LifecycleRules, ClvSettings)

log = logging.getLogger(__name__)

# Every threshold of the settings row (the row grows as the stage rules do).
LIFECYCLE_FIELDS = tuple(
    f.name
    for f in LifecycleRules._meta.concrete_fields
    if f.editable and f.name not in ("id", "updated_at")
)
CLV_SETTINGS_FIELDS = tuple(
    f.name for f in ClvSettings._meta.concrete_fields if f.editable and f.name != "id"
)
CLV_WEIGHT_FIELDS = tuple(f"weight_{kind}" for kind in ENGAGEMENT_EVENTS)
CLV_REFRESH_THREAD = "clv-scores-refresh"


def segment_is_refreshing(segment: Segment) -> bool:
    """True while an active segment's members predate its current rules."""
    return segment.active and (
        segment.refreshed_at is None or segment.refreshed_at < segment.updated_at
    )


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A segment needs a name."})
    return name


@transaction.atomic
def segment_add(
    *, name: str, rules: RuleGroup | Any, description: str = "", actor: User | None
) -> Segment:
    """Create a segment and fill it after commit; pydantic.ValidationError for bad rules."""
    segment = segment_create(name=_clean_name(name), rules=rules, description=description.strip())
    audit_record(
        actor=actor,
        action="segment.create",
        obj=segment,
        changes={"name": segment.name, "rules": segment.rules},
    )
    segment_refresh_start(segment)
    return segment


@transaction.atomic
def segment_update(
    *,
    segment: Segment,
    name: str,
    rules: RuleGroup | Any,
    description: str = "",
    actor: User | None,
) -> Segment:
    """Change a segment's name, description and rules; new rules refill it after commit."""
    parsed = (rules if isinstance(rules, RuleGroup) else rules_parse(rules)).model_dump(mode="json")
    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    wanted = {"name": _clean_name(name), "description": description.strip(), "rules": parsed}
    changes = {
        field: {"from": getattr(locked, field), "to": value}
        for field, value in wanted.items()
        if getattr(locked, field) != value
    }
    if changes:
        for field, value in wanted.items():
            setattr(locked, field, value)
        # Only new rules make the members stale; a renamed segment keeps them.
        if "rules" in changes:
            locked.updated_at = clock.now()
        locked.save(update_fields=["name", "description", "rules", "updated_at"])
        audit_record(actor=actor, action="segment.update", obj=locked, changes=changes)
        if "rules" in changes:
            segment_refresh_start(locked)
    return locked


@transaction.atomic
def segment_archive(*, segment: Segment, actor: User | None) -> Segment:
    """Stop keeping the segment's members up to date; the last list stays readable."""
    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    if locked.active:
        locked.active = False
        locked.save(update_fields=["active"])
        audit_record(actor=actor, action="segment.archive", obj=locked)
    return locked


@transaction.atomic
def segment_activate(*, segment: Segment, actor: User | None) -> Segment:
    """Bring an archived segment back; its members are recomputed after commit."""
    locked = Segment.objects.select_for_update().get(pk=segment.pk)
    if not locked.active:
        locked.active = True
        # Whatever happened while it was archived, its member list is stale now.
        locked.updated_at = clock.now()
        locked.save(update_fields=["active", "updated_at"])
        audit_record(actor=actor, action="segment.activate", obj=locked)
        segment_refresh_start(locked)
    return locked


def segment_refresh_run(segment_id: int) -> None:
    """Recompute one segment's members, if it still exists and is active (the thread's work)."""
    segment = Segment.objects.filter(pk=segment_id, active=True).first()
    if segment is not None:
        segment_refresh(segment=segment)


def segment_refresh_start(segment: Segment) -> None:
    """Recompute the segment's members in a background thread once this transaction commits."""
    _in_background_after_commit(f"segment-refresh-{segment.pk}", segment_refresh_run, segment.pk)


def _settings_update(
    model: type[S],
    *,
    label: str,
    fields: Sequence[str],
    values: dict[str, Any],
    action: str,
    actor: User | None,
) -> tuple[S, bool]:
    """Validate and save the one settings row of `model`, audited; returns (row, changed)."""
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown {label} fields: {sorted(unknown)}")
    row = model.objects.select_for_update().get(pk=model.current().pk)
    before = model_to_dict(row, fields=fields)
    for field, value in values.items():
        setattr(row, field, value)
    row.full_clean()
    after = model_to_dict(row, fields=fields)
    changes = {
        field: {"from": str(before[field]), "to": str(after[field])}
        for field in fields
        if before[field] != after[field]
    }
    if changes:
        if hasattr(row, "updated_at"):
            row.updated_at = clock.now()
        row.save()
        audit_record(actor=actor, action=action, obj=row, changes=changes)
    return row, bool(changes)


@transaction.atomic
def lifecycle_rules_update(*, values: dict[str, Any], actor: User | None) -> LifecycleRules:
    """Save new lifecycle thresholds (raises ValidationError from the model's checks).

    Stages are recomputed in the background after commit.
    """
    rules, changed = _settings_update(
        LifecycleRules,
        label="lifecycle rules",
        fields=LIFECYCLE_FIELDS,
        values=values,
        action="lifecycle_rules.update",
        actor=actor,
    )
    if changed:
        stages_refresh_start()
    return rules


@transaction.atomic
def clv_settings_update(*, values: dict[str, Any], actor: User | None) -> ClvSettings:
    """Save new CLV settings (raises ValidationError from the model's checks), audited.

    Scores are not recomputed here: the daily sweep uses the new values, or
    `clv_scores_refresh_start` when staff ask for it now.
    """
    row, _changed = _settings_update(
        ClvSettings,
        label="CLV settings",
        fields=CLV_SETTINGS_FIELDS,
        values=values,
        action="clv_settings.update",
        actor=actor,
    )
    return row


def clv_scores_refresh_start() -> bool:
    """Refit the CLV models and rescore everyone in the background once this transaction commits.

    False (and nothing started) while an earlier request's run is still going: two runs
    would fit the same data and overwrite each other's scores.
    """
    if any(t.name == CLV_REFRESH_THREAD and t.is_alive() for t in threading.enumerate()):
        return False
    _in_background_after_commit(CLV_REFRESH_THREAD, _clv_scores_refresh_run)
    return True


def _clv_scores_refresh_run() -> None:
    clv_scores_refresh()


def stages_refresh_start() -> None:
    """Recompute every customer's stage in a background thread once this transaction commits."""
    _in_background_after_commit("stages-refresh", _stages_refresh_run)


def _stages_refresh_run() -> None:
    stages_refresh()


def _in_background_after_commit(name: str, target: Callable[..., None], *args: Any) -> None:
    def run() -> None:
        try:
            target(*args)
        except Exception:
            # The sweep will do the same work later; the thread must not die silently.
            log.exception("background_refresh_failed", extra={"job": name})
        finally:
            connection.close()

    def start() -> None:
        threading.Thread(target=run, name=name, daemon=True).start()

    transaction.on_commit(start)


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong in a submitted rule tree.

    `loc` walks the tree as the JSON does ("rules", 0, "rules", 2, "value"), without
    pydantic's internal union names, so an editor or an API client can point at the
    offending condition and field.
    """

    loc: tuple[str | int, ...]
    msg: str
    type: str
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)


_CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)


def rules_problems(data: Any) -> list[RuleProblem]:
    """Everything wrong with a rule tree (plain JSON data), node by node.

    Stricter than `rules_parse`: values are checked as the JSON types the schema
    states (no 0 for false, no 2.0 for a score), as an API client reads the schema.
    An empty list means `rules_parse` accepts the tree.
    """
    problems = _node_problems(data, (), depth=1)
    if problems:
        return problems
    try:
        rules_parse(data)
    except pydantic.ValidationError as exc:
        # Per-node checks passed, so what is left concerns the tree as a whole (its size).
        return [_problem((), error) for error in exc.errors(include_url=False)]
    return []


def _problem(prefix: tuple[str | int, ...], error: Any) -> RuleProblem:
    return RuleProblem(
        loc=(*prefix, *error["loc"]),
        msg=str(error["msg"]),
        type=str(error["type"]),
        params=error.get("ctx", {}),
    )


def _node_problems(node: Any, loc: tuple[str | int, ...], *, depth: int) -> list[RuleProblem]:
    if not isinstance(node, dict):
        return [RuleProblem(loc=loc, msg="must be an object", type="dict_type")]
    if node.get("kind", "group") != "group":
        try:
            _CONDITION.validate_json(json.dumps(node), strict=True)
        except pydantic.ValidationError as exc:
            # A condition's errors start with its kind ("score", "value"): drop it.
            return [
                _problem(
                    loc, {**error, "loc": error["loc"][1:] or (() if error["loc"] else ("kind",))}
                )
                for error in exc.errors(include_url=False)
            ]
        return []
    if depth > MAX_DEPTH:
        error = rule_error("too_deep", "groups nest at most {n} deep", n=MAX_DEPTH)
        return [
            RuleProblem(loc=loc, msg=error.message(), type=error.type, params=error.context or {})
        ]
    children = node.get("rules", [])
    shell = {key: value for key, value in node.items() if key != "rules"}
    problems = []
    try:
        RuleGroup.model_validate_json(json.dumps(shell), strict=True)
    except pydantic.ValidationError as exc:
        problems += [_problem(loc, error) for error in exc.errors(include_url=False)]
    if not isinstance(children, list):
        return [*problems, RuleProblem(loc=(*loc, "rules"), msg="must be a list", type="list_type")]
    for index, child in enumerate(children):
        problems += _node_problems(child, (*loc, "rules", index), depth=depth + 1)
    return problems
