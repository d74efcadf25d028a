"""The card says why there is no CLV forecast when the shop's history cannot support one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from lifelong.accounts.models import Role
from lifelong.factories import CustomerFactory
from lifelong.segments.models import ClvModelFit, ClvProblem, CustomerState
from lifelong.web.tests.conftest import logged_in, staff


@pytest.mark.django_db
def test_a_fit_without_a_forecast_is_explained_on_the_card():
    customer = CustomerFactory.create()
    CustomerState.objects.create(customer=customer, stage="new")
    ClvModelFit.objects.create(
        problem=ClvProblem.FEW_REPEAT_BUYERS, months=12, monthly_discount_rate=Decimal("0.01")
    )
    client = logged_in(staff(Role.OWNER))
    url = reverse("web:customer", kwargs={"pk": customer.pk})
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "no forecast: not enough repeat buyers to forecast" in html
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "прогноза нет: слишком мало повторных покупателей для прогноза" in html
