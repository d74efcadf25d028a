"""A survey answer a person should follow up becomes an item of the conversations inbox."""

from __future__ import annotations

import pytest

from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Item
from lifelong.feedback.surveys import questions_of, response_submit, survey_invite_create
from lifelong.feedback.tests.test_surveys import nps_survey

pytestmark = pytest.mark.django_db


def test_a_detractor_and_a_comment_reach_the_inbox_once_a_silent_promoter_does_not(frozen_time):
    survey = nps_survey()
    nps, what_went_wrong = questions_of(survey)[:2]
    unhappy, promoter = CustomerFactory.create(), CustomerFactory.create()
    invite = survey_invite_create(survey=survey, customer=unhappy, key="a", channel="email")
    answers = {nps.pk: 3, what_went_wrong.pk: "Курьер опоздал на два дня"}
    response_submit(invite=invite, answers=answers)
    response_submit(invite=invite, answers=answers)  # an edit inside the window
    item = Item.objects.get()
    assert item.conversation.customer_id == unhappy.pk
    assert "Курьер опоздал" in item.text and item.score == 3
    happy = survey_invite_create(survey=survey, customer=promoter, key="b", channel="email")
    response_submit(invite=happy, answers={nps.pk: 10})
    assert Item.objects.count() == 1
