"""Shared set-up for the loyalty tests: a running programme and orders through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from lifelong import clock
from lifelong.commerce.models import Order
from lifelong.commerce.services import LineInput, order_upsert, product_upsert, refund_record
from lifelong.customers.models import Customer
from lifelong.loyalty.earning import cursor_start
from lifelong.loyalty.models import Account, EarningRule, Programme, RuleKind
from lifelong.loyalty.verify import ledger_verify


def programme_start(**overrides: object) -> Programme:
    """The programme on, 1 point per 100 roubles, started now, reading the log from here."""
    programme = Programme.current()
    programme.enabled = True
    programme.started_at = clock.now() - dt.timedelta(seconds=1)
    for name, value in overrides.items():
        setattr(programme, name, value)
    programme.save()
    EarningRule.objects.get_or_create(
        kind=RuleKind.PURCHASE,
        defaults={"name": "base", "rate": Decimal(1), "per_roubles": 100},
    )
    cursor_start()
    return programme


def order_paid(customer: Customer, external_id: str, *amounts: str, sku: str = "MAT") -> Order:
    """A paid order with one line per amount."""
    product_upsert(sku=sku, name="Коврик", category="Коврики")
    lines = [LineInput(sku=sku, quantity=1, price=Decimal(a)) for a in amounts]
    order, _created = order_upsert(
        external_id=external_id,
        customer=customer,
        total=sum((Decimal(a) for a in amounts), Decimal(0)),
        placed_at=clock.now(),
        status="paid",
        paid_at=clock.now(),
        lines=lines,
    )
    return order


def order_status(order: Order, status: str) -> None:
    order_upsert(
        external_id=order.external_id,
        customer=order.customer,
        total=order.total,
        placed_at=order.placed_at,
        status=status,
        paid_at=order.paid_at,
    )


def refund(order: Order, external_id: str, amount: str) -> None:
    refund_record(external_id=external_id, order=order, amount=Decimal(amount))


def balances(customer: Customer) -> tuple[int, int, int]:
    """(available, pending, status)."""
    account = Account.objects.filter(customer=customer).first()
    if account is None:
        return (0, 0, 0)
    return (account.available, account.pending, account.status)


def assert_consistent() -> None:
    report = ledger_verify()
    assert report.ok, report.lines()
