"""Clubs against a local server that speaks the Telegram Bot API: an invite is made once per
qualifying customer, a join update links the member, a downgrade removes them after the
grace period, and replayed updates change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.community.models import (
    Club,
    ClubActivity,
    ClubInvite,
    ClubKind,
    ClubMember,
    ClubText,
    ClubUpdate,
    EntryRule,
    InviteSource,
    MemberStatus,
)
from lifelong.community.services import (
    club_invite_link,
    club_invite_prepare,
    club_invite_url,
    club_member_remove,
    club_members_sweep,
)
from lifelong.community.tests.clubs_setup import (
    BOT_ID,
    CHAT,
    LINK,
    TOKEN,
    bot_promoted,
    days,
    deliver,
    joined,
    left,
    link_created,
    posted,
    reacted,
)
from lifelong.customers.models import Customer
from lifelong.customers.services import customer_merge
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.jobs.sweeps import sweep_by_name
from lifelong.loyalty.tiers import tier_set_manual
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message

ANNA = 289374625


@pytest.fixture
def anna(ladder):
    """A customer of the top tier, set by staff for a month, with her Telegram chat linked."""
    customer = CustomerFactory.create(telegram_chat_id=str(ANNA))
    tier_set_manual(
        customer_id=customer.pk,
        tier=ladder["guru"],
        until=clock.now() + days(30),
        actor=None,
        reason="Постоянная покупательница",
    )
    return customer


def test_an_invite_is_made_once_per_qualifying_customer(frozen_time, bot, api, club, anna):
    boris = CustomerFactory.create()  # the entry level only: not invited

    first = club_invite_prepare(club=club, customer=anna, source=InviteSource.JOURNEY)
    again = club_invite_prepare(club=club, customer=anna, source=InviteSource.CAMPAIGN)
    assert first is not None and again is not None and first.pk == again.pk
    assert club_invite_prepare(club=club, customer=boris, source=InviteSource.JOURNEY) is None
    assert ClubInvite.objects.count() == 1
    assert ClubMember.objects.get().status == MemberStatus.INVITED
    assert not api.requests  # no network until the link is opened

    api.reply(body=link_created())
    assert club_invite_link(invite=first) == LINK
    first.refresh_from_db()
    assert club_invite_link(invite=first) == LINK  # a retry reuses it

    (request,) = api.requests
    assert (request.method, request.path) == ("POST", f"/bot{TOKEN}/createChatInviteLink")
    assert request.headers["content-type"].startswith("application/json")
    assert request.json() == {
        "chat_id": str(CHAT),
        "name": f"Lifelong #{first.pk}",
        "expire_date": int((clock.now() + days(7)).timestamp()),
        "member_limit": 1,
    }


def test_the_join_address_redirects_to_the_one_link(frozen_time, bot, api, club, anna, client):
    invite = club_invite_prepare(club=club, customer=anna, source=InviteSource.JOURNEY)
    url = club_invite_url(invite=invite).removeprefix("http://testserver")
    api.reply(body=link_created())

    first = client.get(url)
    second = client.get(url)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == LINK
    assert len(api.at(f"/bot{TOKEN}/createChatInviteLink")) == 1


def test_an_expired_link_is_revoked_and_replaced(frozen_time, bot, api, club, anna):
    invite = club_invite_prepare(club=club, customer=anna, source=InviteSource.JOURNEY)
    api.reply(body=link_created())
    club_invite_link(invite=invite)
    frozen_time.shift(days(8))
    api.reply(body=link_created("https://t.me/+Zx9club_invite_BBBB"))
    api.reply(body={"ok": True, "result": {"invite_link": LINK, "is_revoked": True}})

    assert club_invite_link(invite=invite) == "https://t.me/+Zx9club_invite_BBBB"

    revoke = api.at(f"/bot{TOKEN}/revokeChatInviteLink")
    assert [r.json() for r in revoke] == [{"chat_id": str(CHAT), "invite_link": LINK}]


def test_a_join_through_our_link_links_the_member_and_a_replay_changes_nothing(
    frozen_time, bot, api, club, anna, client
):
    invite = club_invite_prepare(club=club, customer=anna, source=InviteSource.JOURNEY)
    api.reply(body=link_created())
    club_invite_link(invite=invite)
    telegram_user = 55501  # not her linked chat: only the link tells who she is

    assert deliver(client, joined(9001, telegram_user)) == 200
    assert deliver(client, joined(9001, telegram_user)) == 200

    member = ClubMember.objects.get()
    assert (member.customer_id, member.user_id, member.status) == (
        anna.pk,
        telegram_user,
        MemberStatus.JOINED,
    )
    assert member.joined_at == clock.now().replace(microsecond=0)
    invite.refresh_from_db()
    assert invite.used_at is not None
    (event,) = Event.objects.filter(type="community_joined")
    assert (event.customer_id, event.properties) == (anna.pk, {"club_id": club.pk, "via": "invite"})
    assert ClubUpdate.objects.count() == 1


def test_a_linked_chat_is_matched_without_our_link_and_leaving_is_recorded(
    frozen_time, bot, club, anna, client
):
    deliver(client, joined(9101, ANNA, link=None))
    frozen_time.shift(days(3))
    deliver(client, left(9102, ANNA))
    deliver(client, left(9102, ANNA))

    member = ClubMember.objects.get()
    assert (member.customer_id, member.status) == (anna.pk, MemberStatus.LEFT)
    assert member.left_at == clock.now().replace(microsecond=0)
    assert [e.type for e in Event.objects.order_by("pk")].count("community_left") == 1


def test_a_chat_admin_removing_someone_is_a_removal_with_its_reason(
    frozen_time, bot, club, anna, client
):
    deliver(client, joined(9201, ANNA, link=None))
    deliver(client, left(9202, ANNA, by=5550001))

    member = ClubMember.objects.get()
    assert (member.status, member.reason) == (MemberStatus.REMOVED, "chat_admin")
    assert Event.objects.filter(type="community_removed", customer=anna).count() == 1


def test_messages_replies_and_reactions_are_counted_once_without_the_text(
    frozen_time, bot, club, anna, client
):
    deliver(client, joined(9301, ANNA, link=None))
    updates = [
        posted(9302, ANNA, message_id=10),
        posted(9303, ANNA, message_id=11, reply_to=9),
        reacted(9304, ANNA, message_id=9, emoji=["👍", "🔥"]),
        # A join notice is a message too, but not a post.
        {
            "update_id": 9305,
            "message": {
                "message_id": 12,
                "from": {"id": ANNA, "is_bot": False, "first_name": "Анна"},
                "chat": {"id": CHAT, "title": "Клуб Гуру", "type": "supergroup"},
                "date": int(clock.now().timestamp()),
                "new_chat_members": [{"id": ANNA, "is_bot": False, "first_name": "Анна"}],
            },
        },
    ]
    for update in updates + updates:  # everything delivered twice
        assert deliver(client, update) == 200

    row = ClubActivity.objects.get()
    assert (row.messages, row.replies, row.reactions) == (2, 1, 2)
    assert row.day == clock.now().date()
    posts = Event.objects.filter(type="community_post").order_by("pk")
    assert [p.properties for p in posts] == [
        {"club_id": club.pk, "reply": False},
        {"club_id": club.pk, "reply": True},
    ]
    assert not ClubText.objects.exists()
    assert "Всем привет" not in str(list(Event.objects.values_list("properties", flat=True)))


def test_texts_are_kept_only_when_the_owner_turns_it_on(frozen_time, bot, club, anna, client):
    club.keep_texts = True
    club.save()
    deliver(client, posted(9401, ANNA, message_id=20, text="Спасибо за коврик!"))

    assert list(ClubText.objects.values_list("text", flat=True)) == ["Спасибо за коврик!"]


def test_an_unknown_chat_and_private_chats_are_not_the_clubs_business(
    frozen_time, bot, club, client
):
    stranger = posted(9501, ANNA, message_id=1)
    stranger["message"]["chat"]["id"] = -100555
    assert deliver(client, stranger) == 200
    assert not ClubMember.objects.exists()
    assert not ClubUpdate.objects.exists()


def test_the_bot_made_an_admin_is_noted_on_the_club(frozen_time, bot, club, client):
    deliver(client, bot_promoted(9601))
    club.refresh_from_db()
    assert (club.bot_status, club.bot_can_invite, club.bot_can_restrict) == (
        "administrator",
        True,
        True,
    )


def test_a_downgrade_removes_the_member_after_the_grace_period(
    frozen_time, bot, api, club, anna, client
):
    invite = club_invite_prepare(club=club, customer=anna, source=InviteSource.JOURNEY)
    api.reply(body=link_created())
    club_invite_link(invite=invite)
    deliver(client, joined(9701, ANNA))
    assert club_members_sweep() == 0

    frozen_time.shift(days(31))  # the tier set by hand ends: she is back to the entry level
    assert club_members_sweep() == 0
    member = ClubMember.objects.get()
    assert member.lapsed_at == clock.now()
    lapsed = clock.now()

    frozen_time.shift(days(13))
    assert club_members_sweep() == 0  # still within the club's grace period
    frozen_time.shift(days(1))
    requests_before = len(api.requests)
    assert club_members_sweep() == 1
    assert club_members_sweep() == 0

    calls = api.requests[requests_before:]
    assert [(c.path, c.json()) for c in calls] == [
        (f"/bot{TOKEN}/banChatMember", {"chat_id": str(CHAT), "user_id": ANNA}),
        (
            f"/bot{TOKEN}/unbanChatMember",
            {"chat_id": str(CHAT), "user_id": ANNA, "only_if_banned": True},
        ),
    ]
    member.refresh_from_db()
    assert (member.status, member.reason) == (MemberStatus.REMOVED, "tier")
    assert member.removed_at == lapsed + days(14)
    (event,) = Event.objects.filter(type="community_removed")
    assert event.properties == {"club_id": club.pk, "reason": "tier"}

    # Telegram tells the bot about its own ban and unban: nothing changes.
    deliver(client, left(9702, ANNA, by=BOT_ID))
    member.refresh_from_db()
    assert member.reason == "tier"

    # The polite message goes out through the outbox, on her linked Telegram chat.
    (message,) = Message.objects.filter(dedupe_key__startswith="club-removed:")
    assert "Клуб Гуру" in message.body_text
    api.reply(body={"ok": True, "result": {"message_id": 77, "chat": {"id": ANNA}}})
    dispatch_due()
    send = api.at(f"/bot{TOKEN}/sendMessage")[-1].json()
    assert send["chat_id"] == str(ANNA) and "Клуб Гуру" in send["text"]


def test_qualifying_again_within_the_grace_period_keeps_the_member(
    frozen_time, bot, api, club, anna, ladder, client
):
    deliver(client, joined(9801, ANNA, link=None))
    frozen_time.shift(days(31))
    club_members_sweep()
    assert ClubMember.objects.get().lapsed_at is not None

    tier_set_manual(
        customer_id=anna.pk,
        tier=ladder["guru"],
        until=clock.now() + days(60),
        actor=None,
        reason="Вернулась",
    )
    club_members_sweep()
    frozen_time.shift(days(20))
    assert club_members_sweep() == 0
    member = ClubMember.objects.get()
    assert (member.status, member.lapsed_at) == (MemberStatus.JOINED, None)
    assert not api.at(f"/bot{TOKEN}/banChatMember")


def test_a_refusal_keeps_the_member_for_the_next_run(frozen_time, bot, api, club, anna, client):
    deliver(client, joined(9901, ANNA, link=None))
    frozen_time.shift(days(46))
    club_members_sweep()  # marks the lapse
    frozen_time.shift(days(15))
    api.reply(
        status=400,
        body={"ok": False, "error_code": 400, "description": "Bad Request: not enough rights"},
    )

    assert club_members_sweep() == 0
    assert ClubMember.objects.get().status == MemberStatus.JOINED


def test_the_join_page_refuses_a_customer_who_no_longer_qualifies(
    frozen_time, bot, api, club, anna, client
):
    invite = club_invite_prepare(club=club, customer=anna, source=InviteSource.JOURNEY)
    url = reverse("portal:club_join", args=["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])  # a damaged token
    assert client.get(url).status_code == 404
    frozen_time.shift(dt.timedelta(days=31))

    response = client.get(club_invite_url(invite=invite).removeprefix("http://testserver"))

    assert response.status_code == 200
    assert not api.requests


def test_the_removal_sweep_is_registered():
    assert sweep_by_name("community.members").load() is club_members_sweep


def test_withdrawing_an_invitation_revokes_its_link_and_a_new_one_is_made_later(
    frozen_time, bot, api, club, anna
):
    invite = club_invite_prepare(club=club, customer=anna, source=InviteSource.JOURNEY)
    api.reply(body=link_created())
    club_invite_link(invite=invite)
    member = ClubMember.objects.select_related("club", "invite").get()

    assert club_member_remove(member=member, reason="staff") is True

    assert [r.json() for r in api.at(f"/bot{TOKEN}/revokeChatInviteLink")] == [
        {"chat_id": str(CHAT), "invite_link": LINK}
    ]
    assert not api.at(f"/bot{TOKEN}/banChatMember")  # never in the chat: nothing to ban
    assert not Message.objects.exists()  # and nothing to apologise for

    again = club_invite_prepare(club=club, customer=anna, source=InviteSource.STAFF)
    assert again is not None and again.pk == invite.pk and again.link == ""
    api.reply(body=link_created("https://t.me/+Zx9club_invite_CCCC"))
    assert club_invite_link(invite=again) == "https://t.me/+Zx9club_invite_CCCC"
    assert ClubMember.objects.get().status == MemberStatus.INVITED


def test_a_channels_anonymous_reactions_keep_the_highest_total_of_the_day(
    frozen_time, bot, club, client
):
    def counted(update_id: int, message_id: int, totals: list[int]) -> dict:
        return {
            "update_id": update_id,
            "message_reaction_count": {
                "chat": {"id": CHAT, "title": "Клуб Гуру", "type": "channel"},
                "message_id": message_id,
                "date": int(clock.now().timestamp()),
                "reactions": [
                    {"type": {"type": "emoji", "emoji": e}, "total_count": n}
                    for e, n in zip(["👍", "🔥"], totals, strict=False)
                ],
            },
        }

    for update in (counted(9951, 5, [3, 1]), counted(9952, 5, [2, 1]), counted(9952, 5, [9, 9])):
        deliver(client, update)

    row = ClubActivity.objects.get()
    assert (row.member_id, row.reactions, row.messages) == (None, 4, 0)


def test_a_group_that_becomes_a_supergroup_keeps_its_club(frozen_time, bot, club, client):
    deliver(
        client,
        {
            "update_id": 9961,
            "message": {
                "message_id": 3,
                "from": {"id": 5550001, "is_bot": False, "first_name": "Владелец"},
                "chat": {"id": CHAT, "title": "Клуб Гуру", "type": "group"},
                "date": int(clock.now().timestamp()),
                "migrate_to_chat_id": -1002000000001,
            },
        },
    )
    club.refresh_from_db()
    assert club.chat_id == "-1002000000001"


def test_a_merged_duplicate_stays_in_the_club_as_the_surviving_customer(
    frozen_time, bot, api, club, anna, client
):
    duplicate = CustomerFactory.create(telegram_chat_id="777001")
    deliver(client, joined(9971, 777001, link=None))
    assert ClubMember.objects.get().customer_id == duplicate.pk

    customer_merge(primary=anna, duplicate=duplicate, actor=None)
    club_members_sweep()
    frozen_time.shift(days(20))
    club_members_sweep()

    member = ClubMember.objects.get()
    assert (member.customer_id, member.status, member.lapsed_at) == (
        anna.pk,
        MemberStatus.JOINED,
        None,
    )
    assert not api.at(f"/bot{TOKEN}/banChatMember")


def test_a_vk_club_shows_its_reusable_link_only_to_customers_it_admits(frozen_time, db, client):
    vk = Club.objects.create(
        title="Беседа клуба",
        kind=ClubKind.VK_CHAT,
        chat_id="2000000001",
        entry=EntryRule.OPEN,
        vk_link="https://vk.me/join/AJQ1d_club",
    )
    linked = CustomerFactory.create(vk_id="12345")
    invite = club_invite_prepare(club=vk, customer=linked, source=InviteSource.CAMPAIGN)
    unlinked = CustomerFactory.create()
    assert club_invite_prepare(club=vk, customer=unlinked, source=InviteSource.CAMPAIGN) is None

    response = client.get(club_invite_url(invite=invite).removeprefix("http://testserver"))
    assert (response.status_code, response["Location"]) == (302, "https://vk.me/join/AJQ1d_club")

    Customer.objects.filter(pk=linked.pk).update(vk_id="")
    refused = client.get(club_invite_url(invite=invite).removeprefix("http://testserver"))
    assert refused.status_code == 200 and "vk.me" not in refused.text
