"""A VK club's page in a real browser (Debian's Chromium), in Russian: the owner checks the
community's rights in the conversation and takes a member out, with the VK API answered by a
local fake in its own wire format."""

from __future__ import annotations

import ipaddress

import pytest
from playwright.sync_api import Page, expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.community.models import (
    BotStatus,
    Club,
    ClubKind,
    ClubMember,
    EntryRule,
    MemberStatus,
)
from lifelong.customers.models import Channel
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.models import ChannelConfig
from lifelong.messaging.tests.fake_api import FakeApi

pytestmark = pytest.mark.browser

GROUP = 214167102
PEER = 2000000007


@pytest.fixture
def vk_api(settings, transactional_db):
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)
    with FakeApi() as server:
        server.default.body = {"response": 1}
        ChannelConfig.objects.create(
            channel=Channel.VK,
            transport="vk",
            config={"access_token": "vk1.a.token", "group_id": GROUP, "base_url": server.url},
        )
        yield server


def test_the_owner_checks_the_communitys_rights_and_takes_a_member_out(
    staff_page, live_server, vk_api
):
    page: Page = staff_page(UserFactory.create(username="olga", role=Role.OWNER, password=None))
    club = Club.objects.create(
        title="Беседа Гуру",
        kind=ClubKind.VK_CHAT,
        chat_id=str(PEER),
        entry=EntryRule.OPEN,
        vk_link="https://vk.me/join/AJQ1d_club",
        bot_status=BotStatus.MEMBER,
    )
    anna = CustomerFactory.create(first_name="Анна", last_name="Петрова", vk_id="612444319")
    ClubMember.objects.create(
        club=club,
        customer=anna,
        user_id=612444319,
        status=MemberStatus.JOINED,
        joined_at=clock.now(),
    )
    page.goto(f"{live_server.url}/community/clubs/{club.pk}/")
    expect(page.locator("#bot")).to_contain_text("не администратор")

    vk_api.reply(
        body={
            "response": {
                "count": 1,
                "items": [
                    {
                        "peer": {"id": PEER, "type": "chat", "local_id": 7},
                        "chat_settings": {"owner_id": 5550001, "admin_ids": [-GROUP]},
                    }
                ],
            }
        }
    )
    page.locator("#bot-check button").click()
    expect(page.locator("body")).to_contain_text("Права сообщества проверены.")
    expect(page.locator("#bot")).not_to_contain_text("не администратор")
    assert vk_api.last.form()["peer_ids"] == str(PEER)

    row = page.locator("#members tr", has_text="Петрова Анна")
    row.get_by_role("button", name="Убрать из клуба").click()
    expect(page.locator("body")).to_contain_text("Участник убран из клуба.")
    (removal,) = vk_api.at("/method/messages.removeChatUser")
    assert (removal.form()["chat_id"], removal.form()["user_id"]) == ("7", "612444319")
    assert ClubMember.objects.get().status == MemberStatus.REMOVED
