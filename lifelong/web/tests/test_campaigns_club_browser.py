"""A club invitation campaign in Debian's Chromium, in Russian: the marketer picks the club on
the campaign form, the preview counts only the customers the club admits and who are not in
it yet, and the saved campaign invites to that club; an invitation template without a club
is refused on its field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.campaigns.models import Campaign
from lifelong.community.models import ClubMember, MemberStatus
from lifelong.community.tests.clubs_setup import club_make, ladder_make
from lifelong.loyalty.tiers import tier_set_manual
from lifelong.messaging.models import Template
from lifelong.web.tests.conftest import staff
from lifelong.web.tests.test_campaigns_ui import shop

pytestmark = pytest.mark.browser


def test_a_marketer_picks_the_club_a_campaign_invites_to(staff_page, live_server):
    data = shop(willing=4, unwilling=0)
    ladder = ladder_make()
    club = club_make(ladder["guru"])
    anna, vera, in_club, _entry_tier = data["yes"]
    for customer in (anna, vera, in_club):
        tier_set_manual(
            customer_id=customer.pk,
            tier=ladder["guru"],
            until=clock.now().replace(year=clock.now().year + 1),
            actor=None,
            reason="VIP",
        )
    ClubMember.objects.create(
        club=club, customer=in_club, status=MemberStatus.JOINED, joined_at=clock.now()
    )
    Template.objects.create(
        slug="club-welcome",
        name="В клуб",
        channel="email",
        subject="Приглашаем в клуб",
        body_text="Ждём вас в «{{ club.name }}»: {{ club_invite_url }}",
    )
    page = staff_page(staff(Role.MARKETER))
    page.goto(f"{live_server.url}/campaigns/new/")

    page.get_by_label("Название").fill("В клуб Гуру")
    page.get_by_label("Аудитория").select_option(label="Чайные души")
    page.get_by_label("Шаблон", exact=True).select_option(label="В клуб (email)")
    page.get_by_label("Контрольная группа, %").fill("0")
    page.get_by_role("button", name="Сохранить черновик").click()
    # Without a club the invitation's link would be empty: refused on the template.
    expect(page.get_by_text("В шаблоне есть ссылка-приглашение в клуб")).to_be_visible()
    assert not Campaign.objects.exists()

    page.get_by_label("Пригласить в клуб (необязательно)").select_option(label="Клуб Гуру")
    page.get_by_role("button", name="Предпросмотр: кого охватит").click()
    # Four in the segment: one is below the club's tier, one is in the club already.
    expect(page.locator('#campaign-preview [data-figure="audience"]')).to_have_text("2")

    page.get_by_role("button", name="Сохранить черновик").click()
    expect(page.get_by_text("Рассылка сохранена как черновик.")).to_be_visible()
    campaign = Campaign.objects.get()
    assert campaign.club == club
    expect(page.get_by_text("Приглашение в клуб")).to_be_visible()
    page.get_by_role("button", name="Посчитать, кого охватит").click()
    expect(page.locator('#campaign-preview [data-figure="audience"]')).to_have_text("2")
