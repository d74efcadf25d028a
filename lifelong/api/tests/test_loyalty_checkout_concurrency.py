"""No double spend: 200 concurrent reserve-and-confirm calls against one balance, over real HTTP.

A live server (one thread and one database connection per request) takes the calls from a
pool of HTTP clients. The account lock (SELECT ... FOR UPDATE on PostgreSQL, the IMMEDIATE
write lock on SQLite) lets exactly balance // amount of them through; the customer's
available points, replayed entry by entry in posting order, never go below zero.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate

import pytest

from lifelong.accounts.models import ApiScope
from lifelong.accounts.services import api_key_create
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import Account, Bucket, Entry, Hold, HoldStatus
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.helpers import assert_consistent, programme_start

# Eight clients at once: enough to race for the lock, and within the live server's listen
# backlog of ten, which a loaded machine overflowed with 24 (connections reset, not refused).
BALANCE, AMOUNT, CALLS, CLIENTS = 1000, 7, 200, 8


def _post(url: str, secret: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    # The URL is the live server's own http:// address.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        # A 500 page is HTML: its status is what the test counts.
        content = error.read()
        return error.code, json.loads(content) if error.code < 500 else {}


@pytest.mark.django_db(transaction=True)
def test_concurrent_reserve_and_confirm_never_spend_more_than_the_balance(live_server):
    programme_start()
    customer = CustomerFactory.create(external_id="C-RUSH")
    points_award(customer_id=customer.pk, points=BALANCE, key="rush-gift")
    secret = api_key_create(name="till", scopes=[ApiScope.READ, ApiScope.LOYALTY])[1]
    base = f"{live_server.url}/api/v1/loyalty/holds"

    def checkout(n: int) -> tuple[int, int]:
        status, hold = _post(
            base,
            secret,
            {"customer_external_id": "C-RUSH", "order_external_id": f"O-{n}", "points": AMOUNT},
        )
        if status != 201:
            return status, 0
        return status, _post(f"{base}/{hold['id']}/confirm", secret, {"points": AMOUNT})[0]

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(checkout, range(CALLS)))

    expected = min(CALLS, BALANCE // AMOUNT)
    assert results.count((201, 200)) == expected
    assert results.count((422, 0)) == CALLS - expected  # not enough points: no hold at all
    assert Hold.objects.filter(status=HoldStatus.CONFIRMED).count() == expected
    account = Account.objects.get(customer=customer)
    assert (account.available, account.held) == (BALANCE - expected * AMOUNT, 0)
    # Every posting on the account ran under its lock, so id order is posting order.
    steps = Entry.objects.filter(account=account, bucket=Bucket.AVAILABLE).order_by(
        "transaction_id", "pk"
    )
    assert min(accumulate(steps.values_list("points", flat=True))) >= 0
    assert_consistent()
