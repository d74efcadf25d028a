"""Staff named by customers on the pages: the conversation page says who an item praises,
criticises or mentions; the Insights page lists the praised staff of the period with a link
to those conversations. Both in a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Item, ItemSource
from lifelong.feedback.tests.test_insights import MONDAY, at

pytestmark = pytest.mark.django_db

PRAISE = "Спасибо Ольге, всё быстро объяснила!"
LAST_WEEK = MONDAY - dt.timedelta(days=7)


@pytest.fixture
def olga(db):
    return UserFactory.create(username="olga", first_name="Ольга")


def said(text: str, *, key: str, customer=None, when: dt.datetime | None = None) -> Item:
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key=key,
        customer=customer or CustomerFactory.create(),
        text=text,
        channel="telegram",
        received_at=when,
    )
    return item


def test_the_conversation_page_says_who_is_praised_or_criticised(olga, support, frozen_time):
    customer = CustomerFactory.create()
    item = said(PRAISE, key="1", customer=customer)
    url = reverse("web:conversation", args=[item.conversation_id])
    client = client_for(support)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        page = client.get(url).content.decode()
    assert "Хвалит: Ольга" in page
    said("Ольга нагрубила по телефону, ужасно", key="2", customer=customer)
    said("Общалась с Ольгой по заказу", key="3", customer=customer)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert "Критикует: Ольга" in page and "Упоминает: Ольга" in page
    assert len(many) == len(few)


def test_the_insights_page_lists_praised_staff_and_links_to_their_conversations(
    olga, owner, frozen_time
):
    praised = said(PRAISE, key="1", when=at(LAST_WEEK))
    said("Ольга молодец, очень помогла", key="2", when=at(LAST_WEEK))
    complained = said("Ольга нагрубила по телефону, ужасно", key="3", when=at(LAST_WEEK))
    client = client_for(owner)
    url = reverse("web:feedback_insights")
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    page = response.content.decode()
    assert [(p.name, p.mentions) for p in response.context["praised"]] == [("Ольга", 2)]
    table = page.split('id="praised-staff"')[1].split("</table>")[0]
    assert "Ольга" in table and ">2<" in table
    link = reverse("web:conversations") + f"?status=&praised={olga.pk}"
    assert link.replace("&", "&amp;") in table

    listed = client.get(link).context["page"].rows
    assert praised.conversation in listed and complained.conversation not in listed
    assert len(listed) == 2

    Item.mentioned_staff.through.objects.all().delete()
    with CaptureQueriesContext(connection) as none:
        page = client.get(url).content.decode()
    assert "никого не похвалили по имени" in page and 'id="praised-staff"' not in page
    assert len(none) == len(many)
