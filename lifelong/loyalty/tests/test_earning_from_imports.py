"""Orders that arrive by the set-based CSV import earn through the same sweep, once."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong.customers.models import Customer
from lifelong.events.tests.csv_helpers import CUSTOMERS_RU, ORDERS, run
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import Programme, Transaction, TxKind
from lifelong.loyalty.tests.helpers import assert_consistent, balances, programme_start

pytestmark = pytest.mark.django_db


def test_an_imported_paid_order_earns_once_and_a_reimport_changes_nothing(frozen_time):
    programme_start()
    run("customers", CUSTOMERS_RU, encoding="cp1251")
    run("orders", ORDERS)
    assert loyalty_earn() > 0
    olga = Customer.objects.get(external_id="C-1")
    ivan = Customer.objects.get(external_id="C-2")
    # A-1 is paid (2 500,50 ₽: 25 points, pending); A-2 is only placed: nothing yet.
    assert balances(olga) == (0, 25, 25)
    assert balances(ivan) == (0, 0, 0)
    frozen_time.shift(dt.timedelta(hours=1))
    run("orders", ORDERS)
    loyalty_earn()
    assert Transaction.objects.filter(kind=TxKind.EARN).count() == 1
    assert balances(olga) == (0, 25, 25)
    assert_consistent()


def test_nothing_is_earned_while_the_programme_is_off(frozen_time):
    programme_start()
    Programme.objects.update(enabled=False)
    run("customers", CUSTOMERS_RU, encoding="cp1251")
    run("orders", ORDERS)
    assert loyalty_earn() == 0
    assert not Transaction.objects.exists()
