"""A score from an email link counts once a browser has shown the page: the page loads a
stylesheet whose address seals the invite and the score, and fetching it records the score
once. Requesting the link itself (a scanner, even one following redirects) records nothing."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from django.utils import translation

from lifelong.conftest import client_for
from lifelong.customers.models import Channel
from lifelong.events.models import Event
from lifelong.feedback.models import Response, ReviewAsk
from lifelong.feedback.surveys import (
    SEEN_MINUTES,
    SEEN_PURPOSE,
    invite_token,
    questions_of,
    response_submit,
    score_seen_record,
    score_seen_url,
)
from lifelong.lib.signing import token_make
from lifelong.messaging.models import ChannelConfig, Message
from lifelong.web.tests.test_portal_survey import _invite, _path

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]

# What browsers send for a stylesheet (Chromium, Firefox and Safari alike).
AS_STYLESHEET = {"HTTP_ACCEPT": "text/css,*/*;q=0.1", "HTTP_SEC_FETCH_DEST": "style"}


@pytest.fixture(autouse=True)
def _default_language():
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _stylesheet(page_html: str) -> str:
    found = re.findall(r'<link rel="stylesheet" href="(/c/s/[^"]+/seen/[^"]+\.css)">', page_html)
    assert len(found) == 1, "the page shown for a score loads one score stylesheet"
    return found[0]


def test_requesting_the_link_records_nothing_even_following_redirects():
    invite = _invite()
    scanner = Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; LinkScanner)")
    page = scanner.get(_path(invite, 3), follow=True)
    assert page.status_code == 200
    assert not Response.objects.exists()
    assert not Event.objects.filter(source="survey").exists()


def test_loading_the_pages_stylesheet_records_the_score_once():
    invite = _invite()
    client = Client()
    sheet = _stylesheet(client.get(_path(invite, 3)).content.decode())
    fetched = client.get(sheet, **AS_STYLESHEET)
    assert fetched.status_code == 200
    assert fetched["Content-Type"].startswith("text/css")
    assert "no-cache" in fetched["Cache-Control"]
    response = Response.objects.get()
    assert (response.invite_id, response.score) == (invite.pk, 3)
    invite.refresh_from_db()
    assert invite.first_score == 3
    # Again, and from the reloaded page (which, answered now, loads no score stylesheet).
    client.get(sheet, **AS_STYLESHEET)
    assert "seen/" not in client.get(_path(invite, 3)).content.decode()
    assert Response.objects.count() == 1
    assert Event.objects.filter(type="survey_answered").count() == 1
    assert Event.objects.filter(type="nps_detractor").count() == 1


def test_a_fetch_that_is_not_a_stylesheet_records_nothing():
    invite = _invite()
    sheet = score_seen_url(invite, 8)
    Client().get(sheet)  # no Accept: a crawler fetching every address it finds
    Client().get(sheet, HTTP_ACCEPT="text/html,*/*")
    Client().get(sheet, HTTP_ACCEPT="text/css,*/*;q=0.1", HTTP_SEC_FETCH_DEST="document")
    assert not Response.objects.exists()
    Client().get(sheet, HTTP_ACCEPT="text/css,*/*;q=0.1")  # a browser without fetch metadata
    assert Response.objects.get().score == 8


def test_an_answer_already_sent_or_edited_is_never_changed():
    invite = _invite()
    nps, went_wrong = questions_of(invite.survey)[:2]
    client = Client()
    sheet = _stylesheet(client.get(_path(invite, 9)).content.decode())
    # The customer changed their mind on the page and sent 4 with a comment before the
    # stylesheet came (a slow connection), then it came.
    data = {f"q{nps.pk}": "4", f"q{went_wrong.pk}": "Долго", "shown": [nps.pk, went_wrong.pk]}
    client.post(_path(invite), data)
    client.get(sheet, **AS_STYLESHEET)
    response = Response.objects.get()
    assert (response.score, response.comment) == (4, "Долго")


@pytest.mark.parametrize("case", ["forged", "other_invite", "other_score_purpose", "expired"])
def test_a_bad_mark_records_nothing(case, frozen_time):
    invite, other = _invite(), _invite()
    token = invite_token(invite)
    mark = {
        "forged": "A" * 40,
        "other_invite": token_make(purpose=SEEN_PURPOSE, value=f"{other.pk}:9"),
        "other_score_purpose": token_make(purpose="survey", value=f"{invite.pk}:9"),
        "expired": token_make(purpose=SEEN_PURPOSE, value=f"{invite.pk}:9"),
    }[case]
    if case == "expired":
        frozen_time.shift(dt.timedelta(minutes=SEEN_MINUTES, seconds=1))
    fetched = Client().get(f"/c/s/{token}/seen/{mark}.css", **AS_STYLESHEET)
    assert fetched.status_code == 200  # an empty stylesheet whatever happened
    assert not Response.objects.exists()


def test_a_mark_for_the_other_invite_under_its_own_link_still_counts_only_there():
    invite, other = _invite(), _invite()
    mark = score_seen_url(other, 5).rsplit("/", 1)[1]
    Client().get(f"/c/s/{invite_token(invite)}/seen/{mark}", **AS_STYLESHEET)
    assert not Response.objects.exists()
    Client().get(f"/c/s/{invite_token(other)}/seen/{mark}", **AS_STYLESHEET)
    assert Response.objects.get().invite_id == other.pk


def test_an_expired_invite_records_nothing(frozen_time):
    invite = _invite()
    frozen_time.shift(dt.timedelta(days=invite.survey.link_days, minutes=-1))
    sheet = score_seen_url(invite, 9)
    frozen_time.shift(dt.timedelta(minutes=2))
    Client().get(sheet, **AS_STYLESHEET)
    assert not Response.objects.exists()


def test_signed_in_staff_record_nothing(owner):
    invite = _invite()
    client = client_for(owner)
    assert "seen/" not in client.get(_path(invite, 9)).content.decode()
    client.get(score_seen_url(invite, 9), **AS_STYLESHEET)
    assert not Response.objects.exists()


def test_the_stylesheet_counts_against_the_address_limit(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "survey-seen-throttle-test",
        }
    }
    settings.PORTAL_RATE_LIMIT = 2
    invite = _invite()
    client = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(2):
        client.get(f"/c/s/guess{n}")
    client.get(score_seen_url(invite, 9), **AS_STYLESHEET)
    assert not Response.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_stylesheet_fetches_racing_a_sent_form_store_one_response_and_keep_the_form():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so the race needs PostgreSQL")
    invite = _invite()
    nps, went_wrong = questions_of(invite.survey)[:2]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def seen() -> None:
        try:
            barrier.wait()
            score_seen_record(invite=invite, score=3)
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connections.close_all()

    def sent() -> None:
        try:
            barrier.wait()
            response_submit(invite=invite, answers={nps.pk: 5, went_wrong.pk: "Долго"})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=seen) for _ in range(3)] + [threading.Thread(target=sent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    response = Response.objects.get(invite=invite)
    assert Event.objects.filter(type="survey_answered").count() == 1
    # Whoever came first made the response; the form, an edit, always has the last word.
    assert (response.score, response.comment) == (5, "Долго")


def test_an_email_link_score_asks_a_promoter_for_a_review_once_a_detractor_never():
    """The stylesheet records the score, and the review ask follows it: a promoter who never
    sends the page's form is asked all the same, once; a detractor never."""
    ChannelConfig.objects.create(channel=Channel.EMAIL, transport="sandbox")
    ReviewAsk.objects.update_or_create(
        pk=1, defaults={"enabled": True, "yandex_maps_url": "https://yandex.ru/maps/org/1/"}
    )
    invites = {}
    for score in (10, 3):
        invite = invites[score] = _invite()
        client = Client()
        sheet = _stylesheet(client.get(_path(invite, score)).content.decode())
        client.get(sheet, **AS_STYLESHEET)
        client.get(sheet, **AS_STYLESHEET)  # a reload's late fetch
        assert Response.objects.get(invite=invite).score == score
    asks = Message.objects.filter(dedupe_key__startswith="review_ask:")
    assert [(m.dedupe_key, m.channel) for m in asks] == [(f"review_ask:{invites[10].pk}", "email")]
