"""Staff edits of the programme settings and earning rules: validated, audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.forms.models import model_to_dict

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.loyalty.earning import cursor_start
from lifelong.loyalty.models import EarningRule, Programme

PROGRAMME_FIELDS = (
    "enabled",
    "name_one",
    "name_few",
    "name_many",
    "rounding",
    "point_value",
    "pending_days",
    "expiry_months",
    "max_share_percent",
    "debt_policy",
    "tier_window_months",
    "tier_grace_days",
)
RULE_FIELDS = (
    "kind",
    "name",
    "active",
    "mode",
    "rate",
    "per_roubles",
    "category",
    "sku",
    "multiplier",
    "event_type",
    "points",
    "status_points",
    "cap_count",
    "cap_days",
    "cooldown_minutes",
)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"from": str(before[name]), "to": str(after[name])}
        if name in before
        else str(after[name])
        for name in after
        if name not in before or before[name] != after[name]
    }


@transaction.atomic
def programme_update(*, values: dict[str, Any], actor: User | None) -> Programme:
    """Save the programme settings (ValidationError from the model's checks), audited.

    Switching the programme on the first time starts it: purchases from now on earn, and
    the earning sweep reads the event log from its current end.
    """
    unknown = set(values) - set(PROGRAMME_FIELDS)
    if unknown:
        raise ValueError(f"unknown programme fields: {sorted(unknown)}")
    row = Programme.objects.select_for_update().get(pk=Programme.current().pk)
    before = model_to_dict(row, fields=PROGRAMME_FIELDS)
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    changes = _changes(before, model_to_dict(row, fields=PROGRAMME_FIELDS))
    if changes:
        if row.enabled and row.started_at is None:
            row.started_at = clock.now()
            cursor_start()
        row.save()
        audit_record(actor=actor, action="loyalty.programme.update", obj=row, changes=changes)
    return row


@transaction.atomic
def earning_rule_save(
    *, rule: EarningRule | None, values: dict[str, Any], actor: User | None
) -> EarningRule:
    """Create a rule (`rule` None) or change one, audited. Rules are switched off, never
    deleted: the ledger's transactions name the rule that gave their points."""
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValueError(f"unknown rule fields: {sorted(unknown)}")
    row = EarningRule() if rule is None else EarningRule.objects.select_for_update().get(pk=rule.pk)
    before = {} if rule is None else model_to_dict(row, fields=RULE_FIELDS)
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    changes = _changes(before, model_to_dict(row, fields=RULE_FIELDS))
    if changes:
        row.save()
        action = "loyalty.rule.create" if rule is None else "loyalty.rule.update"
        audit_record(actor=actor, action=action, obj=row, changes=changes)
    return row
