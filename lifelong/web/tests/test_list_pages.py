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
