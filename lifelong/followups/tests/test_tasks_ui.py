"""The task queue in the staff UI: my tasks, my next task, closing with a next step."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.customers.services import customer_tags_add
from lifelong.factories import CustomerFactory, TaskFactory, UserFactory
from lifelong.followups.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


def member(role: str = Role.SUPPORT, username: str = "sveta") -> User:
    return cast(User, UserFactory(username=username, role=role, password=None))


def client_of(user: User) -> Client:
    cache.clear()
    client = Client()
    client.force_login(user)
    return client


def days(n: float) -> dt.datetime:
    return clock.now() + dt.timedelta(days=n)


def test_my_tasks_mine_first_then_unassigned_overdue_marked(frozen_time):
    me, other = member(), member(username="kolya")
    TaskFactory(title="чужая", assignee=other, due_at=days(-5))
    TaskFactory(title="ничья срочная", assignee=None, due_at=days(-3))
    TaskFactory(title="моя потом", assignee=me, due_at=days(2))
    TaskFactory(title="моя просрочена", assignee=me, due_at=days(-1))
    TaskFactory(title="моя закрыта", assignee=me, due_at=days(-9), status=TaskStatus.DONE)
    response = client_of(me).get(reverse("web:tasks"))
    titles = [t.title for t in response.context["page"].rows]
    assert titles == ["моя просрочена", "моя потом", "ничья срочная"]
    assert response.content.decode().count('class="overdue"') == 2


@pytest.mark.parametrize("rows", [5, 50])
def test_task_list_query_count_is_fixed(rows, django_assert_num_queries):
    me = member()
    TaskFactory.create_batch(rows, assignee=me)
    client = client_of(me)
    # session, user, tasks with customer and assignee, the people to filter by
    with django_assert_num_queries(4):
        response = client.get(reverse("web:tasks"))
    assert len(response.context["page"].rows) == rows


def test_an_owner_sees_all_open_tasks_or_one_persons(frozen_time):
    owner, sveta, kolya = member(Role.OWNER, "owner"), member(), member(username="kolya")
    TaskFactory(title="Светы", assignee=sveta, due_at=days(1))
    TaskFactory(title="Коли", assignee=kolya, due_at=days(-1))
    TaskFactory(title="ничья", assignee=None, due_at=days(2))
    TaskFactory(title="закрыта", assignee=kolya, status=TaskStatus.DONE)
    client = client_of(owner)

    def shown(**params) -> list[str]:
        return [t.title for t in client.get(reverse("web:tasks"), params).context["page"].rows]

    assert shown() == ["ничья"]  # none of them are the owner's own
    assert shown(who="all") == ["Коли", "Светы", "ничья"]
    assert shown(who=str(kolya.pk)) == ["Коли"]
    assert shown(who="none") == ["ничья"]
    assert shown(who="nonsense") == ["ничья"]
    # The home page's count is the list it links to.
    home = client.get(reverse("web:home"))
    assert home.context["counts"]["open_tasks"] == len(shown(who="all"))
    assert f"{reverse('web:tasks')}?who=all" in home.content.decode()


def test_closing_a_task_opens_the_next_one(frozen_time):
    me = member()
    task = TaskFactory(assignee=me, due_at=days(-1))
    waiting = TaskFactory(assignee=me, due_at=days(1))
    response = client_of(me).post(
        reverse("web:task", kwargs={"pk": task.pk}),
        {"outcome": "Готово", "no_next_step": "on", "next_kind": "call"},
    )
    assert response["Location"] == reverse("web:task", kwargs={"pk": waiting.pk})


def test_my_next_task_opens_the_most_urgent(frozen_time):
    me = member()
    TaskFactory(assignee=None, due_at=days(-10))
    mine = TaskFactory(assignee=me, due_at=days(3))
    response = client_of(me).get(reverse("web:task_next"))
    assert response["Location"] == reverse("web:task", kwargs={"pk": mine.pk})


def test_next_task_when_queue_is_empty():
    response = client_of(member()).get(reverse("web:task_next"))
    assert response["Location"] == reverse("web:tasks")


def test_task_page_shows_the_customer():
    task = TaskFactory(customer=CustomerFactory(last_name="Сидорова", phone="+79160000001"))
    body = client_of(member()).get(reverse("web:task", kwargs={"pk": task.pk})).content.decode()
    assert "Сидорова" in body and "+79160000001" in body


def test_outcome_closes_the_task_and_creates_the_next_step(frozen_time):
    me = member()
    task = TaskFactory(assignee=me)
    response = client_of(me).post(
        reverse("web:task", kwargs={"pk": task.pk}),
        {
            "outcome": "Всё понравилось",
            "next_title": "Предложить аксессуары",
            "next_due": "2026-03-20",
            "next_kind": "message",
        },
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.outcome) == (TaskStatus.DONE, "Всё понравилось")
    following = Task.objects.get(status=TaskStatus.OPEN)
    assert (following.title, following.kind, following.assignee) == (
        "Предложить аксессуары",
        "message",
        me,
    )
    assert following.customer_id == task.customer_id
    assert following.due_at.date() == dt.date(2026, 3, 20)


def test_a_next_step_is_required_unless_explicitly_declined():
    me = member()
    task = TaskFactory(assignee=me)
    url = reverse("web:task", kwargs={"pk": task.pk})
    client = client_of(me)
    response = client.post(url, {"outcome": "Не дозвонился", "next_kind": "call"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"next_title", "next_due"}
    assert Task.objects.get(pk=task.pk).status == TaskStatus.OPEN

    response = client.post(
        url, {"outcome": "Больше не покупает", "no_next_step": "on", "next_kind": "call"}
    )
    assert response.status_code == 302
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE
    assert not Task.objects.filter(status=TaskStatus.OPEN).exists()


def test_closing_a_closed_task_shows_an_error():
    me = member()
    task = TaskFactory(assignee=me, status=TaskStatus.DONE)
    response = client_of(me).post(
        reverse("web:task", kwargs={"pk": task.pk}),
        {"outcome": "x", "no_next_step": "on", "next_kind": "call"},
    )
    assert response.status_code == 400


def test_analyst_may_read_a_task_but_not_close_it():
    task = TaskFactory()
    client = client_of(member(Role.ANALYST, "ana"))
    url = reverse("web:task", kwargs={"pk": task.pk})
    assert client.get(url).status_code == 200
    assert client.post(url, {"outcome": "x", "no_next_step": "on"}).status_code == 403
    assert Task.objects.get(pk=task.pk).status == TaskStatus.OPEN


def test_customers_without_next_step(frozen_time):
    waiting = CustomerFactory(last_name="Ждёт", last_order_at=days(-10), orders_count=1)
    planned = CustomerFactory(last_name="Запланирован", last_order_at=days(-5), orders_count=1)
    TaskFactory(customer=planned)
    CustomerFactory(last_name="Давний", last_order_at=days(-800), orders_count=1)
    response = client_of(member()).get(reverse("web:no_next_step"))
    assert [c.pk for c in response.context["page"].rows] == [waiting.pk]


@pytest.mark.parametrize("rows", [5, 50])
def test_no_next_step_query_count_is_fixed(rows, django_assert_num_queries, frozen_time):
    for customer in CustomerFactory.create_batch(rows, last_order_at=days(-1), orders_count=1):
        customer_tags_add(customer=customer, names=["vip"])
    client = client_of(member())
    with django_assert_num_queries(4):  # session, user, customers, their tags
        response = client.get(reverse("web:no_next_step"))
    assert len(response.context["page"].rows) == rows
