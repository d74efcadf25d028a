"""A VK conversation as a club, through the real Callback API hook and against a local server
that speaks the VK API: joins and leaves are matched to customers by their VK id, messages
counted per member and day without their text, replayed events change nothing, and a member
who no longer qualifies is taken out with messages.removeChatUser while the community is an
admin of the conversation."""

from __future__ import annotations

from typing import Any

import pytest

from lifelong import clock
from lifelong.community.models import (
    BotStatus,
    Club,
    ClubActivity,
    ClubInvite,
    ClubKind,
    ClubMember,
    ClubText,
    EntryRule,
    InviteSource,
    MemberStatus,
)
from lifelong.community.services import club_bot_check, club_invite_prepare, club_members_sweep
from lifelong.community.tests.clubs_setup import days
from lifelong.customers.models import Channel
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.loyalty.tiers import tier_set_manual
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message
from lifelong.messaging.tests.fake_api import FakeApi
from lifelong.messaging.tests.test_vk import GROUP, SECRET, TOKEN, callback

PEER = 2000000007
ANNA = 612444319
ADMIN = 100200300


@pytest.fixture
def vk_api(loopback_allowed):
    with FakeApi() as server:
        server.default.body = {"response": 1}
        yield server


@pytest.fixture
def vk(db, vk_api) -> ChannelConfig:
    return ChannelConfig.objects.create(
        channel=Channel.VK,
        transport="vk",
        config={
            "access_token": TOKEN,
            "group_id": GROUP,
            "confirmation": "693d0ba9",
            "secret": SECRET,
            "base_url": vk_api.url,
        },
    )


@pytest.fixture
def vk_club(ladder) -> Club:
    return Club.objects.create(
        title="Клуб Гуру ВК",
        kind=ClubKind.VK_CHAT,
        chat_id=str(PEER),
        entry=EntryRule.TIER,
        tier=ladder["guru"],
        grace_days=14,
        vk_link="https://vk.me/join/AJQ1d_club",
        bot_status=BotStatus.ADMIN,
    )


@pytest.fixture
def anna(ladder):
    """A top-tier customer for a month (set by staff), with her VK id."""
    customer = CustomerFactory.create(vk_id=str(ANNA))
    tier_set_manual(
        customer_id=customer.pk,
        tier=ladder["guru"],
        until=clock.now() + days(30),
        actor=None,
        reason="Постоянная покупательница",
    )
    return customer


def chat_event(
    event_id: str,
    *,
    from_id: int = ANNA,
    cmid: int = 1,
    text: str = "",
    action: dict[str, Any] | None = None,
    reply_to: int = 0,
    peer_id: int = PEER,
) -> dict[str, Any]:
    """A message_new event from a conversation, as the Callback API sends it."""
    message: dict[str, Any] = {
        "date": int(clock.now().timestamp()),
        "from_id": from_id,
        "id": 0,
        "out": 0,
        "attachments": [],
        "conversation_message_id": cmid,
        "fwd_messages": [],
        "important": False,
        "is_hidden": False,
        "peer_id": peer_id,
        "random_id": 0,
        "text": text,
    }
    if action:
        message["action"] = action
    if reply_to:
        message["reply_message"] = {
            "date": int(clock.now().timestamp()) - 60,
            "from_id": ADMIN,
            "text": "Что посоветуете?",
            "attachments": [],
            "conversation_message_id": reply_to,
            "peer_id": peer_id,
            "id": 0,
        }
    return {
        "group_id": GROUP,
        "type": "message_new",
        "event_id": event_id,
        "v": "5.199",
        "object": {
            "message": message,
            "client_info": {"button_actions": ["text"], "keyboard": True, "lang_id": 0},
        },
        "secret": SECRET,
    }


def joined_by_link(event_id: str, user_id: int = ANNA) -> dict[str, Any]:
    return chat_event(
        event_id, from_id=user_id, action={"type": "chat_invite_user_by_link", "member_id": 0}
    )


