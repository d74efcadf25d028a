"""The earning sweep reads and writes a batch with a fixed number of statements."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import Transaction
from lifelong.loyalty.tests.helpers import order_paid, programme_start

pytestmark = pytest.mark.django_db


def _earn_queries(orders: int) -> int:
    customers = CustomerFactory.create_batch(orders)
    for n, customer in enumerate(customers):
        order_paid(customer, f"Q{orders}-{n}", "1500")
    with CaptureQueriesContext(connection) as queries:
        loyalty_earn()
    return len(queries)


def test_a_bigger_batch_costs_no_more_statements(frozen_time):
    programme_start()
    _earn_queries(1)  # the first run creates the system accounts
    few = _earn_queries(3)
    many = _earn_queries(30)
    assert Transaction.objects.count() == 34
    assert many == few
