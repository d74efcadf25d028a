"""In Chromium: a score from an email link counts once the page is shown, once, and the rest
of the answers then edit the same response. No script is needed (the page loads a
stylesheet whose address seals the invite and the score)."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import expect

from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Invite, Response, SurveyKind
from lifelong.feedback.survey_editor import survey_save
from lifelong.feedback.surveys import invite_url, survey_invite_create
from lifelong.web.tests.test_surveys_browser import _phone

pytestmark = pytest.mark.browser


@pytest.fixture
def emailed(transactional_db, settings, live_server) -> Invite:
    settings.SITE_URL = live_server.url
    survey = survey_save(
        survey=None,
        values={"name": "Как мы вам?", "kind": SurveyKind.NPS, "language": "ru"},
        questions=[],
        actor=None,
    )
    made = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="email-1")
    assert made is not None
    return made


@pytest.mark.parametrize("scripts", [False, True], ids=["scripts-off", "scripts-on"])
def test_the_score_counts_once_the_page_is_shown_and_the_rest_edits_it(browser, emailed, scripts):
    invite = emailed
    link = invite_url(invite, score=4)
    # A link scanner requests the link (and follows redirects): nothing.
    assert Client().get("/" + link.split("/", 3)[3], follow=True).status_code == 200
    assert not Response.objects.exists()

    page = _phone(browser, scripts=scripts)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(link)
    question = page.get_by_role("group", name="Насколько вероятно, что вы порекомендуете нас")
    expect(question.get_by_role("radio", name="4", exact=True)).to_be_checked()
    first = Response.objects.get()
    assert (first.invite_id, first.score, first.comment) == (invite.pk, 4, "")

    page.reload()
    expect(question.get_by_role("radio", name="4", exact=True)).to_be_checked()
    page.goto(link)  # the email's link clicked again
    assert Response.objects.count() == 1
    assert Event.objects.filter(type="survey_answered").count() == 1
    assert Event.objects.filter(type="nps_detractor").count() == 1

    # The follow-up the score calls for is still asked; sending it edits the same response.
    page.get_by_label("Что пошло не так?").fill("Курьер опоздал на два дня")
    page.get_by_role("button", name="Отправить").click()
    expect(page.get_by_role("heading", name="Спасибо за ваш ответ")).to_be_visible()
    response = Response.objects.get()
    assert response.pk == first.pk
    assert (response.score, response.comment) == (4, "Курьер опоздал на два дня")
    assert Event.objects.filter(type="survey_answered").count() == 1
    assert refused == []
