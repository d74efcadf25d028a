"""The conversations inbox: messenger replies become items, SLA due times and escalation
once, staff replies through the customer's channel exactly once, email threading."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import threading

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback.inbox import (
    InboxError,
    comment_add,
    conversation_assign,
    conversation_status_set,
    escalate_overdue,
    item_from_response,
    item_record,
    reply_send,
    review_record,
)
from lifelong.feedback.models import (
    Conversation,
    ConversationStatus,
    InboxSettings,
    Item,
    ItemSource,
    Reply,
    SurveyKind,
)
from lifelong.feedback.survey_editor import survey_save
from lifelong.feedback.surveys import questions_of, response_submit, survey_invite_create
from lifelong.followups.models import Task, TaskSource
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status
from lifelong.messaging.tests.fake_api import FakeApi
from lifelong.messaging.tests.test_email_transport import _config, smtp_server  # noqa: F401


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """The provider fakes listen on 127.0.0.1, which outbound calls refuse unless allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)


TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
SECRET = "s3cr3t-Token_for-webhook"
CHAT = 289374625


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


@pytest.fixture
def telegram(db, api):
    return ChannelConfig.objects.create(
        channel=Channel.TELEGRAM,
        transport="telegram",
        config={"bot_token": TOKEN, "webhook_secret": SECRET, "base_url": api.url},
    )


def update(text: str, update_id: int) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 52,
            "from": {"id": CHAT, "is_bot": False, "first_name": "Анна", "language_code": "ru"},
            "chat": {"id": CHAT, "first_name": "Анна", "type": "private"},
            "date": 1772445600,
            "text": text,
        },
    }


def post_update(client, body):
    return client.post(
        reverse("messaging_hooks:telegram"),
        json.dumps(body),
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )


def sent_ok(message_id: int) -> dict:
    return {
        "ok": True,
        "result": {
            "message_id": message_id,
            "from": {"id": 123456, "is_bot": True, "first_name": "Лавка"},
            "chat": {"id": CHAT, "first_name": "Анна", "type": "private"},
            "date": 1772445600,
            "text": "…",
        },
    }


def test_a_telegram_reply_becomes_an_item_with_its_text_once(frozen_time, telegram, client):
    customer = CustomerFactory.create(telegram_chat_id=str(CHAT))
    ours = Message.objects.create(
        customer=customer,
        dedupe_key="order-15-shipped",
        channel=Channel.TELEGRAM,
        purpose=Purpose.TRANSACTIONAL,
        to=str(CHAT),
        status=Status.SENT,
        sent_at=clock.now() - dt.timedelta(hours=3),
    )

    assert post_update(client, update("Курьер опоздал на два часа", 701)).status_code == 200
    post_update(client, update("Курьер опоздал на два часа", 701))  # Telegram re-delivers

    item = Item.objects.get()
    assert (item.text, item.channel, item.message_id) == (
        "Курьер опоздал на два часа",
        "telegram",
        ours.pk,
    )
    assert "delivery" in item.themes and item.sentiment == "negative"
    conversation = item.conversation
    assert (conversation.customer_id, conversation.status) == (customer.pk, "new")
    # Negative text is urgent by default: two hours.
    assert conversation.due_at == clock.now() + dt.timedelta(hours=2)
    post_update(client, update("И пакет порван", 702))
    assert Conversation.objects.count() == 1
    assert Item.objects.filter(conversation=conversation).count() == 2


def test_sla_rules_are_data_and_a_calm_item_gets_a_day(frozen_time, db):
    customer = CustomerFactory.create()
    rules = InboxSettings.current()
    rules.normal_hours = 12
    rules.save()
    item, created = item_record(
        source=ItemSource.MESSAGE,
        source_key="k1",
        customer=customer,
        text="Подскажите, когда будет новая коллекция?",
        channel="telegram",
    )
    assert created and not item.urgent
    assert item.conversation.due_at == clock.now() + dt.timedelta(hours=12)
    assert item_record(source=ItemSource.MESSAGE, source_key="k1", customer=customer) == (
        item,
        False,
    )


def nps_survey():
    values = {"name": "NPS", "kind": SurveyKind.NPS, "language": "ru", "throttle_days": 90}
    return survey_save(survey=None, values=values, questions=[], actor=None)


def test_a_detractor_without_a_comment_is_urgent_a_promoter_is_not_recorded(frozen_time, db):
    survey = nps_survey()
    detractor, promoter = CustomerFactory.create(), CustomerFactory.create()
    first = questions_of(survey)[0].pk
    low = response_submit(
        invite=survey_invite_create(survey=survey, customer=detractor, key="a", channel="sms"),
        answers={first: 3},
    )[0]
    high = response_submit(
        invite=survey_invite_create(survey=survey, customer=promoter, key="a"),
        answers={first: 10},
    )[0]

    item = item_from_response(low)
    assert item is not None and item.urgent and item.channel == "sms"
    assert item.conversation.due_at == clock.now() + dt.timedelta(hours=2)
    assert item_from_response(low) == item
    assert item_from_response(high) is None


