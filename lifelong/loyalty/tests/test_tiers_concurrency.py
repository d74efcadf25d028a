"""Two workers placing the same new customer: the second decides again from the first's row."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import CustomerTier
from lifelong.loyalty.tests.helpers import order_paid
from lifelong.loyalty.tests.test_tiers import ladder_create
from lifelong.loyalty.tiers import tier_current, tiers_refresh


@pytest.mark.django_db(transaction=True)
def test_a_row_created_by_another_worker_meanwhile_is_locked_and_decided_again():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the race cannot happen there")
    ladder_create()
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "12000")
    created = threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                CustomerTier.objects.create(customer=anna, shown="novichok")
                created.set()
                # Still uncommitted while the refresh below finds no row and inserts its own.
                time.sleep(0.5)
        finally:
            connection.close()

    worker = threading.Thread(target=other_worker)
    worker.start()
    assert created.wait(5)
    assert tiers_refresh(customer_ids=[anna.pk]) == 1
    worker.join()
    assert tier_current(customer_id=anna.pk).slug == "znatok"
    assert CustomerTier.objects.filter(customer=anna).count() == 1
    assert Event.objects.filter(customer=anna, type="tier_changed").count() == 1
