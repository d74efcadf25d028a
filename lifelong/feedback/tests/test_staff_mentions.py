"""Staff named in what customers say are kept on the inbox item (with the themes, in the
same place), follow an edit of a survey answer, and count as praise on the Insights page
only when the item is positive."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback.inbox import item_record
from lifelong.feedback.insights import praised_staff
from lifelong.feedback.models import Item, ItemSource
from lifelong.feedback.surveys import questions_of, response_submit, survey_invite_create
from lifelong.feedback.tests.test_insights import MONDAY, at
from lifelong.feedback.tests.test_surveys import nps_survey

pytestmark = pytest.mark.django_db

PRAISE = "Спасибо Ольге, всё быстро объяснила!"
LAST_WEEK = MONDAY - dt.timedelta(days=7)


@pytest.fixture
def olga(db):
    return UserFactory.create(username="olga", first_name="Ольга", last_name="Петрова")


@pytest.fixture
def irina(db):
    return UserFactory.create(username="irina", first_name="Ирина")


def said(text: str, *, key: str, when: dt.datetime | None = None) -> Item:
    item, created = item_record(
        source=ItemSource.MESSAGE,
        source_key=key,
        customer=CustomerFactory.create(),
        text=text,
        channel="telegram",
        received_at=when,
    )
    assert created
    return item


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        (PRAISE, "positive"),
        ("Ольга нагрубила по телефону, ужасно", "negative"),
        ("Общалась с Ольгой по заказу", "neutral"),
    ],
    ids=["praise", "complaint", "neutral"],
)
def test_the_item_keeps_the_staff_it_names_whatever_its_sentiment(olga, irina, text, sentiment):
    item = said(text, key="tg-1")
    assert item.sentiment == sentiment
    assert list(item.mentioned_staff.all()) == [olga]
    assert list(Item.objects.filter(mentioned_staff=olga)) == [item]


def test_an_inactive_user_or_a_text_naming_no_one_stores_nobody(olga):
    olga.is_active = False
    olga.save(update_fields=["is_active"])
    assert not said(PRAISE, key="tg-1").mentioned_staff.exists()
    olga.is_active = True
    olga.save(update_fields=["is_active"])
    assert not said("Курьер опоздал на два дня", key="tg-2").mentioned_staff.exists()


def test_an_edited_survey_answer_is_tagged_again_with_whom_it_names(olga, irina, frozen_time):
    survey = nps_survey()
    questions = questions_of(survey)
    nps = questions[0]
    praise = next(q for q in questions[1:] if q.shown_after(10))
    complaint = next(q for q in questions[1:] if q.shown_after(2))
    invite = survey_invite_create(
        survey=survey, customer=CustomerFactory.create(), key="a", channel="email"
    )
    response, _ = response_submit(invite=invite, answers={nps.pk: 10, praise.pk: PRAISE})
    item = Item.objects.get(response=response)
    assert list(item.mentioned_staff.all()) == [olga] and item.sentiment == "positive"

    edited = {nps.pk: 2, complaint.pk: "Ирина так и не перезвонила"}
    response, created = response_submit(invite=invite, answers=edited)
    assert not created
    item.refresh_from_db()
    assert Item.objects.filter(response=response).count() == 1
    assert item.text == "Ирина так и не перезвонила" and item.score == 2
    assert item.sentiment == "negative"
    assert list(item.mentioned_staff.all()) == [irina]
    assert praised_staff(start=MONDAY) == []


def test_praise_counts_only_positive_items_of_the_period(
    olga, irina, frozen_time, django_assert_num_queries
):
    said(PRAISE, key="1", when=at(LAST_WEEK))
    said("Ольга молодец, очень помогла", key="2", when=at(LAST_WEEK + dt.timedelta(days=3)))
    said("Ирина всё отлично подобрала, спасибо", key="3", when=at(LAST_WEEK))
    said("Ольга нагрубила по телефону, ужасно", key="4", when=at(LAST_WEEK))
    said("Общалась с Ольгой по заказу", key="5", when=at(LAST_WEEK))
    said(PRAISE, key="6", when=at(LAST_WEEK - dt.timedelta(days=1)))  # the week before
    said(PRAISE, key="7", when=at(MONDAY))  # this week, not over yet
    with django_assert_num_queries(1):
        praised = praised_staff(start=LAST_WEEK)
    assert [(p.user_id, p.name, p.mentions) for p in praised] == [
        (olga.pk, "Ольга Петрова", 2),
        (irina.pk, "Ирина", 1),
    ]
    for n in range(8, 20):
        said(PRAISE, key=str(n), when=at(LAST_WEEK))
    with django_assert_num_queries(1):
        assert praised_staff(start=LAST_WEEK)[0].mentions == 14
    month = praised_staff(start=dt.date(2026, 2, 1), period="month")
    assert [(p.name, p.mentions) for p in month] == [("Ольга Петрова", 15), ("Ирина", 1)]