def test_an_overdue_conversation_escalates_to_one_task(frozen_time, db, support):
    customer = CustomerFactory.create()
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key="k1",
        customer=customer,
        text="Заказ так и не пришёл, ужасно",
        channel="vk",
    )
    conversation_assign(conversation=item.conversation, assignee=support, actor=support)
    frozen_time.shift(dt.timedelta(hours=1, minutes=59))
    assert escalate_overdue() == 0
    frozen_time.shift(dt.timedelta(minutes=2))

    assert escalate_overdue() == 1
    assert escalate_overdue() == 0
    task = Task.objects.get()
    assert (task.customer_id, task.assignee_id, task.source) == (
        customer.pk,
        support.pk,
        TaskSource.FEEDBACK,
    )
    assert "Заказ так и не пришёл" in task.title
    # Waiting for the customer stops the clock; closed conversations never escalate.
    conversation_status_set(conversation=item.conversation, status="closed", actor=support)
    frozen_time.shift(dt.timedelta(days=3))
    assert escalate_overdue() == 0
    assert Task.objects.count() == 1


def test_closing_emits_feedback_closed_and_a_new_item_opens_a_new_conversation(
    frozen_time, db, support
):
    customer = CustomerFactory.create()
    item, _ = item_record(
        source=ItemSource.MESSAGE, source_key="k1", customer=customer, text="Спасибо!"
    )
    comment_add(conversation=item.conversation, author=support, text="Ответили по телефону")
    closed = conversation_status_set(
        conversation=item.conversation, status=ConversationStatus.CLOSED, actor=support
    )
    assert closed.closed_at == clock.now() and closed.due_at is None
    event = Event.objects.get(type="feedback_closed")
    assert event.customer_id == customer.pk
    assert event.properties["conversation_id"] == closed.pk

    later, _ = item_record(
        source=ItemSource.MESSAGE, source_key="k2", customer=customer, text="Ещё вопрос"
    )
    assert later.conversation_id != closed.pk
    with pytest.raises(InboxError):
        conversation_status_set(conversation=closed, status="new", actor=support)


def test_a_review_is_recorded_once_and_emits_review_received(frozen_time, db):
    first, created = review_record(
        source="yandex_maps",
        external_id="ym-1",
        customer=None,
        text="Долго ждали заказ, продавец грубил",
        rating=2,
        author="Ирина",
        url="https://yandex.ru/maps/org/1/reviews",
    )
    again, created_again = review_record(
        source="yandex_maps", external_id="ym-1", customer=None, text="другое", rating=5
    )
    assert created and not created_again and again == first
    assert first.urgent and first.conversation.customer is None
    assert Event.objects.filter(type="review_received").count() == 1
    with pytest.raises(InboxError):
        review_record(source="message", external_id="x", customer=None, text="", rating=1)


def test_a_staff_reply_goes_out_on_telegram_exactly_once(frozen_time, telegram, api, support):
    customer = CustomerFactory.create(telegram_chat_id=str(CHAT))
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key="k1",
        customer=customer,
        text="Курьер опоздал",
        channel="telegram",
    )
    conversation = item.conversation

    first = reply_send(
        conversation=conversation,
        author=support,
        text="Анна, простите за опоздание.",
        signer="Ольга Смирнова, менеджер по качеству",
        key="form-1",
    )
    second = reply_send(
        conversation=conversation,
        author=support,
        text="Анна, простите за опоздание.",
        signer="Ольга Смирнова, менеджер по качеству",
        key="form-1",
    )
    assert first == second and Reply.objects.count() == 1
    api.reply(body=sent_ok(991))
    assert dispatch_due() == 1
    assert dispatch_due() == 0

    assert len(api.requests) == 1
    assert api.last.path == f"/bot{TOKEN}/sendMessage"
    assert api.last.json() == {
        "chat_id": str(CHAT),
        "text": "Анна, простите за опоздание.\n\n— Ольга Смирнова, менеджер по качеству",
    }
    message = Message.objects.get()
    assert (message.purpose, message.status, first.message_id) == (
        "transactional",
        "sent",
        message.pk,
    )
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING and conversation.due_at is None
    assert conversation.assignee_id == support.pk


