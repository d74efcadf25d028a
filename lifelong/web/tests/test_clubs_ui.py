"""The club pages: the club form, a staff invitation through the outbox, taking a member out
and checking the bot against a Bot API fake, and a members list whose query count does not
grow with the members."""

from __future__ import annotations

import ipaddress

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import AuditLog, Role
from lifelong.community.models import (
    Club,
    ClubActivity,
    ClubInvite,
    ClubMember,
    ClubText,
    MemberStatus,
)
from lifelong.community.tests.clubs_setup import CHAT, TOKEN, bot_set_up, club_make, ladder_make
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging.models import ChannelConfig, Message
from lifelong.messaging.tests.fake_api import FakeApi
from lifelong.web.tests.conftest import logged_in, staff


@pytest.fixture
def telegram_api(settings, db):
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)
    with FakeApi() as server:
        server.default.body = {"ok": True, "result": True}
        bot_set_up(server.url)
        yield server


@pytest.fixture
def guru_club(db) -> Club:
    return club_make(ladder_make()["guru"])


def test_a_marketer_makes_and_edits_a_club(db):
    client = logged_in(staff(Role.MARKETER))
    tiers = ladder_make()
    form = {
        "title": "Клуб Гуру",
        "kind": "telegram_group",
        "chat_id": " -1001987654321 ",
        "entry": "tier",
        "tier": tiers["guru"].pk,
        "grace_days": 14,
        "invite_days": 7,
        "active": "on",
    }

    missing = client.post(reverse("web:club_new"), {**form, "tier": ""})
    assert missing.status_code == 400
    assert "Выберите уровень" in missing.text or "Choose the tier" in missing.text
    response = client.post(reverse("web:club_new"), form)

    made = Club.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "web:club", args=[made.pk]
    )
    assert (made.chat_id, made.tier_id, made.keep_texts) == (
        "-1001987654321",
        tiers["guru"].pk,
        False,
    )
    edited = client.post(
        reverse("web:club_edit", args=[made.pk]),
        {**form, "entry": "open", "removal_text": "Спасибо, что были с нами!"},
    )
    assert edited.status_code == 302
    made.refresh_from_db()
    assert (made.entry, made.tier_id, made.removal_text) == (
        "open",
        None,
        "Спасибо, что были с нами!",
    )
    assert AuditLog.objects.filter(action__startswith="community.club_").count() == 2


def test_a_vk_club_needs_its_link_and_a_peer_id(db):
    client = logged_in(staff(Role.OWNER))
    response = client.post(
        reverse("web:club_new"),
        {
            "title": "ВК",
            "kind": "vk_chat",
            "chat_id": "-100",
            "entry": "open",
            "grace_days": 1,
            "invite_days": 1,
        },
    )
    assert response.status_code == 400
    assert not Club.objects.exists()


