"""The surveys page, the survey editor and a survey's responses: roles, audit, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong.accounts.models import AuditLog
from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Question, Survey, SurveyKind
from lifelong.feedback.survey_editor import survey_save
from lifelong.feedback.surveys import questions_of, response_submit, survey_invite_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]


def _survey(kind: str = SurveyKind.NPS, name: str = "NPS") -> Survey:
    return survey_save(
        survey=None, values={"name": name, "kind": kind, "language": "ru"}, questions=[], actor=None
    )


def _answered(survey: Survey, scores: list[int]) -> None:
    first = questions_of(survey)[0]
    follow_up = questions_of(survey)[1]
    for n, score in enumerate(scores):
        invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key=f"k{n}")
        assert invite is not None
        response_submit(invite=invite, answers={first.pk: score, follow_up.pk: "Курьер опоздал"})


def _rows(n: int) -> dict[str, object]:
    """Seven question rows, of which the first n are set, as the editor posts them."""
    data: dict[str, object] = {"q-TOTAL_FORMS": "7", "q-INITIAL_FORMS": "0"}
    for i in range(7):
        for field in ("kind", "text", "choices", "show_if", "show_if_min", "show_if_max"):
            data[f"q-{i}-{field}"] = ""
    return data


def test_the_list_shows_counts_and_scores_in_one_query(owner):
    nps, csat = _survey(), _survey(SurveyKind.CSAT, "CSAT")
    _answered(nps, [10, 9, 8, 3])  # 2 promoters, 1 detractor of 4: +25
    _answered(csat, [5, 4, 2])  # 2 of 3 satisfied: 67%
    client = client_for(owner)
    client.get("/feedback/surveys/")  # warm the session and the user
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/feedback/surveys/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "+25" in text and "67%" in text
    survey_queries = [q for q in queries.captured_queries if 'FROM "feedback_survey"' in q["sql"]]
    assert len(survey_queries) == 1


def test_support_may_read_responses_but_not_edit_surveys(support, analyst):
    survey = _survey()
    assert client_for(support).get("/feedback/surveys/").status_code == 403
    assert client_for(support).get(f"/feedback/surveys/{survey.pk}/").status_code == 403
    assert client_for(support).get(f"/feedback/surveys/{survey.pk}/responses/").status_code == 200
    assert client_for(analyst).get(f"/feedback/surveys/{survey.pk}/responses/").status_code == 403


def test_a_new_survey_starts_with_the_usual_questions_and_is_audited(marketer):
    data = {"name": "Как мы вам?", "kind": "csat", "language": "ru", "active": "on"}
    data |= {"throttle_days": "60", "link_days": "14", **_rows(0)}
    response = client_for(marketer).post("/feedback/surveys/new/", data)
    assert response.status_code == 302
    survey = Survey.objects.get()
    assert [q.text for q in questions_of(survey)][2] == "Что помешало поставить 5?"
    assert AuditLog.objects.filter(action="feedback.survey.create").count() == 1


def test_the_editor_saves_questions_and_follow_ups(owner):
    survey = _survey()
    data = {"name": "NPS", "kind": "nps", "language": "ru", "active": "on"}
    data |= {"throttle_days": "90", "link_days": "14", **_rows(0)}
    data |= {"q-0-kind": "nps", "q-0-text": "Порекомендуете нас?", "q-0-required": "on"}
    data |= {"q-1-kind": "single", "q-1-text": "Что главное?", "q-1-choices": "Цена\nКачество"}
    data |= {"q-2-kind": "text", "q-2-text": "Что пошло не так?", "q-2-show_if": "1"}
    data |= {"q-2-show_if_min": "0", "q-2-show_if_max": "6"}
    response = client_for(owner).post(f"/feedback/surveys/{survey.pk}/", data)
    assert response.status_code == 302
    questions = questions_of(survey)
    assert [q.kind for q in questions] == ["nps", "single", "text"]
    assert questions[1].choices == ["Цена", "Качество"]
    assert questions[2].show_if == questions[0]
    assert AuditLog.objects.filter(action="feedback.survey.update").count() == 1


def test_the_editor_refuses_a_follow_up_out_of_range(owner):
    survey = _survey()
    data = {"name": "NPS", "kind": "nps", "language": "ru", "active": "on"}
    data |= {"throttle_days": "90", "link_days": "14", **_rows(0)}
    data |= {"q-0-kind": "nps", "q-0-text": "Порекомендуете нас?"}
    data |= {"q-1-kind": "text", "q-1-text": "Почему?", "q-1-show_if": "1"}
    data |= {"q-1-show_if_min": "5", "q-1-show_if_max": "12"}
    response = client_for(owner).post(f"/feedback/surveys/{survey.pk}/", data)
    assert response.status_code == 400
    assert "0–10" in response.content.decode()
    assert Question.objects.filter(survey=survey).count() == 4  # unchanged


def test_an_answered_question_cannot_be_removed(owner):
    survey = _survey()
    _answered(survey, [3])  # the score and "what went wrong"
    data = {"name": "NPS", "kind": "nps", "language": "ru", "active": "on"}
    data |= {"throttle_days": "90", "link_days": "14", **_rows(0)}
    data |= {"q-0-kind": "nps", "q-0-text": "Порекомендуете нас?"}
    response = client_for(owner).post(f"/feedback/surveys/{survey.pk}/", data)
    assert response.status_code == 400
    assert "На вопрос 2 уже отвечали" in response.content.decode()
    assert Question.objects.filter(survey=survey).count() == 4


def test_the_responses_list_reads_in_a_fixed_number_of_queries(owner):
    survey = _survey()
    _answered(survey, [3, 9])
    client = client_for(owner)
    client.get(f"/feedback/surveys/{survey.pk}/responses/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/feedback/surveys/{survey.pk}/responses/")
    _answered(survey, [1, 2, 4, 10, 10, 0])
    with CaptureQueriesContext(connection) as many:
        page = client.get(f"/feedback/surveys/{survey.pk}/responses/")
    assert len(many) == len(few)
    assert page.content.decode().count("Курьер опоздал") == 5  # detractors' follow-ups
    detractors = client.get(f"/feedback/surveys/{survey.pk}/responses/?score=detractors")
    assert detractors.content.decode().count("<tr>") == 1 + 5
