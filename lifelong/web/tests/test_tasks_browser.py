"""The task queue in a real browser (Debian's Chromium): an owner lists everyone's tasks,
closes one without a next step and lands on the next one."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.factories import CustomerFactory, TaskFactory, UserFactory
from lifelong.followups.models import Task, TaskStatus

pytestmark = pytest.mark.browser


def test_owner_works_through_everyones_tasks(staff_page, live_server):
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    sveta = UserFactory.create(username="sveta", first_name="Света", role=Role.SUPPORT)
    now = clock.now()
    first = TaskFactory.create(
        title="Позвонить про коврик",
        assignee=sveta,
        due_at=now - dt.timedelta(days=1),
        customer=CustomerFactory.create(last_name="Соловьёва"),
    )
    second = TaskFactory.create(title="Ответить на отзыв", assignee=None, due_at=now)
    page = staff_page(owner, language=None)

    page.goto(f"{live_server.url}/tasks/")
    expect(page.locator("table")).not_to_contain_text("Позвонить про коврик")  # Света's
    page.select_option("select[name=who]", "all")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table")).to_contain_text("Позвонить про коврик")
    page.select_option("select[name=who]", str(sveta.pk))
    page.click("form.filters button[type=submit]")
    expect(page.locator("table")).not_to_contain_text("Ответить на отзыв")

    page.click("text=Позвонить про коврик")
    page.fill("textarea[name=outcome]", "Договорились о доставке")
    page.check("input[name=no_next_step]")
    page.click("form button[type=submit]:has-text('Закрыть задачу')")
    page.wait_for_url(f"{live_server.url}/tasks/{second.pk}/")
    expect(page.locator("body")).to_contain_text("Ответить на отзыв")
    first.refresh_from_db()
    assert (first.status, first.outcome) == (TaskStatus.DONE, "Договорились о доставке")
    assert Task.objects.filter(status=TaskStatus.OPEN).count() == 1
