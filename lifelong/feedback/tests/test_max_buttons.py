"""MAX score buttons: the survey message carries an inline keyboard of signed callback
buttons (POST /messages, read as the bytes that reached a local server speaking the MAX bot
API); a tap (a message_callback update, posted as the raw bytes MAX sends) records the score
once, and MAX's answer goes out afterwards through the outbox (POST /answers), never from
inside the webhook request."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from typing import Any

import pytest
from django.urls import reverse

from lifelong.customers.models import Channel
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import (
    Conversation,
    Invite,
    Response,
    ReviewAsk,
    Survey,
    SurveyKind,
)
from lifelong.feedback.sending import callback_data, survey_send
from lifelong.feedback.survey_editor import survey_save
from lifelong.feedback.surveys import invite_token, survey_invite_create
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status, Suppression, Template
from lifelong.messaging.tests.fake_api import FakeApi

TOKEN = "f9LHodD0cOJoiuLLTLt6zkOsfBmp1-max-token"
SECRET = "max-webhook-secret"
CHAT = 182182182
USER = 123456789


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """The MAX fake listens on 127.0.0.1, which outbound calls refuse unless allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)


def sent(mid: str) -> dict[str, Any]:
    """POST /messages answered as MAX does: the message it made."""
    return {
        "message": {
            "recipient": {"chat_id": CHAT, "chat_type": "dialog", "user_id": USER},
            "timestamp": 1775053255737,
            "body": {"mid": mid, "seq": 116327994376978687, "text": "…"},
            "sender": {"user_id": 590001, "first_name": "Лавка", "is_bot": True},
        }
    }


@pytest.fixture
def api():
    """A local server speaking the MAX bot API: /messages makes a message, /answers
    answers a callback."""
    with FakeApi() as server:
        server.route("/messages", body=sent("mid.ffffbdb48e6c3775019d496b34394b84"))
        server.route("/answers", body={"success": True})
        yield server


@pytest.fixture
def max_channel(db, api):
    return ChannelConfig.objects.create(
        channel=Channel.MAX,
        transport="max",
        config={"access_token": TOKEN, "webhook_secret": SECRET, "base_url": api.url},
    )


def nps_survey() -> Survey:
    values = {"name": "NPS", "kind": SurveyKind.NPS, "language": "ru", "throttle_days": 90}
    return survey_save(survey=None, values=values, questions=[], actor=None)


def tap(payload: str, callback_id: str, chat: int = CHAT, user: int = USER) -> bytes:
    """A message_callback update as MAX POSTs it to the webhook."""
    update = {
        "callback": {
            "timestamp": 1775053260114,
            "callback_id": callback_id,
            "payload": payload,
            "user": {
                "user_id": user,
                "first_name": "Анна",
                "is_bot": False,
                "last_activity_time": 1775053259000,
                "name": "Анна",
            },
        },
        "message": {
            "recipient": {"chat_id": chat, "chat_type": "dialog", "user_id": user},
            "timestamp": 1775053255737,
            "body": {
                "mid": "mid.ffffbdb48e6c3775019d496b34394b84",
                "seq": 116327994376978687,
                "text": "Насколько вероятно, что вы порекомендуете нас друзьям?",
            },
            "sender": {"user_id": 590001, "first_name": "Лавка", "is_bot": True},
        },
        "timestamp": 1775053260114,
        "update_type": "message_callback",
        "user_locale": "ru",
    }
    return json.dumps(update, ensure_ascii=False).encode()


def post(client, body: bytes, secret: str = SECRET):
    return client.post(
        reverse("messaging_hooks:max"),
        body,
        content_type="application/json",
        headers={"X-Max-Bot-Api-Secret": secret},
    )


def max_invite(customer) -> Invite:
    invite = survey_invite_create(survey=nps_survey(), customer=customer, key="m", channel="max")
    assert invite is not None
    return invite


