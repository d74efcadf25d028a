"""An ingestion-time update never waits behind a segment that a full refresh holds."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from lifelong.factories import CustomerFactory
from lifelong.segments.models import Segment, SegmentMembership
from lifelong.segments.services import segment_create, segments_apply_for_customers

EVERYONE = {"op": "and", "rules": []}


@pytest.mark.django_db(transaction=True)
def test_apply_skips_a_segment_locked_by_a_refresh():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks; one worker runs everything there")
    busy = segment_create(name="В пересчёте", rules=EVERYONE)
    free = segment_create(name="Свободный", rules=EVERYONE)
    customer = CustomerFactory()
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with transaction.atomic():
            Segment.objects.select_for_update().get(pk=busy.pk)
            locked.set()
            release.wait(30)
        connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        change = segments_apply_for_customers(customer_ids=[customer.pk])
    finally:
        release.set()
        holder.join()
    assert change.entered == 1
    assert list(SegmentMembership.objects.values_list("segment_id", flat=True)) == [free.pk]
