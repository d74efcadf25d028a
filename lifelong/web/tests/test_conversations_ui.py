"""The conversations inbox pages: filters and search in a bounded number of queries, the
reply form's double submit, role checks (analyst reads only), the card's include."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lifelong import clock
from lifelong.conftest import client_for
from lifelong.customers.models import Channel
from lifelong.factories import CustomerFactory
from lifelong.feedback.inbox import (
    conversation_assign,
    conversation_status_set,
    item_record,
    review_record,
)
from lifelong.feedback.models import Conversation, ConversationStatus, ItemSource, Reply
from lifelong.messaging.models import ChannelConfig, Message

pytestmark = pytest.mark.django_db


def said(n: int, text: str, channel: str = "telegram") -> Conversation:
    customer = CustomerFactory.create(first_name=f"Анна{n}", telegram_chat_id=str(1000 + n))
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key=f"k{n}",
        customer=customer,
        text=text,
        channel=channel,
    )
    return item.conversation


@pytest.fixture
def telegram(db):
    return ChannelConfig.objects.create(
        channel=Channel.TELEGRAM, transport="sandbox", config={}, active=True
    )


def test_the_list_reads_in_the_same_queries_however_many_rows(
    frozen_time, support, django_assert_num_queries
):
    client = client_for(support)
    said(0, "Курьер опоздал")
    with django_assert_num_queries(5) as few:
        client.get(reverse("web:conversations"), {"q": "курьер", "overdue": ""})
    for n in range(1, 12):
        conversation = said(n, f"Курьер опоздал {n}")
        conversation_assign(conversation=conversation, assignee=support, actor=support)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("web:conversations"), {"q": "курьер"})
    assert response.content.decode().count('href="/inbox/conversations/') == 12


def test_filters_my_queue_theme_source_overdue(frozen_time, support, owner):
    mine = said(1, "Доставку ждали неделю, ужасно")
    conversation_assign(conversation=mine, assignee=support, actor=support)
    other = said(2, "Цены выросли, дорого")
    review, _ = review_record(
        source="2gis", external_id="g1", customer=None, text="Хорошо", rating=5
    )
    client = client_for(support)

    def shown(**params: str) -> set[int]:
        page = client.get(reverse("web:conversations"), params).content.decode()
        return {
            c.pk
            for c in (mine, other, review.conversation)
            if f'href="/inbox/conversations/{c.pk}/"' in page
        }

    assert shown() == {mine.pk, other.pk, review.conversation_id}
    assert shown(assignee="me") == {mine.pk}
    assert shown(assignee="none") == {other.pk, review.conversation_id}
    assert shown(theme="delivery") == {mine.pk}
    assert shown(source="2gis") == {review.conversation_id}
    assert shown(q="дорого") == {other.pk}
    assert shown(overdue="on") == set()
    frozen_time.shift(dt.timedelta(hours=3))  # urgent ones (negative text) are 2 hours
    assert shown(overdue="on") == {mine.pk, other.pk}
    assert shown(status="closed") == set()
    conversation_status_set(conversation=other, status="closed", actor=support)
    assert shown(assignee="none") == {review.conversation_id}
    assert shown(status="closed") == {other.pk}
    assert shown(status="") == {mine.pk, other.pk, review.conversation_id}


def test_a_double_submitted_reply_sends_once(frozen_time, telegram, support):
    conversation = said(1, "Курьер опоздал")
    client = client_for(support)
    page = client.get(reverse("web:conversation", args=[conversation.pk]))
    key = page.context["reply_form"].initial["key"]
    form = {"text": "Простите нас", "signer": "support", "key": key}
    url = reverse("web:conversation_reply", args=[conversation.pk])

    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302

    assert Reply.objects.count() == 1 and Message.objects.count() == 1
    message = Message.objects.get()
    assert (message.channel, message.to or "") == ("telegram", message.to or "")
    assert message.body_text == "Простите нас\n\n— support"
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING


def test_a_signer_not_offered_is_refused(frozen_time, telegram, support):
    conversation = said(1, "Курьер опоздал")
    response = client_for(support).post(
        reverse("web:conversation_reply", args=[conversation.pk]),
        {"text": "Привет", "signer": "Директор всего", "key": "k1"},
    )
    assert response.status_code == 400
    assert not Reply.objects.exists()


def test_the_analyst_reads_but_does_not_act(frozen_time, telegram, analyst):
    conversation = said(1, "Курьер опоздал")
    client = client_for(analyst)
    page = client.get(reverse("web:conversation", args=[conversation.pk]))
    assert page.status_code == 200
    assert "conversation_reply" not in page.content.decode()
    assert b'action="/inbox/conversations/' not in page.content
    for name in ("conversation_reply", "conversation_assign", "conversation_status"):
        response = client.post(reverse(f"web:{name}", args=[conversation.pk]), {"status": "closed"})
        assert response.status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.NEW


def test_the_rules_form_changes_new_due_times(frozen_time, owner):
    client = client_for(owner)
    response = client.post(
        reverse("web:inbox_settings"),
        {
            "urgent_hours": 1,
            "normal_hours": 8,
            "detractor_max": 6,
            "low_rating_max": 2,
            "signers": "Пётр Иванов, директор\nОльга Смирнова, менеджер по качеству",
        },
    )
    assert response.status_code == 302
    conversation = said(1, "Курьер опоздал")  # negative, but negative is not urgent now
    assert conversation.due_at == clock.now() + dt.timedelta(hours=8)
    page = client_for(owner).get(reverse("web:conversation", args=[conversation.pk]))
    assert "Ольга Смирнова, менеджер по качеству" in page.content.decode()


def test_the_card_shows_the_customers_conversations(frozen_time, owner):
    conversation = said(1, "Курьер опоздал")
    page = client_for(owner).get(reverse("web:customer", args=[conversation.customer_id]))
    assert f'href="/inbox/conversations/{conversation.pk}/"' in page.content.decode()


def test_old_sandbox_links_redirect(frozen_time, owner):
    response = client_for(owner).get("/inbox/15/")
    assert response.status_code == 302
    assert response["Location"] == reverse("web:inbox_message", args=[15])


REVIEWS_CSV = (
    "Source;External ID;Rating;Text;Author;Published at\n"
    "yandex_maps;ym-1;2;Доставку ждали неделю;Марина;01.03.2026 10:00\n"
    "2gis;g-1;5;Отличный магазин;Пётр;\n"
    "vk;x-1;5;Не отзыв;;\n"
    "2gis;g-2;9;Оценка мимо шкалы;;\n"
).encode("cp1251")


def test_reviews_import_from_csv_once_with_bad_rows_named(frozen_time, marketer, tmp_path):
    client = client_for(marketer)
    url = reverse("web:inbox_reviews_import")
    first = client.post(url, {"file": SimpleUploadedFile("reviews.csv", REVIEWS_CSV)})
    again = client.post(url, {"file": SimpleUploadedFile("reviews.csv", REVIEWS_CSV)})

    assert first.status_code == 200
    assert (first.context["result"].created, first.context["result"].duplicates) == (2, 0)
    assert [n for n, _ in first.context["result"].errors] == [4, 5]
    assert (again.context["result"].created, again.context["result"].duplicates) == (0, 2)
    texts = set(Conversation.objects.values_list("preview", flat=True))
    assert texts == {"Доставку ждали неделю", "Отличный магазин"}