def test_a_max_survey_message_carries_signed_callback_buttons(frozen_time, max_channel, api):
    Template.objects.create(
        slug="nps-max",
        name="NPS в MAX",
        channel="max",
        purpose="transactional",
        body_text="Анна, заказ у вас уже две недели.",
        messenger_text="Анна, заказ у вас уже две недели.",
    )
    survey = nps_survey()
    anna = CustomerFactory.create(max_chat_id=str(CHAT), first_name="Анна")
    outcome = survey_send(
        survey_id=survey.pk,
        template_slug="nps-max",
        channel="max",
        customer=anna,
        key="journey:j1:ask:1",
    )
    assert outcome == "survey queued on max"

    assert dispatch_due() == 1

    request = api.last
    assert (request.method, request.path, request.query) == (
        "POST",
        "/messages",
        {"chat_id": [str(CHAT)]},
    )
    assert request.headers["authorization"] == TOKEN
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    invite = Invite.objects.get()
    # The signed values travel as they are, in UTF-8 JSON.
    for score in range(11):
        assert f'"payload": "{callback_data(invite, score)}"'.encode() in request.body
    body = json.loads(request.body.decode("utf-8"))
    assert body["text"].startswith("Анна, заказ у вас уже две недели.\n\nНасколько вероятно")
    [keyboard] = body["attachments"]
    assert keyboard["type"] == "inline_keyboard"
    rows = keyboard["payload"]["buttons"]
    scores = [button for row in rows[:-1] for button in row]
    assert all(len(row) <= 7 for row in rows)  # MAX's limit per row
    assert [(b["type"], b["text"]) for b in scores] == [("callback", str(n)) for n in range(11)]
    assert [b["payload"] for b in scores] == [callback_data(invite, n) for n in range(11)]
    [link] = rows[-1]
    assert link["type"] == "link" and link["url"].endswith(f"/c/s/{invite_token(invite)}")
    message = Message.objects.get()
    assert (message.status, message.provider_id) == (
        Status.SENT,
        "mid.ffffbdb48e6c3775019d496b34394b84",
    )


def test_a_tap_is_recorded_once_and_answered_through_the_outbox(
    frozen_time, max_channel, api, client
):
    anna = CustomerFactory.create(max_chat_id=str(CHAT), language="ru")
    invite = max_invite(anna)

    response = post(client, tap(callback_data(invite, 8), "cb.7f3a9e01"))

    assert (response.status_code, response.json()) == (200, {"ok": True})
    # Nothing left for MAX while the webhook request ran.
    assert api.requests == []
    answer = Response.objects.get()
    invite.refresh_from_db()
    assert (answer.score, invite.first_score) == (8, 8)
    queued = Message.objects.get(dedupe_key="max_answer:cb.7f3a9e01")
    assert queued.payload == {"callback_id": "cb.7f3a9e01"}

    # MAX redelivers the update, and the customer taps another score: the score stays.
    assert post(client, tap(callback_data(invite, 8), "cb.7f3a9e01")).status_code == 200
    assert post(client, tap(callback_data(invite, 2), "cb.7f3a9e02")).status_code == 200
    answer.refresh_from_db()
    assert Response.objects.count() == 1 and answer.score == 8
    assert Message.objects.filter(dedupe_key__startswith="max_answer:").count() == 2

    # 8 brings the link to the rest (a follow-up waits), then the two answers.
    assert dispatch_due() == 3
    assert dispatch_due() == 0
    answers = api.at("/answers")
    assert [a.query for a in answers] == [
        {"callback_id": ["cb.7f3a9e01"]},
        {"callback_id": ["cb.7f3a9e02"]},
    ]
    assert answers[0].headers["authorization"] == TOKEN
    assert answers[0].body == '{"notification": "Спасибо! Ваша оценка: 8"}'.encode()
    assert json.loads(answers[1].body) == {"notification": "Спасибо, ваш ответ у нас уже есть."}
    [rest] = api.at("/messages")
    assert f"/c/s/{invite_token(invite)}".encode() in rest.body
    assert Message.objects.get(dedupe_key="max_answer:cb.7f3a9e01").status == Status.SENT
    # A tap is an answer, not a message for the inbox.
    assert not Conversation.objects.exists()

    # A minute on she taps again (answered, later than the link went out); then her next
    # words answer the survey's link, not MAX's notice over the chat.
    frozen_time.shift(dt.timedelta(minutes=1))
    post(client, tap(callback_data(invite, 9), "cb.7f3a9e03"))
    assert dispatch_due() == 1 and api.last.path == "/answers"
    written = {
        "message": {
            "recipient": {"chat_id": CHAT, "chat_type": "dialog"},
            "timestamp": 1775053299000,
            "body": {
                "mid": "mid.ffffbdb48e6c3775019d496b34394b90",
                "seq": 2,
                "text": "Курьер опоздал",
            },
            "sender": {"user_id": USER, "first_name": "Анна", "is_bot": False, "name": "Анна"},
        },
        "timestamp": 1775053299000,
        "update_type": "message_created",
        "user_locale": "ru",
    }
    assert post(client, json.dumps(written, ensure_ascii=False).encode()).status_code == 200
    item = Conversation.objects.get().items.get()
    assert item.message_id == Message.objects.get(dedupe_key=f"{invite.dedupe_key}:rest").pk


