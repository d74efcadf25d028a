"""Surveys: the throttle, one response per invite, follow-ups by the score, events once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.customers.services import customer_merge
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Invite, Response, Survey, SurveyKind, Theme, ThemeRule
from lifelong.feedback.survey_editor import survey_save
from lifelong.feedback.surveys import (
    InviteAsk,
    SurveyClosed,
    invite_open,
    invite_token,
    invite_url,
    questions_of,
    response_submit,
    survey_invite_create,
    survey_invites_create,
)


def delivery_theme() -> None:
    """The seeded delivery theme: a test run with transaction=True empties the tables."""
    theme, _ = Theme.objects.get_or_create(
        slug="delivery", defaults={"name_ru": "Доставка", "name_en": "Delivery"}
    )
    ThemeRule.objects.get_or_create(theme=theme, language="ru", phrase="курьер")


def nps_survey(**values: object) -> Survey:
    fields = {"name": "NPS", "kind": SurveyKind.NPS, "language": "ru", "throttle_days": 90}
    fields.update(values)
    return survey_save(survey=None, values=fields, questions=[], actor=None)


@pytest.fixture
def survey(db) -> Survey:
    return nps_survey()


def test_a_new_survey_gets_the_usual_questions_with_follow_ups(survey):
    questions = questions_of(survey)
    assert [q.kind for q in questions] == ["nps", "text", "text", "text"]
    assert questions[1].text == "Что пошло не так?"
    assert (questions[1].show_if_min, questions[1].show_if_max) == (0, 6)


def test_the_throttle_asks_once_per_window_across_nps_surveys(survey, frozen_time):
    other = nps_survey(name="NPS в Telegram")
    customer = CustomerFactory.create()
    first = survey_invite_create(survey=survey, customer=customer, key="a", channel="email")
    assert first is not None
    assert survey_invite_create(survey=survey, customer=customer, key="a") == first
    assert survey_invite_create(survey=other, customer=customer, key="b") is None
    frozen_time.shift(dt.timedelta(days=90, seconds=1))
    assert survey_invite_create(survey=other, customer=customer, key="c") is not None


def test_a_customer_who_answered_is_not_asked_within_the_window(survey, frozen_time):
    customer = CustomerFactory.create()
    invite = survey_invite_create(survey=survey, customer=customer, key="a")
    assert invite is not None
    frozen_time.shift(dt.timedelta(days=10))
    response_submit(invite=invite, answers={questions_of(survey)[0].pk: 9})
    frozen_time.shift(dt.timedelta(days=85))  # 95 days after the invite, 85 after the answer
    assert survey_invite_create(survey=survey, customer=customer, key="b") is None
    frozen_time.shift(dt.timedelta(days=6))
    assert survey_invite_create(survey=survey, customer=customer, key="c") is not None


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=60), st.booleans()), min_size=1, max_size=12
    ),
    window=st.integers(min_value=1, max_value=60),
)
def test_invites_never_fall_within_the_window_of_an_invite_or_an_answer(
    db, frozen_time, steps, window
):
    """The model: an invite is made exactly when the last invite and the last answer are
    at least `window` days old."""
    survey = nps_survey(throttle_days=window)
    customer = CustomerFactory.create()
    moments: list[dt.datetime] = []  # invites and answers
    first_question = questions_of(survey)[0].pk
    for n, (days, answer) in enumerate(steps):
        frozen_time.shift(dt.timedelta(days=days))
        now = clock.now()
        allowed = not moments or now - max(moments) >= dt.timedelta(days=window)
        invite = survey_invite_create(survey=survey, customer=customer, key=f"k{n}")
        assert (invite is not None) == allowed
        if invite is not None:
            moments.append(invite.created_at)
            if answer:
                frozen_time.shift(dt.timedelta(hours=1))
                response, _ = response_submit(invite=invite, answers={first_question: 7})
                moments.append(response.submitted_at)


def test_follow_ups_by_the_score_and_the_comment_is_tagged(survey):
    delivery_theme()
    customer = CustomerFactory.create()
    invite = survey_invite_create(survey=survey, customer=customer, key="a")
    nps, went_wrong, _make_ten, liked = questions_of(survey)
    response, created = response_submit(
        invite=invite,
        answers={nps.pk: 3, went_wrong.pk: "Курьер опоздал на два часа", liked.pk: "всё"},
    )
    assert created
    assert response.score == 3
    assert response.comment == "Курьер опоздал на два часа"  # the 9–10 question was not asked
    assert "delivery" in response.themes
    assert response.sentiment == "negative"
    assert list(response.answers.values_list("question_id", flat=True)) == [nps.pk, went_wrong.pk]


def test_answers_are_checked(survey):
    invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="a")
    nps = questions_of(survey)[0]
    with pytest.raises(ValidationError) as error:
        response_submit(invite=invite, answers={nps.pk: 11})
    assert str(nps.pk) in error.value.message_dict
    with pytest.raises(ValidationError):
        response_submit(invite=invite, answers={})  # the score is required
    assert not Response.objects.exists()


def test_a_double_submission_stores_one_response_and_emits_events_once(survey, frozen_time):
    customer = CustomerFactory.create()
    invite = survey_invite_create(survey=survey, customer=customer, key="a")
    nps = questions_of(survey)[0]
    _, created = response_submit(invite=invite, answers={nps.pk: 10})
    _, again = response_submit(invite=invite, answers={nps.pk: 10})
    assert (created, again) == (True, False)
    assert Response.objects.count() == 1
    types = sorted(Event.objects.filter(customer=customer).values_list("type", flat=True))
    assert types == ["nps_promoter", "survey_answered"]
    event = Event.objects.get(type="survey_answered")
    assert event.properties["score"] == 10
    assert event.properties["survey"] == survey.pk


def test_an_edit_within_a_day_then_the_invite_is_closed(survey, frozen_time):
    invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="a")
    nps = questions_of(survey)[0]
    response_submit(invite=invite, answers={nps.pk: 5})
    frozen_time.shift(dt.timedelta(hours=23))
    response, _ = response_submit(invite=invite, answers={nps.pk: 6})
    assert response.score == 6
    assert Event.objects.filter(type="nps_detractor").count() == 1
    frozen_time.shift(dt.timedelta(hours=2))
    with pytest.raises(SurveyClosed) as closed:
        response_submit(invite=invite, answers={nps.pk: 9})
    assert closed.value.reason == "answered"
    assert Response.objects.get().score == 6


def test_an_expired_invite_takes_no_answer(survey, frozen_time):
    invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="a")
    frozen_time.shift(dt.timedelta(days=survey.link_days, seconds=1))
    with pytest.raises(SurveyClosed) as closed:
        response_submit(invite=invite, answers={questions_of(survey)[0].pk: 9})
    assert closed.value.reason == "expired"


def test_a_score_tapped_in_a_message_is_kept_as_the_first_score(survey):
    invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="a")
    nps = questions_of(survey)[0]
    response_submit(invite=invite, answers={nps.pk: 8}, complete=False, from_message=True)
    invite.refresh_from_db()
    assert invite.first_score == 8


def test_tokens_name_their_invite_and_nothing_else(survey, frozen_time):
    # Frozen: a token seals the second it was made, so two made across a second differ.
    invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="a")
    token = invite_token(invite)
    assert invite_open(token) == invite
    assert invite_open(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    assert invite_open("not-a-token") is None
    assert invite_url(invite, score=9).endswith(f"/s/{token}?score=9")


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_store_one_response():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so the race needs PostgreSQL")
    survey = nps_survey()
    invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="a")
    assert invite is not None
    nps = questions_of(survey)[0]
    barrier = threading.Barrier(4)
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def submit(score: int) -> None:
        try:
            barrier.wait()
            _, created = response_submit(invite=invite, answers={nps.pk: score})
            outcomes.append(created)
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(n,)) for n in (1, 2, 9, 10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(outcomes) == [False, False, False, True]
    assert Response.objects.filter(invite=invite).count() == 1
    assert Event.objects.filter(type="survey_answered").count() == 1


def test_a_merged_customer_answers_as_the_survivor(survey):
    primary, duplicate = CustomerFactory.create(), CustomerFactory.create()
    invite = survey_invite_create(survey=survey, customer=duplicate, key="a")
    assert invite is not None
    customer_merge(primary=primary, duplicate=duplicate, actor=None)
    response, _ = response_submit(invite=invite, answers={questions_of(survey)[0].pk: 9})
    assert response.customer == primary
    assert Event.objects.get(type="nps_promoter").customer == primary
    # The survivor was just asked (through the duplicate) and answered: not again.
    assert survey_invite_create(survey=survey, customer=primary, key="b") is None
    assert survey_invite_create(survey=survey, customer=duplicate, key="c") is None


def test_an_invite_to_a_merged_duplicate_throttles_the_survivor(survey):
    primary, duplicate = CustomerFactory.create(), CustomerFactory.create()
    assert survey_invite_create(survey=survey, customer=duplicate, key="a") is not None
    customer_merge(primary=primary, duplicate=duplicate, actor=None)
    assert survey_invite_create(survey=survey, customer=primary, key="b") is None


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(asks=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=10))
def test_asking_many_at_once_invites_whom_asking_one_at_a_time_invites(db, asks):
    """Within one call a customer's first new invite throttles the later asks, a repeated key
    gets the same invite, and a merged duplicate is asked as its survivor: as one by one."""
    together, alone = (nps_survey(kind=SurveyKind.CSAT, name=n) for n in ("together", "alone"))
    customers = [CustomerFactory.create() for _ in range(4)]
    customer_merge(primary=customers[0], duplicate=customers[3], actor=None)
    asked = [InviteAsk(customers[c], f"k{k}") for c, k in asks]

    def shape(invite):
        return None if invite is None else (invite.pk, invite.customer_id, invite.dedupe_key)

    at_once = survey_invites_create(survey=together, asks=asked)
    one_by_one = [survey_invite_create(survey=alone, customer=a.customer, key=a.key) for a in asked]
    expected = [
        None if i is None else (i.customer_id, i.dedupe_key.replace(f":{alone.pk}:", ":"))
        for i in one_by_one
    ]
    assert [
        None if i is None else (i.customer_id, i.dedupe_key.replace(f":{together.pk}:", ":"))
        for i in at_once
    ] == expected
    stored = {shape(i) for i in Invite.objects.filter(survey=together)}
    assert stored == {shape(i) for i in at_once if i is not None}
