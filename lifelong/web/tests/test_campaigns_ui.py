"""Campaign pages through the Django client: the form (preview saves nothing, errors save
nothing), the actions and who may take them, the progress block, and the list's queries."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import AuditLog, Role
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import Campaign, CampaignStatus, Recurrence, SkipReason
from lifelong.campaigns.services import campaign_create, campaign_schedule
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Suppression, Template
from lifelong.segments.models import Segment, SegmentMembership, Stage
from lifelong.web.forms_campaigns import stage_rules
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db
FIGURE = re.compile(r'data-figure="([a-z0-9_-]+)"[^>]*>([^<]*)<')


def figures(html: str) -> dict[str, str]:
    return {name: text.strip() for name, text in FIGURE.findall(html)}


def with_consent(customer: Customer, channel: str = "email") -> Customer:
    consent_record(
        customer=customer, channel=channel, purpose=Purpose.MARKETING, granted=True, source="t"
    )
    return customer


def shop(*, willing: int = 3, unwilling: int = 1, suppressed: int = 0) -> dict[str, Any]:
    """A shop with sandbox e-mail, a template and a segment: `willing` customers said yes to
    marketing e-mail, `unwilling` did not, `suppressed` said yes but their address bounced."""
    ChannelConfig.objects.update_or_create(
        channel="email", defaults={"transport": "sandbox", "active": True}
    )
    template = Template.objects.create(
        slug="spring",
        name="Весна",
        channel="email",
        subject="Весна, {{ customer.first_name }}",
        body_text="Новые коврики уже на полках.",
    )
    yes = [with_consent(CustomerFactory.create()) for _ in range(willing)]
    no = CustomerFactory.create_batch(unwilling)
    bounced = [with_consent(CustomerFactory.create()) for _ in range(suppressed)]
    for customer in bounced:
        Suppression.objects.create(channel="email", address=customer.email, reason="bounce")
    segment = Segment.objects.create(name="Чайные души", rules={"op": "and", "rules": []})
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=segment, customer=c) for c in [*yes, *no, *bounced]]
    )
    return {"template": template, "segment": segment, "yes": yes, "no": no, "bounced": bounced}


def form_data(data: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    posted = {
        "name": "Новые коврики",
        "audience": f"segment:{data['segment'].pk}",
        "channel": "email",
        "template": data["template"].pk,
        "topic": "",
        "holdout_percent": "0",
        "template_b": "",
        "ab_sample_percent": "20",
        "ab_metric": "clicked",
        "ab_wait_hours": "4",
        "window_start": "",
        "window_end": "",
        "per_minute": "0",
        "goal_event": "order_placed",
        "goal_days": "7",
        "when": "now",
        "send_at": "",
        "send_time": "10:00",
        "weekday": "0",
        "nth": "1",
        "dates_text": "",
        "recur_until": "",
        "description": "",
    }
    posted.update(overrides)
    return posted


@pytest.fixture
def marketer_client(db) -> Client:
    return logged_in(staff(Role.MARKETER))


def test_the_form_opens_with_sensible_defaults(marketer_client):
    shop()
    response = marketer_client.get(reverse("web:campaign_new"))
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'value="now"[^>]*checked', html)
    assert 'name="holdout_percent" value="10"' in html
    assert "Чайные души" in html
    # Every stage is an audience too, and the preferred channel is the default.
    for label in Stage.labels:
        assert str(label) in html


def test_preview_counts_the_audience_and_the_skipped_and_saves_nothing(marketer_client):
    data = shop(willing=3, unwilling=2, suppressed=1)
    response = marketer_client.post(
        reverse("web:campaign_new"), form_data(data, preview="1", language="ru")
    )
    assert response.status_code == 200
    found = figures(response.content.decode())
    assert found["audience"] == "6"
    assert found["sendable"] == "3"
    assert found["skipped"] == "3"
    assert found[f"reason-{SkipReason.NO_CONSENT}"] == "2"
    assert found[f"reason-{SkipReason.SUPPRESSED}"] == "1"
    assert found["reason-holdout"] == "0"
    # Each reason names a few customers, linked to their cards.
    html = response.content.decode()
    for customer in data["no"]:
        assert reverse("web:customer", args=[customer.pk]) in html
    assert not Campaign.objects.exists()


def test_saving_makes_a_draft_and_audits_it(marketer_client):
    data = shop()
    response = marketer_client.post(reverse("web:campaign_new"), form_data(data, save="1"))
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("web:campaign", args=[campaign.pk])
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.segment == data["segment"] and campaign.rules == {}
    assert campaign.recurrence == Recurrence.ONCE and campaign.send_at is None
    assert AuditLog.objects.filter(action="campaign.create", object_id=str(campaign.pk)).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"audience": ""}, "audience", "Выберите, кто получит рассылку."),
        ({"name": ""}, "name", "Обязательное поле."),
        ({"window_start": "09:00"}, "window_end", "Укажите оба конца окна отправки"),
        ({"when": "at", "send_at": "2020-01-01T10:00"}, "send_at", "Этот момент уже прошёл"),
        ({"when": "at"}, "send_at", "Укажите дату и время отправки."),
        ({"when": "dates", "dates_text": "8.03, 31.02"}, "dates_text", "такого дня нет"),
        ({"when": "dates"}, "dates_text", "Укажите хотя бы одну дату."),
        ({"channel": "sms"}, "channel", "Этот канал не настроен"),
        ({"holdout_percent": "60"}, "holdout_percent", "меньше либо равно 50"),
        ({"template_b": "same"}, "template_b", "Для варианта B нужен шаблон, отличный от A"),
    ],
)
def test_a_mistake_is_named_on_its_field_and_nothing_is_saved(
    marketer_client, overrides, field, message
):
    data = shop()
    if overrides.get("template_b") == "same":
        overrides = {"template_b": data["template"].pk}
    response = marketer_client.post(
        reverse("web:campaign_new"), form_data(data, save="1", **overrides)
    )
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors.get(field, []))
    assert "Ничего не сохранено" in response.content.decode()
    assert not Campaign.objects.exists()


def test_the_schedule_choices_are_saved_as_the_services_store_them(marketer_client, frozen_time):
    data = shop()
    monthly = form_data(data, save="1", when="monthly", weekday="0", nth="1", send_time="11:30")
    marketer_client.post(reverse("web:campaign_new"), monthly)
    dates = form_data(data, save="1", name="Праздники", when="dates", dates_text="19.3, 8.03")
    marketer_client.post(reverse("web:campaign_new"), dates)
    at = form_data(data, save="1", name="Позже", when="at", send_at="2026-03-05T12:00")
    marketer_client.post(reverse("web:campaign_new"), at)
    stage = form_data(data, save="1", name="Спящие", audience=f"stage:{Stage.SLEEPING}")
    marketer_client.post(reverse("web:campaign_new"), stage)
    everyone = form_data(data, save="1", name="Всем", audience="everyone")
    marketer_client.post(reverse("web:campaign_new"), everyone)

    saved = {c.name: c for c in Campaign.objects.all()}
    first_monday = saved["Новые коврики"]
    assert (first_monday.recurrence, first_monday.weekday, first_monday.nth) == ("monthly", 0, 1)
    assert first_monday.send_time == dt.time(11, 30)
    assert saved["Праздники"].recur_dates == ["03-08", "03-19"]
    # The form's date-time is on the shop's clock (Moscow): 12:00 there is 09:00 UTC.
    assert saved["Позже"].send_at == dt.datetime(2026, 3, 5, 9, tzinfo=dt.UTC)
    assert saved["Спящие"].segment is None
    assert saved["Спящие"].rules == stage_rules(Stage.SLEEPING)
    assert saved["Всем"].segment is None and saved["Всем"].rules == {"op": "and", "rules": []}
    # Editing shows each audience as it was chosen.
    for name, chosen in (("Спящие", f"stage:{Stage.SLEEPING}"), ("Всем", "everyone")):
        page = marketer_client.get(reverse("web:campaign_edit", args=[saved[name].pk]))
        assert f'value="{chosen}" selected' in page.content.decode()


def test_edit_changes_a_draft_and_keeps_its_audience(marketer_client):
    data = shop()
    campaign = campaign_create(
        values={"name": "Весна", "segment": data["segment"], "template": data["template"]},
        actor=None,
    )
    url = reverse("web:campaign_edit", args=[campaign.pk])
    page = marketer_client.get(url)
    assert page.status_code == 200
    assert f'value="segment:{data["segment"].pk}" selected' in page.content.decode()
    response = marketer_client.post(url, form_data(data, save="1", name="Весна-2"))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Весна-2"


def test_a_started_campaign_cannot_be_edited(marketer_client, frozen_time):
    data = shop()
    campaign = campaign_create(
        values={"name": "Весна", "segment": data["segment"], "template": data["template"]},
        actor=None,
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    response = marketer_client.post(
        reverse("web:campaign_edit", args=[campaign.pk]), form_data(data, name="Другое")
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Весна"


def _draft(data: dict[str, Any], **values: Any) -> Campaign:
    return campaign_create(
        values={
            "name": "Весна",
            "segment": data["segment"],
            "template": data["template"],
            "holdout_percent": 0,
            **values,
        },
        actor=None,
    )


def test_the_draft_page_previews_and_schedule_then_back_to_draft(marketer_client, frozen_time):
    data = shop(willing=2, unwilling=1)
    campaign = _draft(data, send_at=clock.now() + dt.timedelta(days=1))
    url = reverse("web:campaign", args=[campaign.pk])
    # The page offers the preview; it reads the audience only when asked.
    plain = marketer_client.get(url).content.decode()
    assert 'hx-get="?preview=1"' in plain and "audience" not in figures(plain)
    found = figures(marketer_client.get(url, {"preview": "1"}).content.decode())
    assert (found["audience"], found["sendable"], found["skipped"]) == ("3", "2", "1")

    status = reverse("web:campaign_status", args=[campaign.pk])
    response = marketer_client.post(status, {"action": "schedule"}, follow=True)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.next_run_at == clock.now() + dt.timedelta(days=1)
    assert "Запланировано: рассылка начнётся" in response.content.decode()

    marketer_client.post(status, {"action": "unschedule"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and campaign.next_run_at is None


def test_cancel_stops_a_scheduled_campaign_and_a_wrong_action_changes_nothing(marketer_client):
    data = shop()
    campaign = _draft(data)
    status = reverse("web:campaign_status", args=[campaign.pk])
    response = marketer_client.post(status, {"action": "cancel"}, follow=True)
    assert "Сейчас эта рассылка так не может." in response.content.decode()
    campaign_schedule(campaign=campaign, actor=None)
    marketer_client.post(status, {"action": "cancel"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    marketer_client.post(status, {"action": "schedule"})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ANALYST])
def test_only_those_who_manage_marketing_may_send(role):
    data = shop()
    campaign = _draft(data)
    client = logged_in(staff(role))
    status = reverse("web:campaign_status", args=[campaign.pk])
    assert client.post(status, {"action": "schedule"}).status_code == 403
    assert client.get(reverse("web:campaign_new")).status_code == 403
    assert client.post(reverse("web:campaign_new"), form_data(data, save="1")).status_code == 403
    # They may read it, without the buttons or the preview.
    page = client.get(reverse("web:campaign", args=[campaign.pk]))
    assert page.status_code == 200
    assert status not in page.content.decode()
    assert "campaign-preview" not in page.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_actions_take_post_only(marketer_client):
    campaign = _draft(shop())
    response = marketer_client.get(reverse("web:campaign_status", args=[campaign.pk]))
    assert response.status_code == 405


def test_progress_shows_how_far_the_run_is_and_stops_polling_when_done(
    marketer_client, frozen_time
):
    data = shop(willing=3, unwilling=1)
    campaign = _draft(data)
    campaign_schedule(campaign=campaign, actor=None)
    url = reverse("web:campaign_progress", args=[campaign.pk])
    # Started, no batch decided yet: the block asks for itself again in two seconds.
    campaigns_due(budget_seconds=0)
    started = marketer_client.get(url).content.decode()
    assert figures(started)["progress"] == "решено по 0 из 4 клиентов"
    assert 'hx-trigger="every 2s"' in started
    campaigns_due()
    response = marketer_client.get(url)
    html = response.content.decode()
    assert figures(html)["progress"] == "решено по 4 из 4 клиентов"
    assert '<progress value="100"' in html
    assert "hx-trigger" not in html


def test_the_list_shows_each_campaign_in_a_fixed_number_of_queries(
    marketer_client, frozen_time, django_assert_num_queries
):
    data = shop()
    first = _draft(data, name="Первая", holdout_percent=50)
    campaign_schedule(campaign=first, actor=None)
    campaigns_due()
    dispatch_due()
    url = reverse("web:campaigns")
    with CaptureQueriesContext(connection) as few:
        marketer_client.get(url)
    for n in range(4):
        campaign = _draft(data, name=f"Ещё {n}", holdout_percent=20)
        campaign_schedule(campaign=campaign, actor=None)
    _draft(data, name="Черновик", rules=stage_rules(Stage.NEW), segment=None)
    _draft(data, name="Всем", rules={"op": "and", "rules": []}, segment=None)
    campaigns_due()
    dispatch_due()
    with django_assert_num_queries(len(few.captured_queries)):
        response = marketer_client.get(url)
    html = response.content.decode()
    assert html.count('class="cust-name"') == 7
    assert html.count("Сегмент «Чайные души»") == 5
    assert "Клиенты на этапе «Новый»" in html
    assert '<td class="hide-sm">Все клиенты</td>' in html


def test_the_pages_read_in_english_too(marketer_client, frozen_time):
    data = shop(willing=2, unwilling=1)
    campaign = _draft(data, recurrence=Recurrence.MONTHLY, weekday=2, nth=-1, send_time=dt.time(11))
    marketer_client.cookies["django_language"] = "en"
    page = marketer_client.get(
        reverse("web:campaign", args=[campaign.pk]), {"preview": "1"}
    ).content.decode()
    assert "every month on the last Wednesday at 11:00" in page
    assert "Who it reaches" in page and "No marketing consent on the channel" in page
    listed = marketer_client.get(reverse("web:campaigns")).content.decode()
    assert "Segment «Чайные души»" in listed
    marketer_client.cookies["django_language"] = "ru"
    page = marketer_client.get(reverse("web:campaign", args=[campaign.pk])).content.decode()
    assert "каждый месяц в последнюю среду, в 11:00" in page
