"""The conversations inbox in a real browser (Debian's Chromium), in Russian: a support agent
opens their queue, takes a conversation, leaves a comment, replies signed by the quality
manager (a double click sends once), and closes it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from lifelong.accounts.models import Role
from lifelong.customers.models import Channel
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Comment, ConversationStatus, InboxSettings, ItemSource, Reply
from lifelong.messaging.models import ChannelConfig, Message
from lifelong.web.tests.conftest import PHONE

pytestmark = pytest.mark.browser


@pytest.fixture
def support_page(staff_page) -> Page:
    support = UserFactory.create(
        username="olga", first_name="Ольга", last_name="Смирнова", role=Role.SUPPORT, password=None
    )
    return staff_page(support)


def test_support_takes_comments_replies_and_closes(support_page, live_server):
    page = support_page
    ChannelConfig.objects.create(channel=Channel.TELEGRAM, transport="sandbox", config={})
    rules = InboxSettings.current()
    rules.signers = "Пётр Иванов, директор\nИрина Котова, менеджер по качеству"
    rules.save()
    customer = CustomerFactory.create(first_name="Анна", last_name="Петрова", telegram_chat_id="77")
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key="tg-1",
        customer=customer,
        text="Курьер опоздал на два часа, очень неприятно",
        channel="telegram",
    )
    conversation = item.conversation

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Входящие", exact=True).click()
    expect(page.locator("table.conversations")).to_contain_text("Курьер опоздал")
    page.get_by_role("link", name="Курьер опоздал на два часа").click()
    expect(page.get_by_role("heading", name="Петрова Анна")).to_be_visible()

    page.locator("#assignee").select_option(label="Ольга Смирнова")
    page.get_by_role("button", name="Назначить").click()
    expect(page.locator("header.card-head")).to_contain_text("Ольга Смирнова")
    expect(page.locator("header.card-head")).to_contain_text("В процессе")

    page.locator("#comments textarea[name=text]").fill("Уточнила у службы доставки")
    page.get_by_role("button", name="Добавить комментарий").click()
    expect(page.locator("#comments")).to_contain_text("Уточнила у службы доставки")
    assert Comment.objects.get().conversation_id == conversation.pk

    page.locator("#reply textarea[name=text]").fill("Анна, простите за опоздание, курьер наказан.")
    page.locator("#reply select[name=signer]").select_option(
        label="Ирина Котова, менеджер по качеству"
    )
    page.locator("#reply button[type=submit]").dblclick()
    expect(page.locator("#replies")).to_contain_text("— Ирина Котова, менеджер по качеству")
    assert Reply.objects.count() == 1 and Message.objects.count() == 1
    assert Message.objects.get().body_text.endswith("— Ирина Котова, менеджер по качеству")
    expect(page.locator("header.card-head")).to_contain_text("Ждём ответа клиента")

    page.locator("#status").select_option(value="closed")
    page.get_by_role("button", name="Сменить статус").click()
    expect(page.locator("header.card-head")).to_contain_text("Закрыт")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert Event.objects.filter(type="feedback_closed", customer=customer).count() == 1


def test_the_marketer_imports_reviews_from_a_spreadsheet(staff_page, live_server, tmp_path):
    marketer = UserFactory.create(username="marina", role=Role.MARKETER, password=None)
    page = staff_page(marketer, viewport=PHONE)
    reviews = tmp_path / "отзывы.csv"
    reviews.write_bytes(
        "source;external_id;rating;text\n"
        "yandex_maps;ym-1;2;Доставку ждали неделю\n"
        "2gis;g-1;7;Оценка мимо шкалы\n".encode("cp1251")
    )

    page.goto(f"{live_server.url}/inbox/")
    page.get_by_role("link", name="Загрузить отзывы").click()
    page.locator("input[type=file]").set_input_files(str(reviews))
    page.get_by_role("button", name="Импорт").click()
    expect(page.locator("#import-result")).to_contain_text("Добавлено: 1.")
    expect(page.locator("#import-result")).to_contain_text("Строка 3")
    page.get_by_role("link", name="Входящие", exact=True).first.click()
    expect(page.locator("table.conversations")).to_contain_text("Доставку ждали неделю")


def test_the_marketer_sets_the_sla_rules(staff_page, live_server):
    marketer = UserFactory.create(username="mila", role=Role.MARKETER, password=None)
    page = staff_page(marketer, viewport=None, language=None)
    page.goto(f"{live_server.url}/inbox/rules/")
    page.fill("input[name=urgent_hours]", "3")
    page.fill("input[name=normal_hours]", "12")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(f"{live_server.url}/inbox/rules/")
    row = InboxSettings.current()
    assert (row.urgent_hours, row.normal_hours) == (3, 12)
    page.context.close()
