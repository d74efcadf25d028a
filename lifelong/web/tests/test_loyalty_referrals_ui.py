"""The referrals page: settings validated and audited, the latest referrals with the reason
a refused one was refused, a bounded number of queries, and roles."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import AuditLog, Role
from lifelong.commerce.models import Order
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import Referral, ReferralSettings, ReferralStatus, RefusalReason
from lifelong.loyalty.tests.helpers import programme_start
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db

URL = reverse("web:loyalty_referrals")
SETTINGS = {
    "enabled": "on",
    "referrer_points": "300",
    "friend_points": "200",
    "condition": "return_window",
    "min_order_total": "0",
    "limit_count": "0",
    "limit_days": "0",
    "shop_url": "https://prana.example/",
}


@pytest.fixture
def marketer_client():
    client = logged_in(staff(Role.MARKETER, "mk"))
    client.cookies["django_language"] = "en"
    return client


def referrals_make(n: int, referrer=None) -> None:
    referrer = referrer or CustomerFactory.create()
    now = clock.now()
    for i in range(n):
        friend = CustomerFactory.create()
        order = Order.objects.create(external_id=f"O-{friend.pk}", customer=friend, total=100)
        refused = i % 2 == 0
        Referral.objects.create(
            referrer=referrer,
            friend=friend,
            code="ABCDEFGH",
            via="attribute",
            order=order,
            ordered_at=now,
            due_at=now + dt.timedelta(days=14),
            status=ReferralStatus.REFUSED if refused else ReferralStatus.WAITING,
            reason=RefusalReason.SAME_PHONE if refused else "",
        )


def test_saving_the_settings_is_validated_and_audited(marketer_client):
    response = marketer_client.post(URL, {**SETTINGS, "shop_url": ""})
    assert response.status_code == 400
    assert "Referral links need the shop&#x27;s address." in response.content.decode()
    response = marketer_client.post(URL, {**SETTINGS, "limit_count": "3"})
    assert response.status_code == 400
    assert not ReferralSettings.current().enabled

    response = marketer_client.post(URL, SETTINGS, follow=True)
    assert response.redirect_chain == [(URL, 302)]
    assert "Referral settings saved." in response.content.decode()
    row = ReferralSettings.current()
    assert (row.enabled, row.referrer_points, row.friend_points) == (True, 300, 200)
    assert row.started_at is not None
    entry = AuditLog.objects.get(action="loyalty.referrals.update")
    assert entry.actor_label == "mk"
    assert entry.changes["referrer_points"] == {"from": "0", "to": "300"}


def test_the_list_shows_why_a_referral_was_refused_and_filters_by_status(marketer_client):
    programme_start()
    referrals_make(3)
    page = marketer_client.get(URL).content.decode()
    assert page.count("Same phone as the referrer") == 2
    assert "Waiting for the condition" in page
    assert "The loyalty programme is off" not in page
    page = marketer_client.get(URL, {"status": "waiting"}).content.decode()
    assert "Same phone as the referrer" not in page


def test_the_list_costs_the_same_queries_for_2_referrals_as_for_40(marketer_client):
    referrals_make(2)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert marketer_client.get(URL).status_code == 200
        return len(captured)

    queries()  # the settings rows are made on first use
    few = queries()
    referrals_make(38)
    assert queries() == few


@pytest.mark.parametrize(("role", "status"), [(Role.OWNER, 200), (Role.SUPPORT, 403)])
def test_only_marketing_roles_reach_the_page(role, status):
    assert logged_in(staff(role)).get(URL).status_code == status


def test_support_cannot_change_the_settings():
    assert logged_in(staff(Role.SUPPORT)).post(URL, SETTINGS).status_code == 403
    assert not ReferralSettings.current().enabled
