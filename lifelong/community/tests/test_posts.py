"""Scheduled club posts: due posts go to the club's chat through the outbox and the Telegram
transport (raw request bodies read from a local server speaking the Bot API), once per run."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import pytest

from lifelong import clock
from lifelong.community.models import Club, ClubPost, EarlyAccess, EntryRule, PostSchedule
from lifelong.community.posts import club_post_save, club_posts_send, next_weekly
from lifelong.customers.models import Channel, Purpose
from lifelong.factories import UserFactory
from lifelong.loyalty.models import Tier
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status, Template
from lifelong.messaging.templating import template_validate
from lifelong.messaging.tests.fake_api import FakeApi

pytestmark = pytest.mark.usefixtures("loopback_allowed")

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
CHAT = "-1001234567890"


@pytest.fixture
def loopback_allowed(settings):
    """The Bot API fake listens on 127.0.0.1, which outbound calls refuse unless allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def sent_ok(message_id: int) -> dict:
    return {
        "ok": True,
        "result": {
            "message_id": message_id,
            "chat": {"id": int(CHAT), "title": "Клуб «Праны»", "type": "supergroup"},
            "date": 1772445600,
            "text": "…",
        },
    }


@pytest.mark.django_db
def test_a_weekly_tip_is_posted_to_the_club_chat_once_per_week(api, frozen_time):
    ChannelConfig.objects.create(
        channel=Channel.TELEGRAM,
        transport="telegram",
        config={"bot_token": TOKEN, "base_url": api.url},
        active=True,
    )
    club = Club.objects.create(title="Клуб «Праны»", chat_id=CHAT, entry=EntryRule.STAFF)
    tip = Template.objects.create(
        slug="weekly-tip",
        name="Совет недели",
        channel=Channel.TELEGRAM,
        messenger_text="Совет недели для «{{ club.name }}»: дышите глубже.",
    )
    staff = UserFactory.create()
    now = clock.now()
    post = club_post_save(
        post=None,
        values={
            "club": club,
            "template": tip,
            "schedule": PostSchedule.WEEKLY,
            "once_at": None,
            "weekday": now.weekday(),
            "time": dt.time(10, 0),
            "active": True,
        },
        by=staff,
    )
    first = next_weekly(weekday=now.weekday(), time=dt.time(10, 0), after=now)
    assert post.next_run_at == first

    assert club_posts_send() == 0  # not due yet
    frozen_time.move_to(first + dt.timedelta(minutes=1))
    api.reply(body=sent_ok(501))
    assert club_posts_send() == 1
    assert club_posts_send() == 0  # the same run is not posted twice
    assert dispatch_due() == 1

    [request] = api.requests
    assert (request.method, request.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert json.loads(request.body) == {
        "chat_id": CHAT,
        "text": "Совет недели для «Клуб «Праны»»: дышите глубже.",
    }
    [message] = Message.objects.all()
    assert (message.customer_id, message.purpose, message.status, message.to) == (
        None,
        Purpose.TRANSACTIONAL,
        Status.SENT,
        CHAT,
    )
    post.refresh_from_db()
    assert post.runs == 1
    assert post.next_run_at == first + dt.timedelta(days=7)

    # A week later: the next run, its own message.
    frozen_time.move_to(first + dt.timedelta(days=7, minutes=5))
    api.reply(body=sent_ok(502))
    assert club_posts_send() == 1
    dispatch_due()
    assert len(api.requests) == 2
    assert Message.objects.filter(to=CHAT).count() == 2


@pytest.mark.django_db
def test_a_one_off_announcement_runs_once_and_then_rests(frozen_time):
    ChannelConfig.objects.create(
        channel=Channel.TELEGRAM, transport="telegram", config={"bot_token": TOKEN}, active=True
    )
    club = Club.objects.create(title="Клуб", chat_id=CHAT, entry=EntryRule.STAFF)
    news = Template.objects.create(
        slug="early", name="Ранний доступ", channel=Channel.TELEGRAM, short_text="Скоро!"
    )
    at = clock.now() + dt.timedelta(hours=2)
    post = club_post_save(
        post=None,
        values={
            "club": club,
            "template": news,
            "schedule": PostSchedule.ONCE,
            "once_at": at,
            "weekday": None,
            "time": None,
            "active": True,
        },
        by=UserFactory.create(),
    )
    frozen_time.move_to(at)
    assert club_posts_send() == 1
    post = ClubPost.objects.get(pk=post.pk)
    assert (post.runs, post.next_run_at) == (1, None)
    frozen_time.shift(dt.timedelta(days=8))
    assert club_posts_send() == 0
    assert Message.objects.get().body_text == "Скоро!"


@pytest.mark.django_db
def test_an_early_access_announcement_names_the_windows_ahead(frozen_time):
    ChannelConfig.objects.create(
        channel=Channel.TELEGRAM, transport="telegram", config={"bot_token": TOKEN}, active=True
    )
    club = Club.objects.create(title="Клуб Гуру", chat_id=CHAT, entry=EntryRule.STAFF)
    guru = Tier.objects.create(slug="guru", name="Гуру", position=4, privileges=["early_access"])
    now = clock.now()
    EarlyAccess.objects.create(
        name="Осенняя коллекция",
        collection="Осень",
        tier=guru,
        starts_at=now + dt.timedelta(days=1),
        public_at=now + dt.timedelta(days=8),
    )
    EarlyAccess.objects.create(
        name="Прошлогодняя",
        collection="Зима",
        tier=guru,
        starts_at=now - dt.timedelta(days=30),
        public_at=now - dt.timedelta(days=20),
    )
    news = Template.objects.create(
        slug="early-news",
        name="Ранний доступ",
        channel=Channel.TELEGRAM,
        messenger_text=(
            "{% for w in early_access %}«{{ w.name }}» ({{ w.goods }}) — сначала для «{{ w.tier }}»"
            "{% endfor %}"
        ),
    )
    club_post_save(
        post=None,
        values={
            "club": club,
            "template": news,
            "schedule": PostSchedule.ONCE,
            "once_at": now,
            "weekday": None,
            "time": None,
            "active": True,
        },
        by=UserFactory.create(),
    )
    assert club_posts_send() == 1
    assert Message.objects.get().body_text == "«Осенняя коллекция» (Осень) — сначала для «Гуру»"


def test_a_post_template_using_the_club_and_early_access_passes_the_editors_checks():
    text = (
        "Клуб «{{ club.name }}»: {% for w in early_access %}«{{ w.name }}» — "
        "с {{ w.starts_at|date }}{% endfor %}"
    )
    assert template_validate(subject="", body_text=text, body_html="") == []
