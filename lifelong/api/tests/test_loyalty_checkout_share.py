"""The programme's largest share of an order payable with points, enforced at reserve when the
checkout sends `order_total`; the quote's `max_burn` is the same limit."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifelong.api.tests.conftest import ApiClient
from lifelong.factories import CustomerFactory
from lifelong.loyalty.holds import burn_limit
from lifelong.loyalty.models import Hold, Programme
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.helpers import assert_consistent, programme_start


@pytest.fixture
def anna(frozen_time):
    programme_start(max_share_percent=30, point_value=Decimal("2.50"))
    customer = CustomerFactory.create(external_id="C-1")
    points_award(customer_id=customer.pk, points=5000, key="gift")
    return customer


def reserve(api: ApiClient, points: int, order: str, **fields: object) -> Any:
    body = {"customer_external_id": "C-1", "order_external_id": order, "points": points, **fields}
    return api.post("/loyalty/holds", body)


@pytest.mark.django_db
def test_a_reserve_above_the_share_of_the_order_total_is_refused(api, anna):
    # 30 % of 999.99 is 299.997 roubles: 119.9988 points at 2.50, so 119.
    refused = reserve(api, 120, "O-1", order_total="999.99")
    assert refused.status_code == 422, refused.content
    error = refused.json()["detail"][0]
    assert error["field"] == "points"
    assert error["msg"] == (
        "At most 119 points may pay for an order of 999.99: 30% of it at 2.50 a point; 120 asked."
    )
    assert not Hold.objects.exists()
    held = reserve(api, 119, "O-1", order_total="999.99")
    assert held.status_code == 201, held.content
    # Nothing may pay for an order of nothing.
    assert reserve(api, 1, "O-2", order_total="0").status_code == 422
    assert_consistent()


@pytest.mark.django_db
def test_without_an_order_total_the_share_is_not_checked(api, anna):
    assert reserve(api, 4000, "O-1").status_code == 201


@pytest.mark.django_db
def test_the_quotes_max_burn_is_exactly_what_a_reserve_may_hold(api, anna):
    cart = {"lines": [{"sku": "MAT", "quantity": 3, "price": "1234.56"}]}
    quote = api.post("/loyalty/quote", cart).json()
    assert quote["max_burn"] == 444  # 30 % of 3703.68 = 1111.104 roubles, at 2.50
    total = quote["total"]
    assert reserve(api, quote["max_burn"] + 1, "O-1", order_total=total).status_code == 422
    assert reserve(api, quote["max_burn"], "O-1", order_total=total).status_code == 201


@given(
    total=st.decimals(min_value=0, max_value=10**12, places=2),
    share=st.integers(min_value=0, max_value=100),
    value=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2),
)
def test_the_limit_is_the_exact_floor(total, share, value):
    programme = Programme(max_share_percent=share, point_value=value)
    exact = Fraction(total) * share / 100 / Fraction(value)
    assert burn_limit(programme=programme, total=total) == exact.numerator // exact.denominator
