"""Staff lists answer any ?page= with a page, never a server error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lifelong.accounts.models import Role
from lifelong.factories import CustomerFactory
from lifelong.web.tests.conftest import logged_in, staff

LISTS = [
    "web:customers",
    "web:tasks",
    "web:no_next_step",
    "web:imports",
    "web:audit",
    "web:segments",
    "web:templates",
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("page", ["99999999999999999999999", "-3", "abc", "9" * 5000, "2"])
def test_any_page_number_answers_a_page(name, page):
    CustomerFactory.create()
    client = logged_in(staff(Role.OWNER))
    response = client.get(reverse(name), {"page": page})
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_customer_timeline_answers_any_page_number():
    customer = CustomerFactory.create()
    client = logged_in(staff(Role.OWNER))
    url = reverse("web:customer_timeline", kwargs={"pk": customer.pk})
    assert client.get(url, {"page": "99999999999999999999999"}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["last_order_after", "last_order_before"])
@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_a_date_filter_at_the_end_of_the_calendar_is_refused_readably(field, value):
    CustomerFactory.create()
    client = logged_in(staff(Role.OWNER))
    response = client.get(reverse("web:customers"), {field: value})
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()
