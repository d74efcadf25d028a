"""The staff UI in a real browser: Debian's Chromium driven by Playwright.

Signs in, finds a customer, opens the card, imports a CSV and finds the new customer.
Screenshots of the list and the card at laptop and phone widths go to /tmp.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lifelong.accounts.models import Role
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.services import customer_tags_add, note_add
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory

PASSWORD = "correct-horse-battery"
SHOTS = Path("/tmp")

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(transactional_db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    UserFactory(username="olga", role=Role.OWNER)
    anna = CustomerFactory(
        last_name="Иванова", first_name="Анна", patronymic="Сергеевна", email="anna@example.ru"
    )
    for n, total in enumerate(["2490.00", "1290.00"]):
        order = OrderFactory(customer=anna, total=Decimal(total), external_id=f"W-{n}")
        event_record(
            customer=anna,
            type="order_placed",
            properties={"external_id": order.external_id, "total": total, "currency": "RUB"},
        )
    customer_summaries_refresh([anna.pk])
    customer_tags_add(customer=anna, names=["йога", "vip"])
    note_add(customer=anna, author=None, text="Любит коврики потолще")
    for last, first in [("Петров", "Иван"), ("Смирнова", "Ольга"), ("Кузнецов", "Олег")]:
        CustomerFactory(last_name=last, first_name=first, gender="m" if last[-1] != "а" else "f")
    return anna


def test_staff_journey(browser, live_server, shop, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page.set_default_timeout(15_000)

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]:has-text('Войти'), form button:has-text('Вход')")
    page.wait_for_url(f"{live_server.url}/")

    page.click("nav >> text=Клиенты")
    page.fill("input[name=q]", "иванова")
    # htmx swaps the results in place and pushes the query into the address bar.
    page.wait_for_url("**q=*")
    expect(page.locator("#customer-results tbody tr")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "lifelong-customers-1280.png"), full_page=True)

    page.click("#customer-results >> text=Иванова Анна")
    page.wait_for_selector("#timeline")
    assert "Оформила заказ" in page.inner_text("#timeline")
    page.screenshot(path=str(SHOTS / "lifelong-card-1280.png"), full_page=True)

    page.click("nav >> text=Импорт")
    csv_path = tmp_path / "clients.csv"
    good = "ID;Фамилия;Имя;Email\nB-1;Новикова;Ольга;olga.n@example.ru\n".encode()
    csv_path.write_bytes(good + "B-2;Бобров;Пётр;p".encode() + b"\xff@example.ru\n")
    page.select_option("select[name=kind]", "customers")
    page.set_input_files("input[name=file]", str(csv_path))
    page.click("text=Загрузить и импортировать")
    page.wait_for_selector("#job-progress[data-status=done]", timeout=30_000)
    assert "создано" in page.inner_text("#job-progress")
    # The rejected row is listed on the page with its number and reason.
    rejected = page.locator(".rejected-rows tbody tr")
    expect(rejected).to_have_count(1)
    expect(rejected.locator("td")).to_have_text(
        ["3", "Email", "байты, недопустимые в UTF-8, в столбце 4"]
    )
    page.screenshot(path=str(SHOTS / "lifelong-import-1280.png"), full_page=True)

    page.goto(f"{live_server.url}/customers/?q=новикова")
    assert "Новикова Ольга" in page.inner_text("#customer-results")

    phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="ru-RU")
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{live_server.url}/customers/")
    phone.screenshot(path=str(SHOTS / "lifelong-customers-390.png"), full_page=True)
    phone.goto(f"{live_server.url}/customers/{shop.pk}/")
    phone.screenshot(path=str(SHOTS / "lifelong-card-390.png"), full_page=True)
    # The menu folds behind a button on a phone and opens on tap.
    assert not phone.is_visible("nav >> text=Импорт")
    phone.click(".nav-burger")
    assert phone.is_visible("nav >> text=Импорт")
