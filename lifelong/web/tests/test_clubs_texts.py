"""Kept texts of a club's members: read on the club's page only by staff who may change the
club, newest first at a fixed query cost, and deleted by the sweep after 90 days; a VK club's
page says what the community may do in the conversation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.community.models import (
    BotStatus,
    Club,
    ClubKind,
    ClubMember,
    ClubText,
    EntryRule,
    MemberStatus,
)
from lifelong.community.services import club_members_sweep
from lifelong.community.tests.clubs_setup import club_make, ladder_make
from lifelong.factories import CustomerFactory
from lifelong.web.tests.conftest import logged_in, staff


@pytest.fixture
def talking_club(db) -> Club:
    club = club_make(ladder_make()["guru"])
    club.keep_texts = True
    club.save()
    return club


def _texts(club: Club, start: int, count: int) -> None:
    for n in range(start, start + count):
        customer = CustomerFactory.create(first_name=f"Участница{n}")
        member = ClubMember.objects.create(
            club=club, customer=customer, user_id=1000 + n, status=MemberStatus.JOINED
        )
        ClubText.objects.create(
            club=club,
            member=member,
            message_id=n,
            text=f"Сообщение номер {n}",
            sent_at=clock.now() - dt.timedelta(minutes=n),
        )


def test_kept_texts_are_read_newest_first_by_those_who_may_change_the_club(
    frozen_time, talking_club
):
    _texts(talking_club, 0, 3)
    url = reverse("web:club", args=[talking_club.pk])

    page = logged_in(staff(Role.MARKETER)).get(url).text
    assert 'id="kept-texts"' in page
    assert page.index("Сообщение номер 0") < page.index("Сообщение номер 2")

    support = logged_in(staff(Role.SUPPORT)).get(url).text
    assert "Сообщение номер" not in support


def test_the_kept_texts_cost_the_same_queries_for_3_or_30(
    frozen_time, talking_club, django_assert_num_queries
):
    client = logged_in(staff(Role.OWNER))
    url = reverse("web:club", args=[talking_club.pk]) + "?status=left"  # no member rows
    _texts(talking_club, 0, 3)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _texts(talking_club, 3, 27)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.text.count("Сообщение номер") == 30


def test_the_sweep_deletes_texts_older_than_90_days(frozen_time, talking_club):
    _texts(talking_club, 0, 2)
    frozen_time.shift(dt.timedelta(days=90, seconds=30))
    ClubText.objects.filter(message_id=1).update(sent_at=clock.now())

    club_members_sweep()

    assert list(ClubText.objects.values_list("message_id", flat=True)) == [1]


def test_a_vk_clubs_page_says_whether_the_community_may_take_members_out(db):
    club = Club.objects.create(
        title="Беседа ВК",
        kind=ClubKind.VK_CHAT,
        chat_id="2000000007",
        entry=EntryRule.OPEN,
        vk_link="https://vk.me/join/AJQ1d_club",
        bot_status=BotStatus.MEMBER,
    )
    page = logged_in(staff(Role.OWNER)).get(reverse("web:club", args=[club.pk])).text
    assert "messages.removeChatUser" in page
    assert 'id="bot-check"' in page
    assert "VK does not tell" not in page