def send(client, event: dict[str, Any]) -> bytes:
    response = callback(client, event)
    assert response.status_code == 200
    return response.content


def test_a_join_by_link_is_matched_by_vk_id_and_a_replay_changes_nothing(
    frozen_time, vk, vk_club, anna, client
):
    invite = club_invite_prepare(club=vk_club, customer=anna, source=InviteSource.CAMPAIGN)
    assert invite is not None

    assert send(client, joined_by_link("a1f0c3e9b2d4")) == b"ok"
    assert send(client, joined_by_link("a1f0c3e9b2d4")) == b"ok"

    member = ClubMember.objects.get()
    assert (member.customer_id, member.user_id, member.status) == (
        anna.pk,
        ANNA,
        MemberStatus.JOINED,
    )
    assert member.joined_at == clock.now()
    assert member.invite_id == invite.pk
    assert ClubInvite.objects.get().used_at == clock.now()
    (event,) = Event.objects.filter(type="community_joined")
    assert event.properties == {"club_id": vk_club.pk, "via": "invite"}
    # A conversation is not the inbox: nothing reads as a reply to a message of ours.
    assert not Event.objects.filter(type="message_replied").exists()


def test_someone_added_by_a_member_is_matched_without_an_invitation(
    frozen_time, vk, vk_club, anna, client
):
    send(
        client,
        chat_event("b7", from_id=ADMIN, action={"type": "chat_invite_user", "member_id": ANNA}),
    )
    send(
        client,
        chat_event("b8", from_id=ADMIN, action={"type": "chat_invite_user", "member_id": -GROUP}),
    )

    member = ClubMember.objects.get()
    assert (member.customer_id, member.status) == (anna.pk, MemberStatus.JOINED)
    event = Event.objects.get(type="community_joined")
    assert event.properties["via"] == "linked_chat"


def test_messages_are_counted_per_member_and_day_without_the_text(
    frozen_time, vk, vk_club, anna, client
):
    send(client, joined_by_link("c0"))
    send(client, chat_event("c1", cmid=11, text="Всем привет!"))
    send(client, chat_event("c1", cmid=11, text="Всем привет!"))  # VK repeats it
    send(client, chat_event("c2", cmid=12, text="Согласна", reply_to=10))
    send(client, chat_event("c3", cmid=13, text="", from_id=-GROUP))  # our own community

    (row,) = ClubActivity.objects.all()
    assert (row.messages, row.replies, row.day) == (2, 1, clock.now().date())
    assert not ClubText.objects.exists()
    posts = Event.objects.filter(type="community_post").order_by("occurred_at", "pk")
    assert [p.properties for p in posts] == [
        {"club_id": vk_club.pk, "reply": False},
        {"club_id": vk_club.pk, "reply": True},
    ]
    assert all("Всем" not in str(p.properties) for p in posts)

    Club.objects.filter(pk=vk_club.pk).update(keep_texts=True)
    send(client, chat_event("c4", cmid=14, text="Где купить коврик?"))
    (kept,) = ClubText.objects.all()
    assert (kept.message_id, kept.text) == (14, "Где купить коврик?")


def test_leaving_and_a_removal_by_a_conversation_admin_are_recorded(
    frozen_time, vk, vk_club, anna, client
):
    maria = CustomerFactory.create(vk_id="700800900")
    send(client, joined_by_link("d1"))
    send(client, joined_by_link("d2", user_id=700800900))

    send(client, chat_event("d3", action={"type": "chat_kick_user", "member_id": ANNA}))
    send(
        client,
        chat_event("d4", from_id=ADMIN, action={"type": "chat_kick_user", "member_id": 700800900}),
    )

    anna_row = ClubMember.objects.get(customer=anna)
    maria_row = ClubMember.objects.get(customer=maria)
    assert (anna_row.status, anna_row.left_at) == (MemberStatus.LEFT, clock.now())
    assert (maria_row.status, maria_row.reason) == (MemberStatus.REMOVED, "chat_admin")
    assert Event.objects.filter(type="community_left", customer=anna).count() == 1
    assert Event.objects.filter(type="community_removed", customer=maria).count() == 1


