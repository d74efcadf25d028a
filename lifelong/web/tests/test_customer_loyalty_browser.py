"""The card's loyalty section in a real browser (Debian's Chromium), in Russian: a marketer adds
points with a reason, is refused a deduction beyond the balance, deducts within it, assigns a
personal manager, and opens the liability report from the loyalty settings."""

from __future__ import annotations

from typing import cast

import pytest
from playwright.sync_api import expect

from lifelong.accounts.models import AuditLog, Role
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.loyalty.models import Account, Transaction, TxKind
from lifelong.messaging.models import Template

pytestmark = pytest.mark.browser


@pytest.fixture
def anna(transactional_db) -> Customer:
    return cast(Customer, CustomerFactory(last_name="Иванова", first_name="Анна"))


def test_a_marketer_adjusts_points_on_the_card(staff_page, live_server, anna):
    marketer = UserFactory.create(username="mila", role=Role.MARKETER, password=None)
    page = staff_page(marketer)
    page.goto(f"{live_server.url}/customers/{anna.pk}/")
    section = page.locator("#loyalty")
    expect(section.get_by_role("heading", name="Бонусные баллы")).to_be_visible()
    expect(page.locator("#points-available")).to_have_text("0")

    section.get_by_text("Скорректировать баллы").click()
    form = page.locator("#points-adjust form")
    form.locator("input[name=points]").fill("150")
    form.locator("input[name=reason]").fill("Извинение за задержку")
    form.get_by_role("button", name="Сохранить корректировку").click()
    expect(page.locator("body")).to_contain_text("Баллы скорректированы: +150.")
    expect(page.locator("#points-available")).to_have_text("150")
    expect(page.locator("#points-history")).to_contain_text("Извинение за задержку")
    expect(page.locator("#points-history")).to_contain_text("mila")

    # More than the balance: refused with the reason, the typed values kept.
    page.locator("#loyalty").get_by_text("Скорректировать баллы").click()
    form = page.locator("#points-adjust form")
    form.locator("input[name=points]").fill("-200")
    form.locator("input[name=reason]").fill("Ошибка")
    form.get_by_role("button", name="Сохранить корректировку").click()
    expect(page.locator("body")).to_contain_text("Доступно только 150")
    expect(page.locator("input[name=points]")).to_have_value("-200")

    page.locator("input[name=points]").fill("-50")
    page.get_by_role("button", name="Сохранить корректировку").click()
    expect(page.locator("body")).to_contain_text("Баллы скорректированы: -50.")
    expect(page.locator("#points-available")).to_have_text("100")

    assert Account.objects.get(customer=anna).available == 100
    assert Transaction.objects.filter(kind=TxKind.ADJUST).count() == 2
    assert AuditLog.objects.filter(action="loyalty.adjust", actor=marketer).count() == 2


def test_a_personal_manager_is_assigned_on_the_card(staff_page, live_server, anna):
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    sveta = UserFactory.create(
        username="sveta", first_name="Светлана", last_name="Котова", role=Role.SUPPORT
    )
    page = staff_page(owner)
    page.goto(f"{live_server.url}/customers/{anna.pk}/")
    box = page.locator("#manager")
    expect(box.locator("#manager-name")).to_contain_text("Не назначен")
    box.get_by_label("Персональный менеджер").select_option(label="Светлана Котова")
    box.get_by_role("button", name="Назначить").click()
    expect(page.locator("body")).to_contain_text("Персональный менеджер сохранён.")
    expect(page.locator("#manager-name")).to_have_text("Светлана Котова")
    anna.refresh_from_db()
    assert anna.personal_manager == sveta
    assert AuditLog.objects.filter(action="customer.personal_manager", actor=owner).exists()

    # The loyalty settings page leads to the liability report, which draws its chart.
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/loyalty/")
    page.get_by_role("link", name="Отчёт об обязательствах по баллам").click()
    expect(page.get_by_role("heading", name="Обязательства по баллам")).to_be_visible()
    expect(page.locator("#chart-liability")).to_be_visible()
    # A function, not an expression: Playwright polls an expression with eval, which the
    # page's Content Security Policy refuses once the first check comes too early.
    page.wait_for_function(
        "() => window.Chart !== undefined && Chart.getChart('chart-liability') !== undefined"
    )
    assert errors == []


def test_an_email_template_is_set_to_send_as_the_personal_manager(staff_page, live_server, anna):
    marketer = UserFactory.create(username="mila", role=Role.MARKETER, password=None)
    page = staff_page(marketer)
    page.goto(f"{live_server.url}/templates/new/")
    form = page.locator("#template-form")
    form.locator("input[name=name]").fill("Новый уровень")
    form.locator("input[name=slug]").fill("tier-welcome")
    form.locator("select[name=channel]").select_option("email")
    form.locator("input[name=subject]").fill("Добро пожаловать")
    form.locator("textarea[name=body_text]").fill(
        "{{ customer.first_name }}, я ваш менеджер. {{ manager.name }}"
    )
    form.get_by_label("Имя отправителя: персональный менеджер клиента").check()
    form.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_role("heading", name="Новый уровень")).to_be_visible()
    expect(page.get_by_label("Имя отправителя: персональный менеджер клиента")).to_be_checked()
    assert Template.objects.get(slug="tier-welcome").sender_manager
