"""The tier editor's writes and its preview: how many customers each tier would hold now.

The preview answers "what if the thresholds were these?" before anything is saved, for a
whole customer base, in one statement: the window's orders and status points are grouped
by customer in two derived tables, joined to the live customers, each customer's tier is a
CASE over the draft thresholds (the same rule as `tiers.Ladder.qualified`: the highest
active tier open to qualification whose any non-zero threshold is met; a tier without
thresholds is reached by everyone) and the result is grouped by that tier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.forms.models import model_to_dict

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.commerce.models import Order
from lifelong.commerce.services import COUNTED
from lifelong.customers.models import Customer
from lifelong.loyalty.models import Bucket, CustomerTier, Entry, Programme, Tier
from lifelong.loyalty.services import months_add

TIER_FIELDS = (
    "slug",
    "name",
    "colour",
    "position",
    "min_status_points",
    "min_spend",
    "min_orders",
    "invitation_only",
    "earn_multiplier",
    "privileges",
    "active",
)
# A customer the draft tiers give no tier (there is no entry level).
NO_TIER = -1


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"from": str(before[name]), "to": str(after[name])} if name in before else str(value)
        for name, value in after.items()
        if name not in before or before[name] != value
    }


@transaction.atomic
def tier_save(*, tier: Tier | None, values: dict[str, Any], actor: User | None) -> Tier:
    """Create a tier (`tier` None) or change one (ValidationError from the model), audited.

    Tiers are switched off, never deleted: customers' rows and their history name them.
    The tier sweeps apply new thresholds: upgrades at once, downgrades at review dates.
    """
    unknown = set(values) - set(TIER_FIELDS)
    if unknown:
        raise ValueError(f"unknown tier fields: {sorted(unknown)}")
    row = Tier() if tier is None else Tier.objects.select_for_update().get(pk=tier.pk)
    before = {} if tier is None else model_to_dict(row, fields=TIER_FIELDS)
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    changes = _changes(before, model_to_dict(row, fields=TIER_FIELDS))
    if changes:
        row.save()
        action = "loyalty.tier.create" if tier is None else "loyalty.tier.update"
        audit_record(actor=actor, action=action, obj=row, changes=changes)
    return row


def tiers_preview(*, tiers: Sequence[Tier], at: dt.datetime | None = None) -> dict[int, int]:
    """How many live customers would land in each of `tiers` (by index) now; NO_TIER counts
    those no tier takes. Qualification only: manual tiers and the grace before a downgrade
    are left out, as they depend on each customer's history rather than the thresholds."""
    now = at or clock.now()
    since = months_add(now, -Programme.current().tier_window_months)
    orders_sql, orders_params = _sql(
        Order.objects.filter(COUNTED, placed_at__gt=since, placed_at__lte=now)
        .order_by()
        .annotate(cid=F("customer_id"))
        .values("cid")
        .annotate(n=Count("pk"), spent=Sum(F("total") - F("refunded_total")))
        .values("cid", "n", "spent")
    )
    status_sql, status_params = _sql(
        Entry.objects.filter(
            bucket=Bucket.STATUS,
            account__customer__isnull=False,
            transaction__occurred_at__gt=since,
            transaction__occurred_at__lte=now,
        )
        .order_by()
        .annotate(cid=F("account__customer_id"))
        .values("cid")
        .annotate(points=Sum("points"))
        .values("cid", "points")
    )
    case_sql, case_params = _level_case(tiers)
    customer = connection.ops.quote_name(Customer._meta.db_table)
    # Only ORM-compiled SQL and fixed text are joined here; every value is a bound parameter.
    sql = (
        f"SELECT level, COUNT(*) FROM (SELECT {case_sql} AS level FROM {customer} c "  # noqa: S608
        f"LEFT JOIN ({orders_sql}) o ON o.cid = c.id "
        f"LEFT JOIN ({status_sql}) s ON s.cid = c.id "
        "WHERE c.merged_into_id IS NULL) levels GROUP BY level"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*case_params, *orders_params, *status_params])
        return {int(level): int(count) for level, count in cursor.fetchall()}


def _sql(query: Any) -> tuple[str, tuple[Any, ...]]:
    sql, params = query.query.sql_with_params()
    return sql, tuple(params)


def _level_case(tiers: Sequence[Tier]) -> tuple[str, list[Any]]:
    """CASE over the tiers open to qualification, highest first: the index of the tier."""
    reachable = sorted(
        (i for i, t in enumerate(tiers) if t.active and not t.invitation_only),
        key=lambda i: tiers[i].position,
        reverse=True,
    )
    whens: list[str] = []
    params: list[Any] = []
    for index in reachable:
        tier = tiers[index]
        if tier.open_to_all:
            whens.append(f"WHEN 1 = 1 THEN {index}")
            break  # everyone reaches it, so no lower tier is ever chosen
        tests = []
        if tier.min_status_points:
            tests.append("COALESCE(s.points, 0) >= %s")
            params.append(int(tier.min_status_points))
        if tier.min_spend:
            # A cast on both sides: SQLite sums money as REAL and would compare a text
            # parameter as greater than any number.
            tests.append("COALESCE(o.spent, 0) >= CAST(%s AS NUMERIC)")
            params.append(str(tier.min_spend))
        if tier.min_orders:
            tests.append("COALESCE(o.n, 0) >= %s")
            params.append(int(tier.min_orders))
        whens.append(f"WHEN {' OR '.join(tests)} THEN {index}")
    if not whens:
        return str(NO_TIER), []
    return f"CASE {' '.join(whens)} ELSE {NO_TIER} END", params


def tier_holders(*, tiers: Sequence[Tier]) -> dict[str, int]:
    """How many customers hold each tier now, by slug, as the tier sweep last announced it
    (`CustomerTier.shown`); customers without a row hold the entry level. Two queries."""
    counts: dict[str, int] = dict(
        CustomerTier.objects.filter(customer__merged_into__isnull=True)
        .order_by()
        .values_list("shown")
        .annotate(n=Count("pk"))
    )
    entry = [t for t in tiers if t.active and not t.invitation_only and t.open_to_all]
    if entry:
        without_row = Customer.objects.live().filter(loyalty_tier__isnull=True).count()
        slug = max(entry, key=lambda t: t.position).slug
        counts[slug] = counts.get(slug, 0) + without_row
    return counts