def test_staff_invite_a_customer_through_the_outbox(db, guru_club):
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    boris = CustomerFactory.create(email="boris@example.ru")  # not of the tier: staff vouch
    consent_record(
        customer=boris, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    client = logged_in(staff(Role.SUPPORT))

    response = client.post(
        reverse("web:club_invite", args=[guru_club.pk]), {"customer": "boris@example.ru"}
    )
    again = client.post(
        reverse("web:club_invite", args=[guru_club.pk]), {"customer": str(boris.pk)}
    )

    assert response.status_code == again.status_code == 302
    invite = ClubInvite.objects.get()
    assert (invite.customer_id, invite.source, invite.invited_by.username) == (
        boris.pk,
        "staff",
        "support",
    )
    (message,) = Message.objects.all()
    assert message.channel == "email" and "/c/club/" in message.body_text
    page = client.get(reverse("web:club", args=[guru_club.pk]) + "?status=invited")
    assert str(boris) in page.text


def test_an_unknown_customer_is_an_error_on_the_form(db, guru_club):
    client = logged_in(staff(Role.OWNER))
    response = client.post(
        reverse("web:club_invite", args=[guru_club.pk]), {"customer": "nobody@example.ru"}
    )
    assert response.status_code == 400
    assert not ClubInvite.objects.exists()


def test_a_marketer_takes_a_member_out_and_checks_the_bot(telegram_api, guru_club):
    anna = CustomerFactory.create()
    member = ClubMember.objects.create(
        club=guru_club,
        customer=anna,
        user_id=55501,
        status=MemberStatus.JOINED,
        joined_at=clock.now(),
    )
    client = logged_in(staff(Role.MARKETER))

    response = client.post(reverse("web:club_member_remove", args=[guru_club.pk, member.pk]))

    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.status, member.reason) == (MemberStatus.REMOVED, "staff")
    assert [r.json() for r in telegram_api.at(f"/bot{TOKEN}/banChatMember")] == [
        {"chat_id": str(CHAT), "user_id": 55501}
    ]

    telegram_api.reply(
        body={
            "ok": True,
            "result": {
                "user": {"id": 7012345678, "is_bot": True, "first_name": "Прана"},
                "status": "administrator",
                "can_invite_users": True,
                "can_restrict_members": False,
            },
        }
    )
    telegram_api.reply(
        body={
            "ok": True,
            "result": {
                "url": "https://crm.example.ru/hooks/messaging/telegram",
                "has_custom_certificate": False,
                "pending_update_count": 0,
                "allowed_updates": ["message", "callback_query", "chat_member"],
            },
        }
    )
    checked = client.post(reverse("web:club_bot_check", args=[guru_club.pk]), follow=True)
    member_call, webhook_call = telegram_api.requests[-2:]
    assert member_call.path == f"/bot{TOKEN}/getChatMember"
    assert member_call.json() == {"chat_id": str(CHAT), "user_id": 7012345678}
    assert webhook_call.path == f"/bot{TOKEN}/getWebhookInfo"
    assert "message_reaction, message_reaction_count" in checked.text
    guru_club.refresh_from_db()
    assert (guru_club.bot_status, guru_club.bot_can_invite, guru_club.bot_can_restrict) == (
        "administrator",
        True,
        False,
    )
    page = client.get(reverse("web:club", args=[guru_club.pk]))
    assert "removals will fail" in page.text or "удаление не сработает" in page.text


def test_a_member_of_another_club_is_not_reachable_through_this_one(telegram_api, guru_club):
    other = Club.objects.create(title="Другой", chat_id="-100777", entry="open")
    member = ClubMember.objects.create(club=other, user_id=1, status=MemberStatus.JOINED)
    client = logged_in(staff(Role.OWNER))
    response = client.post(reverse("web:club_member_remove", args=[guru_club.pk, member.pk]))
    assert response.status_code == 404
    assert not telegram_api.requests


def _members(club: Club, start: int, n: int) -> None:
    for i in range(start, start + n):
        member = ClubMember.objects.create(
            club=club,
            customer=CustomerFactory.create(),
            user_id=1000 + i,
            status=MemberStatus.JOINED,
            joined_at=clock.now(),
        )
        ClubActivity.objects.create(
            club=club, member=member, day=clock.now().date(), messages=i + 1, last_at=clock.now()
        )


def test_the_members_list_costs_the_same_queries_for_3_or_30_members(
    frozen_time, guru_club, django_assert_num_queries
):
    client = logged_in(staff(Role.SUPPORT))
    url = reverse("web:club", args=[guru_club.pk])
    _members(guru_club, 0, 3)
    client.get(url)  # sessions and caches warmed
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _members(guru_club, 3, 27)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.text.count("data-member=") == 30


def test_turning_off_keeping_texts_deletes_the_kept_ones(db, guru_club):
    guru_club.keep_texts = True
    guru_club.save()
    member = ClubMember.objects.create(club=guru_club, user_id=5, status=MemberStatus.JOINED)
    ClubText.objects.create(
        club=guru_club, member=member, message_id=1, text="Привет всем", sent_at=clock.now()
    )
    client = logged_in(staff(Role.OWNER))
    form = {
        "title": guru_club.title,
        "kind": guru_club.kind,
        "chat_id": guru_club.chat_id,
        "entry": "tier",
        "tier": guru_club.tier_id,
        "grace_days": 14,
        "invite_days": 7,
        "active": "on",
    }

    assert client.post(reverse("web:club_edit", args=[guru_club.pk]), form).status_code == 302

    assert not ClubText.objects.exists()
    log = AuditLog.objects.get(action="community.club_edit")
    assert log.changes["texts_deleted"] == "1"
