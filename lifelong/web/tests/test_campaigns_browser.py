"""Campaigns in Debian's Chromium, in Russian: a marketer creates a campaign, previews who it
reaches and who is skipped and why, saves it and schedules it; and a sent A/B campaign with a
holdout shows its results, the uplift drawn against the holdout and the winner.

Set LIFELONG_SCREENSHOTS=docs/img to write the results page's screenshot for the docs.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import (
    Arm,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
)
from lifelong.campaigns.services import campaign_create, campaign_schedule
from lifelong.commerce.services import order_upsert
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message, Template
from lifelong.messaging.services import message_engagement_record
from lifelong.web.tests.conftest import staff
from lifelong.web.tests.test_campaigns_ui import shop

pytestmark = pytest.mark.browser


def test_a_marketer_creates_previews_and_schedules_a_campaign(staff_page, live_server):
    data = shop(willing=3, unwilling=2, suppressed=1)
    # One willing customer had this week's three marketing messages: capped, not skipped.
    for n in range(3):
        Message.objects.create(
            customer=data["yes"][0],
            dedupe_key=f"earlier-{n}",
            channel="email",
            purpose="marketing",
            status="sent",
            sent_at=clock.now() - dt.timedelta(hours=n + 1),
        )
    page = staff_page(staff(Role.MARKETER))
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Рассылки").click()
    page.get_by_role("button", name="Новая рассылка").click()

    page.get_by_label("Название").fill("Новые коврики")
    page.get_by_label("Аудитория").select_option(label="Чайные души")
    page.get_by_label("Шаблон", exact=True).select_option(label="Весна (email)")
    page.get_by_label("Контрольная группа, %").fill("0")
    page.get_by_role("button", name="Предпросмотр: кого охватит").click()

    preview = page.locator("#campaign-preview")
    expect(preview.locator('[data-figure="audience"]')).to_have_text("6")
    expect(preview.locator('[data-figure="sendable"]')).to_have_text("3")
    expect(preview.locator('[data-figure="skipped"]')).to_have_text("3")
    no_consent = preview.locator('tr[data-reason="no_consent"]')
    expect(no_consent.locator("td.num")).to_have_text("2")
    expect(preview.locator('tr[data-reason="suppressed"] td.num')).to_have_text("1")
    capped = preview.locator('tr[data-reason="capped"]')
    expect(capped.locator("td.num")).to_have_text("1")
    expect(capped.get_by_role("link")).to_have_count(1)
    # The examples link to the customers' cards.
    expect(no_consent.get_by_role("link")).to_have_count(2)
    assert not Campaign.objects.exists()

    # Once, tomorrow at noon on the shop's clock.
    page.get_by_label("Один раз, в заданные дату и время").check()
    tomorrow = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=12, minute=0)
    page.get_by_label("Дата и время").fill(tomorrow.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Сохранить черновик").click()
    expect(page.get_by_text("Рассылка сохранена как черновик.")).to_be_visible()
    campaign = Campaign.objects.get()
    assert campaign.status == CampaignStatus.DRAFT
    # The draft's page previews it too, when asked, with the counts the form showed.
    page.get_by_role("button", name="Посчитать, кого охватит").click()
    expect(page.locator('#campaign-preview [data-figure="audience"]')).to_have_text("6")
    expect(page.locator('#campaign-preview tr[data-reason="capped"] td.num')).to_have_text("1")

    page.get_by_role("button", name="Запланировать").click()
    expect(page.get_by_text("Запланировано: рассылка начнётся")).to_be_visible()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.segment == data["segment"] and campaign.holdout_percent == 0
    assert campaign.next_run_at == tomorrow.replace(second=0, microsecond=0)
    expect(page.locator('[data-figure="next_run"]')).to_be_visible()


def _clock_to(*, hour: int) -> None:
    """Move simulated time on to the next `hour`:00 UTC (daytime in Moscow for 7 to 17)."""
    now = clock.now()
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    clock.advance(target - now)


def _orders(recipients: list[CampaignRecipient], share: float) -> None:
    """The first `share` of the recipients buy a mat two days after the send."""
    for recipient in recipients[: round(len(recipients) * share)]:
        order_upsert(
            external_id=f"spring-{recipient.pk}",
            customer=recipient.customer,
            total=Decimal("2490"),
            placed_at=recipient.decided_at + dt.timedelta(days=2),
        )


def test_a_sent_ab_campaign_shows_its_uplift_against_the_holdout_and_its_winner(
    staff_page, live_server
):
    # Daytime on the customers' clock: in quiet hours the dispatcher holds the emails back.
    _clock_to(hour=7)
    try:
        data = shop(willing=160, unwilling=0)
        variant_b = Template.objects.create(
            slug="spring-b",
            name="Весна, короткое письмо",
            channel="email",
            subject="Коврики ждут",
            body_text="Новые коврики уже на полках.",
        )
        campaign = campaign_create(
            values={
                "name": "Весенние коврики",
                "segment": data["segment"],
                "template": data["template"],
                "template_b": variant_b,
                "holdout_percent": 20,
                "ab_sample_percent": 40,
                "ab_metric": "clicked",
                "ab_wait_hours": 4,
                "goal_days": 7,
            },
            actor=None,
        )
        campaign_schedule(campaign=campaign, actor=None)
        campaigns_due()
        dispatch_due()
        sample_b = Message.objects.filter(
            pk__in=CampaignRecipient.objects.filter(campaign=campaign, arm=Arm.B).values(
                "message_id"
            )
        ).order_by("pk")
        for message in sample_b[:5]:
            message_engagement_record(message=message, kind="clicked")
        clock.advance(dt.timedelta(hours=5))
        campaigns_due()  # the winner, then the rest
        campaigns_due()
        dispatch_due()
        recipients = list(
            CampaignRecipient.objects.filter(campaign=campaign)
            .select_related("customer")
            .order_by("pk")
        )
        assert all(r.status != RecipientStatus.WAITING for r in recipients)
        clock.advance(dt.timedelta(days=8))
        for arm, share in ((Arm.A, 0.2), (Arm.B, 0.3), (Arm.REST, 0.3), (Arm.HOLDOUT, 0.05)):
            _orders([r for r in recipients if r.arm == arm], share)

        page = staff_page(staff(Role.OWNER))
        page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
        results = page.locator("#results")
        expect(results.locator('[data-figure="uplift"]')).to_have_class("num uplift-good")
        expect(results.locator(".forest-row")).to_have_count(5)  # A, B, rest, all, the axis
        expect(page.locator('[data-figure="winner"]')).to_contain_text("Победил вариант B")
        expect(results.locator("th", has_text="Контрольная группа")).to_be_visible()
        expect(results.locator('[data-figure="revenue-holdout"]')).to_contain_text("₽")
        shots = os.environ.get("LIFELONG_SCREENSHOTS")
        if shots:
            page.set_viewport_size({"width": 1280, "height": 1500})
            page.locator("#sending").evaluate("el => window.scrollTo(0, el.offsetTop - 8)")
            page.screenshot(path=str(Path(shots) / "campaign-results.png"))
    finally:
        clock.reset()
