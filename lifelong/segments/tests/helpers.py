"""Building customers with a given order history for the segment tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from lifelong import clock
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.factories import CustomerFactory, OrderFactory


def buyer(*days_ago, total=Decimal("1000.00"), discount=Decimal("0"), customer=None):
    """A customer with one counted order per entry of `days_ago`, summary refreshed."""
    customer = customer or CustomerFactory()
    for days in days_ago:
        OrderFactory(
            customer=customer,
            placed_at=clock.now() - dt.timedelta(days=days),
            total=total,
            discount=discount,
        )
    customer_summaries_refresh([customer.pk])
    customer.refresh_from_db()
    return customer
