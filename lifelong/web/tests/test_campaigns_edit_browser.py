"""Campaign edits and cancels in Debian's Chromium, in Russian: a marketer changes a draft
through the edit form, and cancels a campaign whose throttled messages are still waiting,
after confirming; those messages do not go out."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import CampaignStatus
from lifelong.campaigns.services import campaign_create, campaign_schedule
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message, Status
from lifelong.web.tests.conftest import staff
from lifelong.web.tests.test_campaigns_ui import shop

pytestmark = pytest.mark.browser


def _daytime() -> None:
    """On to the next 10:00 UTC (13:00 in Moscow): the dispatcher sends marketing then."""
    now = clock.now()
    target = now.replace(hour=10, minute=0, second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    clock.advance(target - now)


def _campaign(data, **values):
    return campaign_create(
        values={
            "name": "Новые коврики",
            "segment": data["segment"],
            "template": data["template"],
            "holdout_percent": 0,
            **values,
        },
        actor=None,
    )


def test_a_marketer_edits_a_draft_through_the_form(staff_page, live_server):
    data = shop(willing=2, unwilling=0)
    campaign = _campaign(data)
    page = staff_page(staff(Role.MARKETER))
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    page.get_by_role("button", name="Изменить").click()

    page.get_by_label("Название").fill("Коврики к лету")
    page.get_by_label("Контрольная группа, %").fill("20")
    page.get_by_label("Сообщений в минуту").fill("30")
    page.get_by_role("button", name="Сохранить черновик").click()

    expect(page.get_by_text("Рассылка сохранена.")).to_be_visible()
    expect(page.get_by_role("heading", name="Коврики к лету")).to_be_visible()
    campaign.refresh_from_db()
    assert (campaign.name, campaign.holdout_percent, campaign.per_minute) == (
        "Коврики к лету",
        20,
        30,
    )
    assert campaign.status == CampaignStatus.DRAFT


def test_a_sending_campaign_is_cancelled_after_confirming(staff_page, live_server):
    _daytime()
    try:
        data = shop(willing=4, unwilling=0)
        campaign = campaign_schedule(campaign=_campaign(data, per_minute=1), actor=None)
        campaigns_due()
        dispatch_due()  # one goes now; the throttle holds three for the next minutes
        campaigns_due()
        waiting = Message.objects.filter(status=Status.QUEUED)
        assert waiting.count() == 3
        page = staff_page(staff(Role.MARKETER))
        page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
        expect(page.locator('[data-figure="status"]')).to_have_text("Отправляется")

        yes = page.get_by_role("button", name="Да, отменить")
        expect(yes).to_be_hidden()  # nothing is cancelled by one click
        page.get_by_text("Отменить рассылку").click()
        yes.click()

        expect(page.get_by_text("Рассылка отменена")).to_be_visible()
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.CANCELLED
        assert Message.objects.filter(status=Status.CANCELLED).count() == 3
        assert Message.objects.filter(status=Status.SENT).count() == 1
    finally:
        clock.reset()
