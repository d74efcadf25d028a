"""The customer card's loyalty section and personal manager, through the Django client."""

from __future__ import annotations

import datetime as dt
import re
from typing import cast

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import AuditLog, Role
from lifelong.customers.models import Customer
from lifelong.customers.services import customer_merge
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import Account, Transaction, TxKind
from lifelong.loyalty.services import points_adjust, points_award
from lifelong.loyalty.tests.helpers import assert_consistent, order_paid, programme_start
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db


def url(name: str, customer: Customer) -> str:
    return reverse(f"web:{name}", kwargs={"pk": customer.pk})


def token(body: str) -> str:
    found = re.search(r'name="token" value="([0-9a-f]{32})"', body)
    assert found, "the adjustment form carries its token"
    return found.group(1)


@pytest.fixture
def anna(db) -> Customer:
    return cast(Customer, CustomerFactory(last_name="Иванова", first_name="Анна"))


@pytest.fixture
def marketer_client(db):
    return logged_in(staff(Role.MARKETER))


def available(customer: Customer) -> int:
    account = Account.objects.filter(customer=customer).first()
    return account.available if account else 0


def test_card_shows_balance_lots_and_history_with_reasons(owner_client, anna, frozen_time):
    programme_start(pending_days=14)
    order_paid(anna, "A-7", "2500.00")
    loyalty_earn()
    points_award(customer_id=anna.pk, points=40, key="bday", comment="день рождения")
    clerk = UserFactory(username="olga", first_name="Ольга", last_name="Петрова", role=Role.OWNER)
    points_adjust(customer_id=anna.pk, points=-15, key="fix", staff=clerk, comment="ошибка кассира")
    owner_client.cookies["django_language"] = "en"
    body = owner_client.get(url("customer", anna)).content.decode()
    assert 'id="points-available">25<' in body
    assert "pending (return window)" in body
    # Open lots: the pending purchase lot (25 points) and what is left of the award, with dates.
    lots = body.split('id="points-lots"')[1].split("</table>")[0]
    assert "25" in lots and "40" in lots
    expires = (clock.now() + dt.timedelta(days=366)).year
    assert str(expires)[-2:] in lots
    # History: the staff adjustment names who and why; the purchase names its order.
    assert "Adjusted by staff" in body and "Ольга Петрова" in body and "ошибка кассира" in body
    assert "№ A-7" in body and "Earned for a purchase" in body
    assert "-15 available" in body


def test_card_query_count_does_not_grow_with_history(owner_client, anna, django_assert_num_queries):
    for n in range(3):
        points_award(customer_id=anna.pk, points=10, key=f"a{n}")
    owner_client.get(url("customer", anna))  # warm: the programme row, the session
    with CaptureQueriesContext(connection) as small:
        owner_client.get(url("customer", anna))
    for n in range(3, 60):
        points_award(customer_id=anna.pk, points=10, key=f"a{n}")
    with django_assert_num_queries(len(small.captured_queries)):
        body = owner_client.get(url("customer", anna)).content.decode()
    assert body.count('class="points-change') == 20  # one page of history
    assert url("points_history", anna) + "?page=2" in body


def test_history_pages_on(owner_client, anna, django_assert_num_queries):
    for n in range(25):
        points_award(customer_id=anna.pk, points=n + 1, key=f"a{n}", comment=f"award {n:02d}")
    with django_assert_num_queries(5):  # session, user, customer, transactions, entries
        more = owner_client.get(url("points_history", anna), {"page": 2}, HTTP_HX_REQUEST="true")
    body = more.content.decode()
    assert "award 04" in body and "award 00" in body and "award 05" not in body
    assert "<html" not in body
    full = owner_client.get(url("points_history", anna), {"page": 2}).content.decode()
    assert "<html" in full and "award 00" in full


