"""The community activity, posts and early-access pages: a fixed number of queries however long
the lists, roles on every POST, and the reward refusals in words."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.community.activity import month_start
from lifelong.community.models import (
    Club,
    ClubActivity,
    ClubMember,
    ClubPost,
    ClubReward,
    EarlyAccess,
    EntryRule,
    MemberStatus,
)
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import Tier
from lifelong.messaging.models import Template
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db


def _members(club: Club, count: int, start: int) -> None:
    for n in range(start, start + count):
        customer = CustomerFactory.create()
        member = ClubMember.objects.create(
            club=club, customer=customer, user_id=n, status=MemberStatus.JOINED
        )
        ClubActivity.objects.create(
            club=club, member=member, day=month_start(), messages=n, last_at=clock.now()
        )


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_lists_read_in_a_fixed_number_of_queries():
    club = Club.objects.create(title="Клуб", chat_id="-1001", entry=EntryRule.STAFF)
    client = logged_in(staff(Role.MARKETER))
    template = Template.objects.create(slug="t", name="Совет", channel="telegram", short_text="x")
    tier = Tier.objects.create(slug="guru", name="Гуру", position=1, privileges=["early_access"])

    def add(n: int) -> None:
        _members(club, 3, 100 * n)
        for k in range(3):
            ClubPost.objects.create(
                club=club, template=template, schedule="once", once_at=clock.now()
            )
            EarlyAccess.objects.create(
                name=f"Окно {n}-{k}",
                collection="Осень",
                tier=tier,
                starts_at=clock.now(),
                public_at=clock.now() + dt.timedelta(days=1),
            )

    add(1)
    urls = [
        "/community/activity/",
        f"/community/activity/?club={club.pk}",
        "/community/posts/",
        "/community/early-access/",
    ]
    few = [_queries(client, url) for url in urls]
    add(2)
    add(3)
    assert [_queries(client, url) for url in urls] == few


def test_rewards_need_the_marketing_role_and_refusals_read_in_words():
    club = Club.objects.create(title="Клуб", chat_id="-1001", entry=EntryRule.STAFF)
    _members(club, 1, 1)
    customer = ClubMember.objects.get().customer
    body = {"customer": customer.pk, "kind": "thanks", "month": f"{month_start():%Y-%m}"}

    assert logged_in(staff(Role.SUPPORT)).post("/community/rewards/", body).status_code == 403
    client = logged_in(staff(Role.OWNER))
    response = client.post("/community/rewards/", body, follow=True, HTTP_ACCEPT_LANGUAGE="ru")
    assert "Сначала выберите шаблон благодарности." in response.content.decode()
    assert not ClubReward.objects.exists()
    response = client.post("/community/rewards/", {**body, "customer": "x"}, follow=True)
    assert response.status_code == 200
    assert not ClubReward.objects.exists()
