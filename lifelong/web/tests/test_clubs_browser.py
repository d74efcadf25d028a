"""The club pages in a real browser (Debian's Chromium), in Russian: the owner sets up a club
for the top tier, invites a customer, checks the bot's rights and takes a member out, with
the Bot API answered by a local fake."""

from __future__ import annotations

import ipaddress

import pytest
from playwright.sync_api import Page, expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.community.models import Club, ClubInvite, ClubMember, MemberStatus
from lifelong.community.tests.clubs_setup import BOT_ID, TOKEN, bot_set_up, ladder_make
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.models import ChannelConfig
from lifelong.messaging.tests.fake_api import FakeApi

pytestmark = pytest.mark.browser


@pytest.fixture
def telegram_api(settings, transactional_db):
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)
    with FakeApi() as server:
        server.default.body = {"ok": True, "result": True}
        bot_set_up(server.url)
        yield server


@pytest.fixture
def owner_page(staff_page) -> Page:
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    return staff_page(owner)


def test_the_owner_sets_up_a_club_invites_and_takes_a_member_out(
    owner_page, live_server, telegram_api
):
    ladder_make()
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    vera = CustomerFactory.create(first_name="Вера", last_name="Соколова", email="vera@example.ru")
    consent_record(
        customer=vera, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    page = owner_page
    page.goto(f"{live_server.url}/community/clubs/")
    page.get_by_role("button", name="Новый клуб").click()

    form = page.locator("#club-form")
    form.locator("input[name=title]").fill("Клуб Гуру")
    form.locator("input[name=chat_id]").fill("-1001987654321")
    form.locator("select[name=entry]").select_option("tier")
    form.locator("button[type=submit]").click()
    # The tier is missing: the form comes back with the reason, nothing saved.
    expect(page.locator("#club-form")).to_contain_text("Выберите уровень")
    assert not Club.objects.exists()
    page.locator("#club-form select[name=tier]").select_option(label="Гуру")
    page.locator("#club-form button[type=submit]").click()

    expect(page.get_by_role("heading", name="Клуб Гуру")).to_be_visible()
    expect(page.locator("body")).to_contain_text("Клуб сохранён.")
    club = Club.objects.get()

    invite = page.locator("#club-invite")
    invite.locator("input[name=customer]").fill("nobody@example.ru")
    invite.locator("button[type=submit]").click()
    expect(page.locator("#club-invite")).to_contain_text("Нет покупателя с таким номером")
    page.locator("#club-invite input[name=customer]").fill("vera@example.ru")
    page.locator("#club-invite button[type=submit]").click()
    expect(page.locator("#members")).to_contain_text("Соколова Вера")
    expect(page.locator("#members")).to_contain_text("ещё не открыто")
    assert ClubInvite.objects.get().customer_id == vera.pk

    telegram_api.reply(
        body={
            "ok": True,
            "result": {
                "user": {"id": BOT_ID, "is_bot": True, "first_name": "Прана"},
                "status": "administrator",
                "can_invite_users": True,
                "can_restrict_members": True,
            },
        }
    )
    page.locator("#bot-check button").click()
    expect(page.locator("#bot")).to_contain_text("администратор")
    expect(page.locator("body")).to_contain_text("Права бота проверены.")

    anna = CustomerFactory.create(first_name="Анна", last_name="Петрова")
    ClubMember.objects.create(
        club=club, customer=anna, user_id=55501, status=MemberStatus.JOINED, joined_at=clock.now()
    )
    page.goto(f"{live_server.url}/community/clubs/{club.pk}/")
    row = page.locator("#members tr", has_text="Петрова Анна")
    row.get_by_role("button", name="Убрать из клуба").click()
    expect(page.locator("body")).to_contain_text("Участник убран из клуба.")
    page.get_by_role("link", name="удалены: 1").click()
    expect(page.locator("#members")).to_contain_text("удалён сотрудником")
    assert [r.json()["user_id"] for r in telegram_api.at(f"/bot{TOKEN}/banChatMember")] == [55501]
