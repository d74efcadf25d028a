"""The customer card shows the customer's conversations as threads: what they said in
full, our replies with who signed, internal comments marked, oldest first; a fixed number
of queries however many conversations; only to staff the inbox shows them to."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.roles import Role
from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback.models import (
    Comment,
    Conversation,
    ConversationStatus,
    Item,
    ItemSource,
    Reply,
)

pytestmark = pytest.mark.django_db

LONG = (
    "Курьер опоздал на два часа, а потом сказал, что не может подняться на этаж, "
    "и коробку мне пришлось нести самой по лестнице — конец этой длинной истории."
)


def conversation_with(customer, n: int, *, items: int, closed: bool = True) -> Conversation:
    start = clock.now() - dt.timedelta(days=30 - n)
    conversation = Conversation.objects.create(
        customer=customer,
        status=ConversationStatus.CLOSED if closed else ConversationStatus.NEW,
        preview=f"разговор {n}",
        opened_at=start,
        last_activity_at=start + dt.timedelta(hours=items),
    )
    Item.objects.bulk_create(
        Item(
            conversation=conversation,
            source=ItemSource.MESSAGE,
            source_key=f"c{customer.pk}-{n}-{i}",
            channel="telegram",
            text=f"сообщение {n}.{i}",
            themes=["delivery"],
            received_at=start + dt.timedelta(hours=i),
        )
        for i in range(items)
    )
    return conversation


def test_the_thread_reads_in_order_in_full(frozen_time, owner, support):
    customer = CustomerFactory.create(first_name="Анна")
    conversation = conversation_with(customer, 0, items=0, closed=False)
    now = clock.now()
    Item.objects.create(
        conversation=conversation,
        source=ItemSource.SURVEY,
        source_key="s1",
        channel="email",
        text=LONG,
        score=3,
        received_at=now - dt.timedelta(hours=3),
    )
    Comment.objects.create(
        conversation=conversation,
        author=support,
        text="Проверить курьерскую службу",
        created_at=now - dt.timedelta(hours=2),
    )
    Reply.objects.create(
        conversation=conversation,
        author=support,
        signer="Ольга Смирнова, менеджер по качеству",
        text="Анна, простите нас: курьера мы сменили.",
        channel="email",
        dedupe_key="r1",
        created_at=now - dt.timedelta(hours=1),
    )
    client = client_for(owner)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("web:customer", args=[customer.pk])).content.decode()
    thread = page.split('id="conversations"')[1].split("</article>")[0]

    said = thread.index(LONG)  # the whole text, not a 90-character preview
    comment = thread.index("Проверить курьерскую службу")
    reply = thread.index("Анна, простите нас: курьера мы сменили.")
    assert said < comment < reply
    assert "score 3" in thread
    assert "— Ольга Смирнова, менеджер по качеству · email" in thread
    marked = thread[:comment].rsplit("<li", 1)[1]
    assert 'class="thread-comment"' in marked and "internal comment" in marked
    assert f'href="/inbox/conversations/{conversation.pk}/">Answer in the inbox' in thread


def test_open_conversation_first_and_older_ones_collapsed(frozen_time, owner):
    customer = CustomerFactory.create()
    older = conversation_with(customer, 5, items=2)  # closed, but the most recent activity
    current = conversation_with(customer, 1, items=2, closed=False)
    page = client_for(owner).get(reverse("web:customer", args=[customer.pk])).content.decode()
    first, second = page.split('<details class="conversation-thread"')[1:3]
    assert first.startswith(" open>") and "разговор 1" in first
    assert second.startswith(">") and "разговор 5" in second
    assert current.pk != older.pk


def test_a_long_conversation_shows_its_last_entries(frozen_time, owner):
    customer = CustomerFactory.create()
    conversation = conversation_with(customer, 0, items=55, closed=False)
    page = client_for(owner).get(reverse("web:customer", args=[customer.pk])).content.decode()
    assert page.count('class="thread-item"') == 50
    assert "сообщение 0.54\n" in page and "сообщение 0.5\n" in page
    assert "сообщение 0.4\n" not in page
    assert "Последние 50 записей; более ранние — на странице разговора." in page
    assert "Ответить во входящих" in page
    assert f'href="/inbox/conversations/{conversation.pk}/"' in page


def test_the_card_reads_the_same_queries_for_one_or_five_conversations(
    frozen_time, owner, django_assert_num_queries
):
    client = client_for(owner)
    one = CustomerFactory.create()
    conversation_with(one, 0, items=10, closed=False)
    five = CustomerFactory.create()
    for n in range(5):
        conversation_with(five, n, items=10, closed=n != 4)
    client.get(reverse("web:customer", args=[one.pk]))  # warm: settings rows, the session
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("web:customer", args=[one.pk]))
    with django_assert_num_queries(len(small.captured_queries)):
        body = client.get(reverse("web:customer", args=[five.pk])).content.decode()
    assert body.count('class="thread-item"') == 50


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_a_role_sees_the_thread_exactly_when_the_inbox_opens_for_it(frozen_time, role):
    user = UserFactory.create(username=f"u-{role}", role=role)
    customer = CustomerFactory.create()
    conversation = conversation_with(customer, 0, items=1, closed=False)
    client = client_for(user)
    inbox = client.get(reverse("web:conversation", args=[conversation.pk])).status_code
    page = client.get(reverse("web:customer", args=[customer.pk])).content.decode()
    assert inbox in (200, 403)
    assert ("сообщение 0.0" in page) == (inbox == 200)


def test_staff_without_inbox_access_are_shown_nothing(frozen_time):
    customer = CustomerFactory.create()
    conversation_with(customer, 0, items=1, closed=False)
    template = Template("{% load inbox %}{% customer_conversations customer %}")

    def rendered(role: str) -> str:
        request = RequestFactory().get("/")
        request.user = UserFactory.create(username=f"x-{role or 'none'}", role=role)
        request.LANGUAGE_CODE = "ru"
        return template.render(Context({"request": request, "customer": customer}))

    assert "сообщение 0.0" in rendered(Role.SUPPORT)
    assert rendered("").strip() == ""  # no role: no permission, no conversations