@pytest.mark.parametrize("role", [Role.OWNER, Role.MARKETER])
def test_owner_and_marketer_adjust_with_a_reason_audited(role, anna):
    client = logged_in(staff(role))
    form = client.get(url("customer", anna)).content.decode()
    response = client.post(
        url("points_adjust", anna),
        {"points": "120", "reason": " жест  доброй воли ", "token": token(form)},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("#loyalty")
    assert available(anna) == 120
    tx = Transaction.objects.get(kind=TxKind.ADJUST)
    assert tx.comment == "жест доброй воли" and tx.staff.role == role
    entry = AuditLog.objects.get(action="loyalty.adjust")
    assert entry.object_id == str(anna.pk) and entry.changes["points"] == 120
    assert_consistent()


def test_the_same_form_posted_twice_adjusts_once(owner_client, anna):
    data = {
        "points": "50",
        "reason": "компенсация",
        "token": token(owner_client.get(url("customer", anna)).content.decode()),
    }
    owner_client.post(url("points_adjust", anna), data)
    again = owner_client.post(url("points_adjust", anna), data, follow=True)
    assert available(anna) == 50
    assert AuditLog.objects.filter(action="loyalty.adjust").count() == 1
    assert again.status_code == 200


def test_a_deduction_beyond_the_balance_is_refused_clearly(owner_client, anna):
    points_award(customer_id=anna.pk, points=30, key="a")
    owner_client.cookies["django_language"] = "en"
    response = owner_client.post(
        url("points_adjust", anna), {"points": "-31", "reason": "списание", "token": "a" * 32}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Only 30 points are available" in body and "Deduct at most 30" in body
    assert 'value="-31"' in body and 'value="списание"' in body  # what was typed stays
    assert available(anna) == 30
    assert not AuditLog.objects.filter(action="loyalty.adjust").exists()


@pytest.mark.parametrize(
    "data",
    [
        {"points": "10", "reason": "   "},
        {"points": "0", "reason": "ноль"},
        {"points": "abc", "reason": "x"},
        {"points": "10", "reason": "x", "token": "not-a-token"},
    ],
)
def test_invalid_adjustments_change_nothing(owner_client, anna, data):
    data = {"token": "b" * 32, **data}
    assert owner_client.post(url("points_adjust", anna), data).status_code == 400
    assert not Transaction.objects.exists()


def test_support_cannot_adjust_nor_sees_the_form(support_client, anna):
    body = support_client.get(url("customer", anna)).content.decode()
    assert 'id="loyalty"' in body and 'id="points-adjust"' not in body
    response = support_client.post(
        url("points_adjust", anna), {"points": "100", "reason": "x", "token": "c" * 32}
    )
    assert response.status_code == 403
    assert not Transaction.objects.exists()


def test_analyst_reads_the_section_but_cannot_set_a_manager(anna):
    client = logged_in(staff(Role.ANALYST))
    body = client.get(url("customer", anna)).content.decode()
    assert 'id="loyalty"' in body and 'name="manager"' not in body
    manager = staff(Role.SUPPORT, "sveta")
    assert (
        client.post(url("personal_manager_set", anna), {"manager": manager.pk}).status_code == 403
    )
    anna.refresh_from_db()
    assert anna.personal_manager_id is None


def test_unknown_customer_is_404(owner_client):
    missing = Customer(pk=999_999)
    assert owner_client.get(url("points_history", missing)).status_code == 404
    response = owner_client.post(
        url("points_adjust", missing), {"points": "1", "reason": "x", "token": "d" * 32}
    )
    assert response.status_code == 404


def test_a_merged_customer_cannot_be_adjusted(owner_client, anna):
    other = CustomerFactory()
    Customer.objects.filter(pk=other.pk).update(merged_into=anna)
    response = owner_client.post(
        url("points_adjust", other), {"points": "5", "reason": "x", "token": "e" * 32}
    )
    assert response.status_code == 400
    assert not Transaction.objects.exists()


def test_personal_manager_is_set_shown_audited_and_removed(owner_client, anna):
    manager = UserFactory(
        username="sveta", first_name="Светлана", last_name="Котова", role=Role.SUPPORT
    )
    UserFactory(username="gone", first_name="Уволен", role=Role.SUPPORT, is_active=False)
    body = owner_client.get(url("customer", anna)).content.decode()
    assert "Котова" in body and "Уволен" not in body  # only active staff to choose from
    response = owner_client.post(url("personal_manager_set", anna), {"manager": manager.pk})
    assert response["Location"].endswith("#manager")
    anna.refresh_from_db()
    assert anna.personal_manager == manager
    body = owner_client.get(url("customer", anna)).content.decode()
    assert 'id="manager-name">Светлана Котова<' in body
    entry = AuditLog.objects.get(action="customer.personal_manager")
    assert entry.changes == {"from": None, "to": manager.pk}
    owner_client.post(url("personal_manager_set", anna), {"manager": ""})
    anna.refresh_from_db()
    assert anna.personal_manager is None
    assert AuditLog.objects.filter(action="customer.personal_manager").count() == 2


def test_an_inactive_staff_member_cannot_be_assigned(owner_client, anna):
    gone = UserFactory(username="gone", role=Role.SUPPORT, is_active=False)
    owner_client.post(url("personal_manager_set", anna), {"manager": gone.pk})
    anna.refresh_from_db()
    assert anna.personal_manager is None
    assert not AuditLog.objects.filter(action="customer.personal_manager").exists()


def test_support_may_assign_a_personal_manager(support_client, anna):
    me = staff(Role.SUPPORT, "katya")
    support_client.post(url("personal_manager_set", anna), {"manager": me.pk})
    anna.refresh_from_db()
    assert anna.personal_manager == me


def test_a_merge_keeps_the_duplicates_manager_when_the_primary_has_none(anna):
    manager = staff(Role.SUPPORT, "sveta")
    duplicate = CustomerFactory(personal_manager=manager)
    merged = customer_merge(primary=anna, duplicate=duplicate, actor=None)
    assert merged.personal_manager == manager


def test_my_customers_filter_on_the_list_and_its_export(anna):
    me = staff(Role.SUPPORT, "sveta")
    other = staff(Role.SUPPORT, "katya")
    Customer.objects.filter(pk=anna.pk).update(personal_manager=me)
    CustomerFactory(last_name="Чужая", personal_manager=other)
    CustomerFactory(last_name="Ничья")
    client = logged_in(me)
    mine = client.get(reverse("web:customers"), {"mine": "1"}).content.decode()
    assert "Иванова" in mine and "Чужая" not in mine and "Ничья" not in mine
    everyone = client.get(reverse("web:customers")).content.decode()
    assert "Чужая" in everyone and "Ничья" in everyone
    response = client.get(reverse("web:customers_csv"), {"mine": "1"})
    body = b"".join(response.streaming_content).decode("utf-8")
    assert "Иванова" in body and "Чужая" not in body
