"""`lifelong loyalty verify` catches one corrupted balance, entry or lot; ledger rows are facts."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from lifelong.cli import main
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import Account, Entry, Lot, Transaction
from lifelong.loyalty.services import points_award, points_redeem
from lifelong.loyalty.sweeps import loyalty_expire_due
from lifelong.loyalty.verify import LedgerMismatch, loyalty_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(frozen_time):
    anna, boris = CustomerFactory.create_batch(2)
    points_award(customer_id=anna.pk, points=100, status_points=10, key="gift:anna")
    points_award(customer_id=boris.pk, points=50, key="gift:boris")
    points_redeem(customer_id=anna.pk, points=30, key="burn:anna")
    return anna, boris


def _verify(capsys) -> tuple[int, str]:
    code = main(["loyalty", "verify"])
    return code, capsys.readouterr().out


def _raw(sql: str, params: list[Any]) -> None:
    """Corrupt a row as a stray program would, past the models' guard (and the trigger)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Rolled back with the test's transaction.
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def test_a_consistent_ledger_passes(ledger, capsys):
    assert _verify(capsys) == (0, "The points ledger is consistent.\n")
    loyalty_verify()


def test_one_corrupted_cached_balance_fails(ledger, capsys):
    anna, _boris = ledger
    Account.objects.filter(customer=anna).update(available=F("available") + 1)
    code, out = _verify(capsys)
    assert code == 1
    account = Account.objects.get(customer=anna)
    assert (
        f"1 customer accounts whose cached balances differ from their entries: {account.pk}" in out
    )
    with pytest.raises(LedgerMismatch):
        loyalty_verify()


def test_one_corrupted_entry_fails(ledger, capsys):
    _anna, boris = ledger
    entry = Entry.objects.filter(account__customer=boris).get()
    _raw(f"UPDATE {Entry._meta.db_table} SET points = points + 1 WHERE id = %s", [entry.pk])  # noqa: S608
    code, out = _verify(capsys)
    assert code == 1
    assert f"1 transactions that do not sum to zero: {entry.transaction_id}" in out
    assert "cached balances differ" in out
    assert "lots whose remaining points differ" in out


def test_one_corrupted_lot_fails(ledger, capsys):
    _anna, boris = ledger
    Lot.objects.filter(customer=boris).update(remaining=F("remaining") - 1)
    code, out = _verify(capsys)
    assert code == 1
    assert "1 lots whose remaining points differ from their entries" in out


def test_ledger_rows_are_never_updated_or_deleted(ledger):
    entry = Entry.objects.first()
    tx = Transaction.objects.first()
    assert entry is not None and tx is not None
    entry.points += 1
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        tx.delete()
    with pytest.raises(TypeError):
        Entry.objects.filter(pk=entry.pk).update(points=0)
    with pytest.raises(TypeError):
        Transaction.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_a_raw_update_of_an_entry(ledger):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Entry._meta.db_table} SET points = 0")  # noqa: S608


def test_expiry_after_the_sweep_keeps_the_ledger_consistent(ledger, frozen_time, capsys):
    import datetime as dt

    frozen_time.shift(dt.timedelta(days=400))
    assert loyalty_expire_due() == 2
    assert _verify(capsys)[0] == 0
