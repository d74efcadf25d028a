"""The ledger state machine with checkout holds, driven through the HTTP API.

`HoldsMachine` adds to P1's `LedgerMachine` (orders, burns, reviews, refunds, sweeps, log
replays): reserve, confirm (often for less), cancel, time passing by seconds past hold
time-outs with or without the holds sweep, replays of earlier API calls with their
Idempotency-Key, and orders paid at checkout (held and confirmed against the order before it
arrives paid: its earn leaves those points out, its refunds give them back).

The model follows ledger.py's "Holds": a reserve draws from the model's lots oldest-expiring
first into `held`; confirm and release give back to the drawn lots latest-expiring first,
and what lands on a lot past its expiry expires at once. After every step the balances (held
included) and every lot equal the model's, and the ledger verifies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from lifelong.accounts.models import ApiScope
from lifelong.accounts.services import api_key_create
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.holds import loyalty_holds_expire
from lifelong.loyalty.models import Lot
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.test_ledger_stateful import (
    LedgerMachine,
    MCustomer,
    MLot,
    MOrder,
    _order,
    stateful_settings,
)

API = "/api/v1/loyalty"


@dataclass
class MHold:
    customer: int
    points: int
    drawn: dict[int, int]
    expires_at: dt.datetime
    status: str = "open"


@dataclass
class MHoldCustomer(MCustomer):
    held: int = 0

    def balances(self) -> tuple[int, int, int, int]:
        available, pending, _held, status = super().balances()
        return (available, pending, self.held, status)


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    key: str
    status: int
    content: bytes = field(repr=False)


class HoldsMachine(LedgerMachine):
    @initialize(debt=st.booleans())
    def start(self, debt: bool) -> None:
        super().start(debt)
        self.model = {pk: MHoldCustomer() for pk in self.model}
        self.holds: dict[int, MHold] = {}
        self.calls: list[Call] = []
        secret = api_key_create(name="till", scopes=[ApiScope.READ, ApiScope.LOYALTY])[1]
        self.client = Client(headers={"Authorization": f"Bearer {secret}"})

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        self.sequence += 1
        key = f"k{self.sequence}"
        response = self.client.post(
            f"{API}{path}", body, content_type="application/json", headers={"Idempotency-Key": key}
        )
        self.calls.append(Call(path, body, key, response.status_code, response.content))
        return response

    def _give_back(self, hold: MHold, points: int) -> dict[int, int]:
        """Give `points` back to the hold's lots, latest-expiring first; what each lot got."""
        lots = {lot.id: lot for lot in self.model[hold.customer].lots}
        drawn: list[MLot] = sorted(
            (lots[i] for i in hold.drawn), key=lambda lot: (lot.expires_at, lot.id), reverse=True
        )
        given: dict[int, int] = {}
        for lot in drawn:
            n = min(points, hold.drawn[lot.id])
            if n <= 0:
                break
            points -= n
            given[lot.id] = n
            if lot.released and lot.expires_at <= self.now:
                lot.expired += n
            else:
                lot.remaining += n
        return given

    def _close(self, hold: MHold, status: str, spent: int = 0) -> dict[int, int]:
        mc = self.model[hold.customer]
        assert isinstance(mc, MHoldCustomer)
        mc.held -= hold.points
        hold.status = status
        return self._give_back(hold, hold.points - spent)

    # Spendable lots of many ages, so that holds draw from several and expiry falls between.
    @rule(who=st.integers(0, 1), points=st.integers(1, 60))
    def gift(self, who: int, points: int) -> None:
        customer = self.customers[who]
        self.sequence += 1
        points_award(customer_id=customer.pk, points=points, key=f"gift{self.sequence}")
        self._lot(self.model[customer.pk], points, pending=False)

    @rule(who=st.integers(0, 1), points=st.integers(1, 120), timeout=st.sampled_from([60, 3600]))
    def reserve(self, who: int, points: int, timeout: int) -> None:
        customer = self.customers[who]
        mc = self.model[customer.pk]
        assert isinstance(mc, MHoldCustomer)
        response = self._post(
            "/holds",
            {
                "customer_external_id": customer.external_id,
                "order_external_id": f"H-{self.sequence}",
                "points": points,
                "timeout_seconds": timeout,
            },
        )
        if mc.balances()[0] < points:
            assert response.status_code == 422, response.content
            return
        assert response.status_code == 201, response.content
        hold = MHold(customer.pk, points, {}, self.now + dt.timedelta(seconds=timeout))
        assert self._draw(mc, points, hold.drawn) == points
        mc.held += points
        self.holds[response.json()["id"]] = hold

    # The shop's checkout: points held and confirmed (perhaps for less) against the order,
    # which arrives paid afterwards; its earn leaves them out, its refunds give them back.
    @rule(
        who=st.integers(0, 1),
        amount=st.integers(50, 9000),
        burn=st.integers(1, 60),
        share=st.sampled_from([1, 2]),
    )
    def order_paid_at_checkout(self, who: int, amount: int, burn: int, share: int) -> None:
        customer = self.customers[who]
        mc = self.model[customer.pk]
        self.sequence += 1
        external_id = f"O-{self.sequence}"
        _order(customer, external_id, amount, "placed")
        mo = MOrder(customer=customer.pk, total=amount)
        burn = min(burn, max(0, mc.balances()[0]), amount)
        spent = 0
        if burn:
            assert isinstance(mc, MHoldCustomer)
            body = {
                "customer_external_id": customer.external_id,
                "order_external_id": external_id,
                "points": burn,
            }
            held = self._post("/holds", body)
            assert held.status_code == 201, held.content
            hold = MHold(customer.pk, burn, {}, self.now + dt.timedelta(seconds=900))
            self._draw(mc, burn, hold.drawn)
            mc.held += burn
            self.holds[held.json()["id"]] = hold
            spent = max(1, burn // share)
            confirmed = self._post(f"/holds/{held.json()['id']}/confirm", {"points": spent})
            assert confirmed.status_code == 200, confirmed.content
            given = self._close(hold, "confirmed", spent)
            mo.drawn = {
                i: n - given.get(i, 0) for i, n in hold.drawn.items() if n > given.get(i, 0)
            }
        _order(customer, external_id, amount, "paid")
        loyalty_earn()
        earned = self._earned(customer.pk, amount - spent)
        if earned:
            mo.lot = self._lot(mc, earned, pending=True)
            mc.status += earned
        self.orders[external_id] = mo

    @precondition(lambda self: bool(getattr(self, "holds", None)))
    @rule(data=st.data(), share=st.sampled_from([1, 2, 3]))
    def confirm(self, data: st.DataObject, share: int) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        hold = self.holds[hold_id]
        spent = max(1, hold.points // share)  # a third, a half or all of it
        response = self._post(f"/holds/{hold_id}/confirm", {"points": spent})
        if hold.status == "open" and hold.expires_at <= self.now:
            self._close(hold, "expired")
        if hold.status != "open":
            assert response.status_code == 409, response.content
            assert hold.status in response.json()["detail"]
            return
        assert response.status_code == 200, response.content
        self._close(hold, "confirmed", spent)

    @precondition(lambda self: bool(getattr(self, "holds", None)))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        hold = self.holds[hold_id]
        response = self._post(f"/holds/{hold_id}/cancel", {})
        if hold.status == "confirmed":
            assert response.status_code == 409, response.content
            return
        if hold.status == "open":
            self._close(hold, "expired" if hold.expires_at <= self.now else "cancelled")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == hold.status

    @rule(seconds=st.sampled_from([30, 90, 1800, 7200]), sweep=st.booleans())
    def seconds_pass(self, seconds: int, sweep: bool) -> None:
        self.traveller.shift(dt.timedelta(seconds=seconds))
        if sweep:
            self._holds_expire()

    @rule()
    def holds_sweep(self) -> None:
        self._holds_expire()

    def _holds_expire(self) -> None:
        loyalty_holds_expire()
        for hold in getattr(self, "holds", {}).values():
            if hold.status == "open" and hold.expires_at <= self.now:
                self._close(hold, "expired")

    @invariant()
    def every_lot_holds_what_the_model_says(self) -> None:
        # Balances alone would not show a give-back to the wrong lot until that lot expires.
        for customer in getattr(self, "customers", []):
            got = Lot.objects.filter(customer=customer).order_by("pk")
            want = [(lot.points, lot.remaining) for lot in self.model[customer.pk].lots]
            assert list(got.values_list("points", "remaining")) == want

    @precondition(lambda self: bool(getattr(self, "calls", None)))
    @rule(data=st.data())
    def replay_an_api_call(self, data: st.DataObject) -> None:
        call = data.draw(st.sampled_from(self.calls))
        again = self.client.post(
            f"{API}{call.path}",
            call.body,
            content_type="application/json",
            headers={"Idempotency-Key": call.key},
        )
        assert (again.status_code, again.content) == (call.status, call.content)
        assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_holds_follow_the_model_through_random_sequences():
    run_state_machine_as_test(HoldsMachine, settings=stateful_settings(examples=40))