def test_forged_or_foreign_buttons_record_nothing(frozen_time, max_channel, api, client):
    anna = CustomerFactory.create(max_chat_id=str(CHAT), language="ru")
    invite = max_invite(anna)
    good = callback_data(invite, 10)
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    other_score = good.replace(".10.", ".0.", 1)  # the signature of 10 on a 0
    for n, payload in enumerate((forged, other_score, f"s{invite.pk}.10")):
        assert post(client, tap(payload, f"cb.forged{n}")).status_code == 200
    # A real button from another chat (forwarded, say), and another feature's button.
    post(client, tap(good, "cb.foreign", chat=CHAT + 1, user=USER + 1))
    post(client, tap("menu:open", "cb.menu"))
    assert not Response.objects.exists()
    invite.refresh_from_db()
    assert invite.first_score is None
    # Our own customer's forged taps are answered «this button does not work»; a stranger's
    # chat and another feature's button get no answer from us.
    answers = Message.objects.filter(dedupe_key__startswith="max_answer:").order_by("pk")
    assert [m.dedupe_key for m in answers] == [f"max_answer:cb.forged{n}" for n in range(3)]
    assert {m.body_text for m in answers} == {"Эта кнопка не работает."}


def test_a_wrong_secret_is_refused_and_records_nothing(frozen_time, max_channel, client):
    anna = CustomerFactory.create(max_chat_id=str(CHAT))
    invite = max_invite(anna)
    assert post(client, tap(callback_data(invite, 9), "cb.1"), secret="guess").status_code == 403
    assert not Response.objects.exists() and not Message.objects.exists()


def test_user_id_addressing_matches_the_tapping_user(frozen_time, max_channel, client):
    max_channel.config = {**max_channel.config, "address": "user_id"}
    max_channel.save()
    anna = CustomerFactory.create(max_chat_id=str(USER))
    invite = max_invite(anna)
    post(client, tap(callback_data(invite, 9), "cb.u1", chat=-70801090403050))
    assert Response.objects.get().score == 9


def test_an_answer_max_refuses_fails_without_closing_the_chat(
    frozen_time, max_channel, api, client
):
    anna = CustomerFactory.create(max_chat_id=str(CHAT), language="ru")
    invite = max_invite(anna)
    post(client, tap(callback_data(invite, 10), "cb.late"))
    api.route("/answers", 404, {"code": "not.found", "message": "Callback cb.late not found"})

    dispatch_due()

    answer = Message.objects.get(dedupe_key="max_answer:cb.late")
    assert answer.status == Status.FAILED and "not found" in answer.last_error
    # The chat itself is fine: later messages still go to it.
    assert not Suppression.objects.exists()
    assert Message.objects.get(dedupe_key=f"{invite.dedupe_key}:rest").status == Status.SENT


def test_a_max_tap_asks_a_promoter_for_a_review_once_a_detractor_never(
    frozen_time, max_channel, client
):
    ReviewAsk.objects.update_or_create(
        pk=1, defaults={"enabled": True, "two_gis_url": "https://2gis.ru/moscow/firm/70000001"}
    )
    survey = nps_survey()
    for n, (chat, score) in enumerate(((CHAT, 9), (CHAT + 1, 6))):
        customer = CustomerFactory.create(max_chat_id=str(chat))
        invite = survey_invite_create(survey=survey, customer=customer, key="m", channel="max")
        assert invite is not None
        for _ in range(2):  # MAX redelivers the update: still one ask
            assert (
                post(client, tap(callback_data(invite, score), f"cb.{n}", chat=chat)).status_code
                == 200
            )
    asks = Message.objects.filter(dedupe_key__startswith="review_ask:")
    assert [(m.customer.max_chat_id, m.channel) for m in asks] == [(str(CHAT), "max")]
