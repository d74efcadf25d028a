"""Tombstones point straight at a live customer, as `customer_merge` now keeps them.

Merging P into T used to leave D (merged into P earlier) pointing at P, a tombstone.
Each pass points every tombstone at its target's target, halving every chain, so a chain
of any length takes a handful of passes. A cycle (two merges racing in opposite
directions, which the old merge allowed) never settles: passes stop at a bound, and such
records are left for an operator to look at.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import OuterRef, Subquery

MAX_PASSES = 64


def merge_chains_flatten(apps: Any, schema_editor: Any) -> None:
    Customer = apps.get_model("customers", "Customer")
    target_of_target = Subquery(
        Customer.objects.filter(pk=OuterRef("merged_into_id")).values("merged_into_id")[:1]
    )
    for _pass in range(MAX_PASSES):
        chained = Customer.objects.filter(merged_into__merged_into__isnull=False)
        if not chained.update(merged_into=target_of_target):
            return


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_consent_by_recording_order")]

    operations = [migrations.RunPython(merge_chains_flatten, migrations.RunPython.noop)]