def test_an_unknown_conversation_and_private_messages_keep_their_ways(frozen_time, vk, client):
    customer = CustomerFactory.create(vk_id=str(ANNA))
    assert send(client, chat_event("e1", text="Привет", peer_id=2000000099)) == b"ok"
    assert not ClubMember.objects.exists()

    private = chat_event("e2", text="Когда доставка?", peer_id=ANNA)
    assert send(client, private) == b"ok"
    assert Event.objects.get(type="message_replied").customer_id == customer.pk


def test_a_downgrade_removes_the_member_with_remove_chat_user_and_a_polite_message(
    frozen_time, vk, vk_api, vk_club, anna, client
):
    send(client, joined_by_link("f1"))
    frozen_time.shift(days(31))  # the tier set by hand ends
    assert club_members_sweep() == 0
    frozen_time.shift(days(14))
    assert club_members_sweep() == 1
    assert club_members_sweep() == 0

    (call,) = vk_api.at("/method/messages.removeChatUser")
    assert call.form() == {
        "access_token": TOKEN,
        "v": "5.199",
        "chat_id": "7",
        "user_id": str(ANNA),
    }
    member = ClubMember.objects.get()
    assert (member.status, member.reason) == (MemberStatus.REMOVED, "tier")

    # VK tells the community about its own removal: nothing changes.
    send(
        client,
        chat_event("f2", from_id=-GROUP, action={"type": "chat_kick_user", "member_id": ANNA}),
    )
    member.refresh_from_db()
    assert member.reason == "tier"
    assert Event.objects.filter(type="community_removed").count() == 1

    (message,) = Message.objects.filter(dedupe_key__startswith="club-removed:")
    assert message.channel == Channel.VK
    vk_api.reply(body={"response": 16950})
    dispatch_due()
    sent = vk_api.at("/method/messages.send")[-1].form()
    assert sent["peer_id"] == str(ANNA) and "Клуб Гуру ВК" in sent["message"]


def test_without_admin_rights_members_wait_until_the_community_is_made_an_admin(
    frozen_time, vk, vk_api, vk_club, anna, client
):
    send(client, joined_by_link("g1"))
    frozen_time.shift(days(46))
    club_members_sweep()
    frozen_time.shift(days(15))
    vk_api.reply(body={"error": {"error_code": 925, "error_msg": "You are not admin of this chat"}})

    assert club_members_sweep() == 0
    assert ClubMember.objects.get().status == MemberStatus.JOINED
    vk_club.refresh_from_db()
    assert vk_club.bot_status == BotStatus.MEMBER
    calls = len(vk_api.requests)
    assert club_members_sweep() == 0
    assert len(vk_api.requests) == calls  # no call VK would refuse again

    vk_api.reply(
        body={
            "response": {
                "count": 1,
                "items": [
                    {
                        "peer": {"id": PEER, "type": "chat", "local_id": 7},
                        "chat_settings": {
                            "owner_id": ADMIN,
                            "title": "Клуб Гуру ВК",
                            "state": "in",
                            "admin_ids": [ADMIN, -GROUP],
                            "members_count": 12,
                        },
                    }
                ],
            }
        }
    )
    assert club_bot_check(club=vk_club) == []
    assert vk_api.last.form()["peer_ids"] == str(PEER)
    vk_club.refresh_from_db()
    assert (vk_club.bot_status, vk_club.bot_can_restrict) == (BotStatus.ADMIN, True)
    assert club_members_sweep() == 1
    assert ClubMember.objects.get().status == MemberStatus.REMOVED