def test_an_email_reply_threads_to_the_message_it_answers(frozen_time, db, smtp_server, support):  # noqa: F811
    ChannelConfig.objects.create(channel="email", transport="smtp", config=_config(smtp_server))
    customer = CustomerFactory.create(email="anna@example.ru")
    ours = Message.objects.create(
        customer=customer,
        dedupe_key="survey-invite-1",
        channel="email",
        purpose=Purpose.TRANSACTIONAL,
        to="anna@example.ru",
        subject="Как вам заказ?",
        status=Status.SENT,
        sent_at=clock.now(),
        provider_id="<ours.1@example.ru>",
    )
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key="mail-1",
        customer=customer,
        text="Упаковка была мятая",
        channel="email",
        message_id=ours.pk,
        external_id="<theirs.7@mail.example>",
    )
    reply_send(
        conversation=item.conversation,
        author=support,
        text="Спасибо, что написали.",
        signer="Пётр Иванов, директор",
        key="form-1",
    )
    assert dispatch_due() == 1

    assert len(smtp_server.messages) == 1
    mail = email.message_from_bytes(smtp_server.messages[0], policy=email.policy.default)
    assert mail["In-Reply-To"] == "<theirs.7@mail.example>"
    assert mail["References"] == "<ours.1@example.ru> <theirs.7@mail.example>"
    assert mail["Subject"] == "Re: Как вам заказ?"
    assert "Пётр Иванов" in mail["From"]
    assert "— Пётр Иванов, директор" in mail.get_body(("plain",)).get_content()


def test_no_reply_without_a_channel(frozen_time, db, support):
    item, _ = review_record(
        source="2gis", external_id="g-1", customer=None, text="Хорошо", rating=5
    )
    with pytest.raises(InboxError):
        reply_send(
            conversation=item.conversation, author=support, text="Спасибо", signer="Я", key="k"
        )
    assert not Message.objects.exists()


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["record", "close", "wait", "assign"]),
        st.integers(min_value=0, max_value=1),  # which customer
        st.integers(min_value=0, max_value=4),  # which source key
    ),
    max_size=14,
)


@hypothesis_settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_any_sequence_keeps_one_open_conversation_per_customer_and_one_item_per_key(
    operations, db, support
):
    with transaction.atomic():
        customers = [CustomerFactory.create(), CustomerFactory.create()]
        keys: dict[str, int] = {}
        for action, who, key in operations:
            customer = customers[who]
            current = (
                Conversation.objects.filter(customer=customer).exclude(status="closed").first()
            )
            if action == "record":
                source_key = f"{who}:{key}"
                item, _ = item_record(
                    source=ItemSource.MESSAGE,
                    source_key=source_key,
                    customer=customer,
                    text="Курьер опоздал" if key % 2 else "Спасибо",
                )
                keys.setdefault(source_key, item.pk)
                assert keys[source_key] == item.pk
            elif current is not None and action == "assign":
                conversation_assign(conversation=current, assignee=support, actor=None)
            elif current is not None:
                status = "closed" if action == "close" else "waiting"
                conversation_status_set(conversation=current, status=status, actor=None)
        for customer in customers:
            assert (
                Conversation.objects.filter(customer=customer).exclude(status="closed").count() <= 1
            )
        assert Item.objects.count() == len(keys)
        owners = {str(n): c.pk for n, c in enumerate(customers)}
        for source_key, customer_id in Item.objects.values_list(
            "source_key", "conversation__customer_id"
        ):
            assert owners[source_key.split(":")[0]] == customer_id
        # The clock runs only while the next move is ours.
        assert (
            not Conversation.objects.exclude(status__in=["new", "in_progress"])
            .filter(due_at__isnull=False)
            .exists()
        )
        transaction.set_rollback(True)


def test_the_card_timeline_shows_what_the_customer_replied(frozen_time, telegram, client, owner):
    customer = CustomerFactory.create(telegram_chat_id=str(CHAT))
    post_update(client, update("Курьер опоздал на два часа", 801))
    client.force_login(owner)
    page = client.get(reverse("web:customer", args=[customer.pk])).content.decode()
    timeline = page.split('id="timeline"')[1].split("</article>")[0]
    assert "Курьер опоздал на два часа" in timeline


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_of_one_reply_form_queue_one_message():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so the race needs PostgreSQL")
    ChannelConfig.objects.create(channel=Channel.TELEGRAM, transport="sandbox", config={})
    author = UserFactory.create(username="olga", password=None)
    customer = CustomerFactory.create(telegram_chat_id=str(CHAT))
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key="k1",
        customer=customer,
        text="Курьер опоздал",
        channel="telegram",
    )
    barrier = threading.Barrier(4)
    replies: list[int] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            barrier.wait()
            reply = reply_send(
                conversation=item.conversation,
                author=author,
                text="Простите нас",
                signer="Ольга",
                key="form-1",
            )
            replies.append(reply.pk)
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(replies)) == 1 and len(replies) == 4
    assert Reply.objects.count() == 1 and Message.objects.count() == 1
    assert Event.objects.filter(type="feedback_replied").count() == 1
