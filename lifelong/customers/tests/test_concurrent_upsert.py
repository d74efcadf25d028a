"""Two requests creating the same customer at once end with one customer, both succeeding."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from lifelong.customers.models import Customer
from lifelong.customers.services import customer_upsert


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_external_id_make_one_customer():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so the race needs PostgreSQL")
    barrier = threading.Barrier(4)
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def create(n: int) -> None:
        try:
            barrier.wait()
            _, created = customer_upsert(external_id="RACE-1", data={"first_name": f"Имя{n}"})
            outcomes.append(created)
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(outcomes) == [False, False, False, True]
    assert Customer.objects.filter(external_id="RACE-1").count() == 1
