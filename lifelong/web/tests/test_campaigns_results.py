"""A campaign's results page: sent through the real dispatcher, read back per arm, with the
uplift against the holdout printed as the one results function says, immature recipients
apart, and the A/B winner with the figures it was picked on."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import Arm, CampaignRecipient, CampaignRun, RecipientStatus
from lifelong.campaigns.results import campaigns_results, runs_results
from lifelong.campaigns.services import campaign_create, campaign_schedule
from lifelong.events.models import Event
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message, Template
from lifelong.messaging.services import message_engagement_record
from lifelong.web.journey_results import result_texts
from lifelong.web.tests.conftest import logged_in, staff
from lifelong.web.tests.test_campaigns_ui import figures, shop

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def _converted(recipients: list[CampaignRecipient], share: float) -> int:
    """The first `share` of these recipients place an order a day after the send."""
    chosen = recipients[: round(len(recipients) * share)]
    for recipient in chosen:
        Event.objects.create(
            customer_id=recipient.customer_id,
            type="order_placed",
            occurred_at=recipient.decided_at + DAY,
        )
    return len(chosen)


def test_the_results_show_the_uplift_against_the_holdout_once_windows_close(frozen_time):
    data = shop(willing=80, unwilling=0)
    campaign = campaign_create(
        values={
            "name": "Новые коврики",
            "segment": data["segment"],
            "template": data["template"],
            "holdout_percent": 50,
            "goal_days": 7,
        },
        actor=None,
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    dispatch_due()
    recipients = list(CampaignRecipient.objects.filter(campaign=campaign).order_by("pk"))
    treated = [r for r in recipients if r.status == RecipientStatus.QUEUED]
    held = [r for r in recipients if r.status == RecipientStatus.HOLDOUT]
    assert treated and held
    converted = _converted(treated, 0.5)
    _converted(held, 0.1)
    analyst = staff(Role.ANALYST)
    url = reverse("web:campaign", args=[campaign.pk])

    def read(address: str) -> str:
        # Logged in afresh at each moment: days pass between the reads.
        return logged_in(analyst).get(address).content.decode()

    # Three days in, every goal window is open: nothing to compare yet, all in progress.
    frozen_time.shift(3 * DAY)
    young = figures(read(url))
    assert young["uplift"] == "—"
    assert young["in_progress"] == f"в процессе: {len(recipients)}"
    assert young["conversion-a"] == young["revenue-a"] == "—"
    assert young["open-a"] == str(len(treated))
    assert young["sent-a"] == str(len(treated))

    # A week later every window has closed: the page prints what the one function says.
    frozen_time.shift(7 * DAY)
    page = read(url)
    shown = figures(page)
    texts = result_texts(campaigns_results([campaign.pk], clock.now())[campaign.pk].conversion)
    assert texts.verdict == "good"
    assert shown["treated"] == texts.treated
    assert texts.treated_count == f"{converted} из {len(treated)}"
    assert shown["conversion-a"].startswith(texts.treated)
    assert shown["holdout"] == texts.holdout
    assert shown["uplift"] == texts.uplift
    assert shown["interval"] == texts.interval
    assert "in_progress" not in shown
    assert shown["recipients-holdout"] == str(len(held))
    assert shown["sent-holdout"] == "0"
    # The uplift is drawn on the forest plot with its axis in percentage points.
    assert 'class="forest-ci good"' in page
    assert "разница с контрольной группой, п. п." in page

    # The list prints the same figures.
    listed = figures(read(reverse("web:campaigns")))
    assert listed[f"uplift-{campaign.pk}"] == texts.uplift
    assert listed[f"sent-{campaign.pk}"] == str(len(treated))


def test_an_ab_test_shows_its_winner_and_why(frozen_time):
    data = shop(willing=40, unwilling=0)
    variant_b = Template.objects.create(
        slug="spring-b", name="Весна Б", channel="email", subject="Б", body_text="Вариант Б"
    )
    campaign = campaign_create(
        values={
            "name": "Тема письма",
            "segment": data["segment"],
            "template": data["template"],
            "template_b": variant_b,
            "holdout_percent": 0,
            "ab_sample_percent": 50,
            "ab_metric": "clicked",
            "ab_wait_hours": 4,
        },
        actor=None,
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    dispatch_due()
    client = logged_in(staff(Role.MARKETER))
    url = reverse("web:campaign", args=[campaign.pk])
    waiting = client.get(url).content.decode()
    assert "Победитель будет выбран по показателю «переходы»" in waiting

    b_messages = Message.objects.filter(
        pk__in=CampaignRecipient.objects.filter(campaign=campaign, arm=Arm.B).values("message_id")
    ).order_by("pk")
    for message in b_messages[:3]:
        message_engagement_record(message=message, kind="clicked")
    frozen_time.shift(dt.timedelta(hours=5))
    campaigns_due()
    run = CampaignRun.objects.get(campaign=campaign)
    assert run.winner == Arm.B
    shown = figures(logged_in(staff(Role.OWNER)).get(url).content.decode())
    n_b = run.winner_figures["b"]["n"]
    n_a = run.winner_figures["a"]["n"]
    assert shown["winner"].startswith("Победил вариант B по показателю «переходы»: 3 из ")
    assert f"3 из {n_b}" in shown["winner"] and f"0 из {n_a}" in shown["winner"]


def test_each_send_of_a_recurring_campaign_has_its_own_results(frozen_time):
    # 10:00 UTC, 13:00 in Moscow: the daily send goes in the customers' daytime.
    data = shop(willing=40, unwilling=0)
    campaign = campaign_create(
        values={
            "name": "Чай дня",
            "segment": data["segment"],
            "template": data["template"],
            "holdout_percent": 50,
            "goal_days": 2,
            "recurrence": "daily",
            "send_time": dt.time(13, 30),
        },
        actor=None,
    )
    campaign_schedule(campaign=campaign, actor=None)
    frozen_time.shift(dt.timedelta(minutes=30))
    for _day in range(2):
        campaigns_due()
        dispatch_due()
        frozen_time.shift(DAY)
    first, second = CampaignRun.objects.filter(campaign=campaign).order_by("number")
    treated_first = list(
        CampaignRecipient.objects.filter(run=first, status=RecipientStatus.QUEUED).order_by("pk")
    )
    _converted(treated_first, 0.5)
    frozen_time.shift(3 * DAY)

    page = logged_in(staff(Role.ANALYST)).get(reverse("web:campaign", args=[campaign.pk]))
    html = page.content.decode()
    per_run = runs_results([first.pk, second.pk], clock.now())
    for run in (first, second):
        row = re.search(rf'<tr data-run="{run.number}">(.*?)</tr>', html, re.S)
        assert row is not None
        shown = dict(re.findall(r'data-figure="(run-[a-z]+)">([^<]*)<', row[1]))
        texts = result_texts(per_run[run.pk].conversion)
        assert shown["run-sent"] == str(per_run[run.pk].treated.sent) == str(run.queued)
        assert shown["run-treated"] == texts.treated
        assert shown["run-uplift"] == texts.uplift
    assert (
        result_texts(per_run[first.pk].conversion).treated
        != result_texts(per_run[second.pk].conversion).treated
    )
