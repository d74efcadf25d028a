"""The community activity, posts and early-access pages: a fixed number of queries however long
the lists, roles on every POST, and the reward refusals in words."""

from __future__ import annotations

import datetime as dt
import re

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


def test_a_customer_off_the_most_active_list_is_refused_a_reward():
    club = Club.objects.create(title="Клуб", chat_id="-1001", entry=EntryRule.STAFF)
    _members(club, 1, 1)
    outsider = CustomerFactory.create(first_name="Вера", last_name="Соколова")
    body = {"customer": outsider.pk, "kind": "badge", "month": f"{month_start():%Y-%m}"}
    client = logged_in(staff(Role.OWNER))

    response = client.post(
        "/community/rewards/", {**body, "club": club.pk}, follow=True, HTTP_ACCEPT_LANGUAGE="ru"
    )

    assert "нет в списке самых активных за этот месяц" in response.content.decode()
    assert not ClubReward.objects.exists()
    assert not outsider.tags.exists()


def _posts_and_windows(count: int, start: int) -> tuple[ClubPost, EarlyAccess]:
    """`count` weekly posts, each to its own club with its own template, and as many
    early-access windows, each for its own tier: nothing the lists read is shared."""
    post = window = None
    for n in range(start, start + count):
        club = Club.objects.create(title=f"Клуб {n}", chat_id=f"-100{n}", entry=EntryRule.STAFF)
        template = Template.objects.create(
            slug=f"tip-{n}", name=f"Совет {n}", channel="telegram", short_text="x"
        )
        post = ClubPost.objects.create(
            club=club,
            template=template,
            schedule="weekly",
            weekday=n % 7,
            time=dt.time(10, 0),
            next_run_at=clock.now() + dt.timedelta(days=1),
        )
        tier = Tier.objects.create(
            slug=f"t{n}", name=f"Уровень {n}", position=n, privileges=["early_access"]
        )
        window = EarlyAccess.objects.create(
            name=f"Окно {n}",
            collection="Осень",
            tier=tier,
            starts_at=clock.now() + dt.timedelta(days=n),
            public_at=clock.now() + dt.timedelta(days=n + 7),
        )
    assert post is not None and window is not None
    return post, window


@pytest.mark.parametrize("page", ["posts", "post", "early_access", "early_access_edit"])
def test_the_post_and_early_access_lists_and_their_edit_pages_keep_their_query_count(
    page, django_assert_num_queries
):
    client = logged_in(staff(Role.MARKETER))
    post, window = _posts_and_windows(2, 1)
    url = {
        "posts": "/community/posts/",
        "post": f"/community/posts/{post.pk}/",
        "early_access": "/community/early-access/",
        "early_access_edit": f"/community/early-access/{window.pk}/",
    }[page]
    few = _queries(client, url)
    _posts_and_windows(12, 10)

    with django_assert_num_queries(few):
        response = client.get(url)

    edit_links = (
        r'href="/community/posts/\d+/"'
        if "post" in page
        else r'href="/community/early-access/\d+/"'
    )
    assert len(re.findall(edit_links, response.content.decode())) == 14


def test_the_edit_pages_fill_the_date_inputs_in_the_browsers_format():
    """A datetime-local input shows nothing for Django's default "2026-10-01 10:00:00": the
    edit pages would then come back empty and refuse to save."""
    club = Club.objects.create(title="Клуб", chat_id="-1001", entry=EntryRule.STAFF)
    template = Template.objects.create(slug="t", name="Совет", channel="telegram", short_text="x")
    moscow = dt.timezone(dt.timedelta(hours=3))
    post = ClubPost.objects.create(
        club=club,
        template=template,
        schedule="once",
        once_at=dt.datetime(2026, 10, 1, 7, 30, tzinfo=dt.UTC),
    )
    tier = Tier.objects.create(slug="guru", name="Гуру", position=1, privileges=["early_access"])
    window = EarlyAccess.objects.create(
        name="Осень",
        collection="Осень",
        tier=tier,
        starts_at=dt.datetime(2026, 10, 1, 10, 0, tzinfo=moscow),
        public_at=dt.datetime(2026, 10, 8, 10, 0, tzinfo=moscow),
    )
    client = logged_in(staff(Role.MARKETER))

    text = client.get(f"/community/posts/{post.pk}/").content.decode()
    assert 'value="2026-10-01T10:30"' in text  # on the shop's clock (Moscow)
    text = client.get(f"/community/early-access/{window.pk}/").content.decode()
    assert 'value="2026-10-01T10:00"' in text and 'value="2026-10-08T10:00"' in text
