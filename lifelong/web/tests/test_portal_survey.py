"""The customer's survey page: tokens, a GET that records nothing, follow-ups, thanks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from lifelong.conftest import client_for
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Invite, Response, SurveyKind
from lifelong.feedback.survey_editor import QuestionSpec, survey_save
from lifelong.feedback.surveys import invite_token, invite_url, questions_of, survey_invite_create
from lifelong.feedback.tests.test_surveys import delivery_theme
from lifelong.lib.signing import token_make

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]


@pytest.fixture(autouse=True)
def _default_language():
    # The page activates the survey's language for the rest of the thread.
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _invite(language: str = "ru", kind: str = SurveyKind.NPS) -> Invite:
    survey = survey_save(
        survey=None,
        values={"name": "Как мы вам?", "kind": kind, "language": language},
        questions=[],
        actor=None,
    )
    invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="k")
    assert invite is not None
    return invite


def _path(invite: Invite, score: int | None = None) -> str:
    return "/" + invite_url(invite, score).split("/", 3)[3]


def test_a_score_in_the_link_is_shown_chosen_and_records_nothing():
    invite = _invite()
    page = Client().get(_path(invite, 9))
    assert page.status_code == 200
    assert 'value="9" checked' in page.content.decode()
    assert "Насколько вероятно" in page.content.decode()
    assert "Что пошло не так?" not in page.content.decode()  # asked after the score
    assert not Response.objects.exists()
    assert not Event.objects.filter(source="survey").exists()


def test_a_score_out_of_the_scale_is_ignored():
    page = Client().get(_path(_invite(), 42))
    assert "checked" not in page.content.decode()


def test_the_score_then_its_follow_up_then_thanks():
    delivery_theme()
    invite = _invite()
    nps, went_wrong = questions_of(invite.survey)[:2]
    client = Client()
    first = client.post(_path(invite), {f"q{nps.pk}": "4", "shown": [nps.pk]})
    assert first.status_code == 302
    assert first["Location"].endswith("?more=1")
    assert Response.objects.get().score == 4
    more = client.get(first["Location"])
    assert "Что пошло не так?" in more.content.decode()
    assert 'value="4" checked' in more.content.decode()
    done = client.post(
        _path(invite),
        {
            f"q{nps.pk}": "4",
            f"q{went_wrong.pk}": "Курьер опоздал",
            "shown": [nps.pk, went_wrong.pk],
        },
    )
    assert done.status_code == 302
    assert done["Location"].endswith("/thanks")
    response = Response.objects.get()
    assert response.comment == "Курьер опоздал"
    assert "delivery" in response.themes
    assert Event.objects.filter(type="nps_detractor").count() == 1
    thanks = client.get(done["Location"])
    assert "Спасибо" in thanks.content.decode()


def test_a_missing_score_is_asked_again_with_the_reason():
    invite = _invite()
    nps = questions_of(invite.survey)[0]
    page = Client().post(_path(invite), {"shown": [nps.pk]})
    assert page.status_code == 400
    assert "Пожалуйста, ответьте на этот вопрос." in page.content.decode()
    assert not Response.objects.exists()


def test_the_page_speaks_the_surveys_language():
    invite = _invite(language="en")
    page = Client().get(_path(invite))
    assert "How likely are you to recommend us" in page.content.decode()
    assert 'lang="en"' in page.content.decode()


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        token_make(purpose="preferences", value=1),  # a real token of another purpose
    ],
    # Named, not by value: a sealed token differs per process, and xdist workers must agree.
    ids=["forged", "another purpose"],
)
def test_forged_and_foreign_tokens_are_refused_kindly(token):
    _invite()
    page = Client().get(f"/c/s/{token}")
    assert page.status_code == 404
    assert "Ссылка не работает" in page.content.decode()
    assert Client().post(f"/c/s/{token}", {}).status_code == 404
    assert not Response.objects.exists()


def test_an_expired_invite_says_the_survey_has_closed(frozen_time):
    invite = _invite()
    nps = questions_of(invite.survey)[0]
    frozen_time.shift(dt.timedelta(days=invite.survey.link_days, seconds=1))
    page = Client().post(_path(invite), {f"q{nps.pk}": "9"})
    assert "Опрос завершён" in page.content.decode()
    assert not Response.objects.exists()


def test_a_replayed_form_after_the_edit_window_changes_nothing(frozen_time):
    invite = _invite()
    nps = questions_of(invite.survey)[0]
    client = Client()
    client.post(_path(invite), {f"q{nps.pk}": "10", "shown": [nps.pk]})
    client.post(_path(invite), {f"q{nps.pk}": "10", "shown": [nps.pk]})  # a double click
    assert Response.objects.count() == 1
    frozen_time.shift(dt.timedelta(hours=25))
    replay = client.post(_path(invite), {f"q{nps.pk}": "0", "shown": [nps.pk]})
    assert "Спасибо, ваш ответ у нас" in replay.content.decode()
    assert Response.objects.get().score == 10
    assert Event.objects.filter(type="survey_answered").count() == 1


def test_signed_in_staff_may_look_but_not_answer(owner):
    invite = _invite()
    nps = questions_of(invite.survey)[0]
    client = client_for(owner)
    assert client.get(_path(invite)).status_code == 200
    assert client.post(_path(invite), {f"q{nps.pk}": "9"}).status_code == 403
    assert not Response.objects.exists()


def test_the_page_reads_in_a_few_queries():
    invite = _invite()
    token = invite_token(invite)
    with CaptureQueriesContext(connection) as queries:
        Client().get(f"/c/s/{token}?score=3")
    assert len(queries) <= 6


def test_too_many_requests_from_one_address_are_refused(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "survey-throttle-test",
        }
    }
    settings.PORTAL_RATE_LIMIT = 2
    invite = _invite()
    nps = questions_of(invite.survey)[0]
    client = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [client.get(f"/c/s/guess{n}").status_code for n in range(2)]
    refused = client.post(_path(invite), {f"q{nps.pk}": "9"})
    assert statuses == [404, 404]
    assert refused.status_code == 429
    assert not Response.objects.exists()


def test_choices_and_text_of_a_custom_survey():
    survey = survey_save(
        survey=None,
        values={"name": "О магазине", "kind": SurveyKind.CUSTOM, "language": "ru"},
        questions=[
            QuestionSpec("csat", "Как вам наш магазин?", required=True),
            QuestionSpec("single", "Как вы нас нашли?", choices=("Друзья", "Реклама", "Поиск")),
            QuestionSpec("multiple", "Что вы покупаете?", choices=("Масла", "Кремы", "Мыло")),
            QuestionSpec(
                "text", "Что помешало поставить 5?", show_if=1, show_if_min=4, show_if_max=4
            ),
        ],
        actor=None,
    )
    invite = survey_invite_create(survey=survey, customer=CustomerFactory.create(), key="k")
    assert invite is not None
    csat, found, buys, kept = questions_of(survey)
    page = Client().get(_path(invite))
    assert page.content.decode().count('type="checkbox"') == 3
    refused = Client().post(_path(invite), {f"q{csat.pk}": "4", f"q{found.pk}": "7"})
    assert refused.status_code == 400
    assert "Выберите один из предложенных ответов." in refused.content.decode()
    data = {f"q{csat.pk}": "4", f"q{found.pk}": "2", f"q{buys.pk}": ["0", "2"]}
    data |= {f"q{kept.pk}": "Мало кремов", "shown": [csat.pk, found.pk, buys.pk, kept.pk]}
    assert Client().post(_path(invite), data).status_code == 302
    answers = {a.question_id: a for a in Response.objects.get().answers.all()}
    assert answers[found.pk].choices == ["Поиск"]
    assert answers[buys.pk].choices == ["Масла", "Мыло"]
    assert answers[kept.pk].text == "Мало кремов"
    assert Response.objects.get().score == 4
    assert not Event.objects.filter(type__startswith="nps_").exists()  # a CSAT score
