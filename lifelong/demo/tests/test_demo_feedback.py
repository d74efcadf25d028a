"""The demo's feedback: a filled inbox, survey answers with themes, staff replies, a closed
loop, and new feedback while `lifelong simulate` runs."""

from __future__ import annotations

import pytest

from lifelong import clock
from lifelong.demo.feedback import DELIVERY_TREND, FIX_WEEK
from lifelong.demo.generator import demo_build
from lifelong.demo.reactions import demo_simulate
from lifelong.feedback.fix_results import fix_results
from lifelong.feedback.models import (
    Conversation,
    ConversationStatus,
    Fix,
    Item,
    ItemSource,
    Reply,
    Response,
)

pytestmark = pytest.mark.django_db
SMALL = 200


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo(frozen_time):
    demo_build(customers=SMALL, seed=11)
    yield
    clock.reset()


def test_the_inbox_holds_conversations_with_texts_from_every_kind_of_source(demo):
    conversations = Conversation.objects.filter(items__text__gt="").distinct()
    assert conversations.count() >= 20
    sources = set(Item.objects.values_list("source", flat=True))
    assert {ItemSource.SURVEY, ItemSource.MESSAGE} <= sources
    assert sources & {ItemSource.YANDEX_MAPS, ItemSource.TWO_GIS}
    assert Item.objects.filter(source=ItemSource.MESSAGE, channel="email").exists()


def test_survey_answers_carry_themes_and_delivery_complaints_rise_then_fall(demo):
    responses = Response.objects.all()
    assert responses.count() >= 100
    assert responses.exclude(themes=[]).count() >= 30
    delivery = [r.submitted_at for r in responses if "delivery" in r.themes]
    fix = Fix.objects.get()
    before = [at for at in delivery if at < fix.created_at]
    after = [at for at in delivery if at >= fix.created_at]
    weeks_before, weeks_after = FIX_WEEK, len(DELIVERY_TREND) - FIX_WEEK
    assert len(before) / weeks_before > len(after) / weeks_after


def test_staff_answered_and_closed_conversations_signed_by_name(demo):
    closed = Conversation.objects.filter(status=ConversationStatus.CLOSED)
    assert closed.filter(replies__isnull=False).exists()
    assert Conversation.objects.exclude(status=ConversationStatus.CLOSED).exists()
    reply = Reply.objects.select_related("message").first()
    assert reply is not None and reply.signer.split(",")[0] in {"Ольга Кузнецова", "Анна Лебедева"}
    assert reply.message is not None and reply.signer in reply.message.body_text


def test_the_closed_loop_reached_the_customers_who_complained_about_delivery(demo):
    fix = Fix.objects.get()
    assert fix.theme.slug == "delivery"
    results = fix_results(fix=fix)
    assert results.affected >= 5
    assert results.sent >= 1


def test_simulate_adds_new_feedback_and_staff_keep_answering(demo):
    items, replies = Item.objects.count(), Reply.objects.count()
    simulation = demo_simulate(days=2, seed=3)
    assert Item.objects.count() > items
    assert Reply.objects.count() > replies
    assert simulation.tally["feedback_messages"] >= 1
