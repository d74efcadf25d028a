"""The demo shop runs its loyalty programme: a history replayed through the real ledger and
sweeps, kept moving by `lifelong simulate`, and consistent by `lifelong loyalty verify`.

The demo here is small: the full-size one is the same code with more customers, checked by
`.ci/run` (build, `lifelong simulate --days 30`, `lifelong loyalty verify`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import F

from lifelong import clock
from lifelong.cli import main
from lifelong.commerce.models import Order
from lifelong.customers.models import Customer
from lifelong.demo.generator import demo_build
from lifelong.demo.loyalty import RULES, TIERS
from lifelong.demo.loyalty_history import PROGRAMME_DAYS
from lifelong.demo.reactions import demo_simulate
from lifelong.events.models import Event
from lifelong.loyalty.models import (
    Account,
    CustomerTier,
    EarningRule,
    Hold,
    HoldStatus,
    Lot,
    Programme,
    Referral,
    ReferralStatus,
    Tier,
    Transaction,
    TxKind,
)

pytestmark = pytest.mark.django_db
CUSTOMERS = 150
SIMULATED_DAYS = 3


@pytest.fixture
def demo(frozen_time, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo_build(customers=CUSTOMERS, seed=21)
    yield clock.now()
    clock.reset()


def _kinds(**filters: object) -> set[str]:
    return set(Transaction.objects.filter(**filters).values_list("kind", flat=True))


def _verify(capsys: pytest.CaptureFixture[str]) -> int:
    code = main(["loyalty", "verify"])
    capsys.readouterr()
    return code


def test_the_programme_runs_over_the_history_through_the_ledger(demo):
    programme = Programme.current()
    assert programme.enabled
    assert programme.started_at == demo - dt.timedelta(days=PROGRAMME_DAYS)
    assert (programme.pending_days, programme.expiry_months) == (14, 6)
    assert set(EarningRule.objects.filter(active=True).values_list("name", flat=True)) == {
        r["name"] for r in RULES
    }
    ladder = list(Tier.objects.filter(active=True).order_by("position"))
    assert [t.name for t in ladder] == [t["name"] for t in TIERS]
    assert "personal_manager" in ladder[-1].privileges

    kinds = _kinds()
    for kind in (TxKind.EARN, TxKind.AWARD, TxKind.RELEASE, TxKind.REDEEM, TxKind.EXPIRE):
        assert kind in kinds
    assert TxKind.REVERSE in kinds  # refunds and returns took their points back
    assert {TxKind.HOLD, TxKind.CONFIRM} <= kinds  # the last days' checkouts held points
    assert Hold.objects.filter(status=HoldStatus.OPEN, expires_at__gt=demo).exists()
    # Every action rule earned, and the birthday gift as the journey gives it.
    awards = Transaction.objects.filter(kind=TxKind.AWARD)
    awarded = set(awards.values_list("rule__name", "comment"))
    assert {r["name"] for r in RULES if r["kind"] == "event"} <= {n for n, _c in awarded}
    assert (None, "birthday") in awarded
    # Nothing before the programme earned; the history's postings are dated as they happened.
    earned = Transaction.objects.filter(kind=TxKind.EARN)
    assert not earned.filter(occurred_at__lt=Programme.current().started_at).exists()
    assert earned.filter(created_at__lt=demo - dt.timedelta(days=PROGRAMME_DAYS - 30)).exists()
    # Some points expire within the month, for the status page and the liability report.
    soon = Lot.objects.filter(remaining__gt=0, expires_at__gt=demo)
    assert soon.filter(expires_at__lte=demo + dt.timedelta(days=30)).exists()
    assert Account.objects.filter(available__gt=0).count() > CUSTOMERS // 4
    above_entry = CustomerTier.objects.filter(tier__position__gt=1)
    assert above_entry.exists()
    assert Event.objects.filter(type="tier_changed", properties__direction="up").exists()
    guru = CustomerTier.objects.filter(tier__slug="guru").values_list("customer_id", flat=True)
    managed = Customer.objects.filter(personal_manager__username="demo-support")
    assert set(managed.values_list("pk", flat=True)) == set(guru)
    # Friends came with a code: both sides rewarded after the friend's first order.
    assert Referral.objects.filter(status=ReferralStatus.CONVERTED).exists()
    assert Transaction.objects.filter(key__endswith=":friend", kind=TxKind.AWARD).exists()

    # An order paid partly with points earns on the money paid only.
    redeemed = (
        Transaction.objects.filter(kind=TxKind.REDEEM, order__isnull=False)
        .values_list("order_id", flat=True)
        .first()
    )
    assert redeemed is not None
    order = Order.objects.get(pk=redeemed)
    burn = -sum(
        Transaction.objects.get(kind=TxKind.REDEEM, order=order)
        .entries.filter(account__customer__isnull=False)
        .values_list("points", flat=True)
    )
    earn = Transaction.objects.get(kind=TxKind.EARN, order=order)
    lot = Lot.objects.filter(source=earn).first()
    # 5 % of the money paid, at most doubled (courses) and times the highest tier's 1.2.
    assert lot is None or lot.points <= (order.total - burn) * Decimal("0.05") * Decimal("2.4")


def test_verify_passes_after_simulated_days_and_catches_a_corrupted_balance(demo, capsys):
    """A few days here (each day of `simulate` runs every sweep); `.ci/run` builds the
    full-size demo and checks `lifelong loyalty verify` after `simulate --days 30`."""
    assert _verify(capsys) == 0
    build_end = clock.now()

    simulation = demo_simulate(days=SIMULATED_DAYS, seed=3)

    assert not simulation.failed_sweeps
    assert _verify(capsys) == 0
    moved = _kinds(created_at__gt=build_end)
    assert {TxKind.EARN, TxKind.RELEASE, TxKind.UNHOLD} <= moved
    # The holds left open at the end of the history timed out and gave their points back.
    assert not Hold.objects.filter(status=HoldStatus.OPEN, created_at__lte=build_end).exists()
    assert Hold.objects.filter(status=HoldStatus.EXPIRED).exists()

    account = Account.objects.filter(available__gt=0).first()
    assert account is not None
    Account.objects.filter(pk=account.pk).update(available=F("available") + 1)
    assert _verify(capsys) == 1
