"""CSV exports of the task list and the audit log: the pages' rows, safe cells, fixed queries."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from lifelong import clock
from lifelong.accounts.models import AuditLog, Role
from lifelong.accounts.services import audit_record
from lifelong.factories import CustomerFactory, TaskFactory
from lifelong.followups.models import TaskStatus
from lifelong.web.exports import ROWS_PER_CHUNK
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:]), delimiter=";"))


def test_tasks_export_is_the_task_list_with_formula_cells_escaped(frozen_time):
    me = staff(Role.SUPPORT, "me")
    other = staff(Role.SUPPORT, "other")
    now = clock.now()
    customer = CustomerFactory(last_name="=Иванова", first_name="Анна")
    later_mine = TaskFactory(
        customer=customer, assignee=me, title="=HYPERLINK(1)", due_at=now + dt.timedelta(days=3)
    )
    sooner_mine = TaskFactory(customer=customer, assignee=me, due_at=now + dt.timedelta(days=1))
    unassigned = TaskFactory(title="@SUM(A1)", due_at=now)
    TaskFactory(assignee=other)  # someone else's: not on my list
    TaskFactory(assignee=me, status=TaskStatus.DONE)  # done: not on the list either
    client = logged_in(me)
    client.cookies["django_language"] = "en"

    rows = csv_rows(client.get(reverse("web:tasks_csv")))
    page = client.get(reverse("web:tasks")).context["page"].rows

    assert rows[0][:3] == ["id", "due", "title"]
    assert [row[0] for row in rows[1:]] == [str(task.pk) for task in page]
    assert [row[0] for row in rows[1:]] == [
        str(sooner_mine.pk),
        str(later_mine.pk),
        str(unassigned.pk),
    ]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[str(later_mine.pk)][2] == "'=HYPERLINK(1)"
    assert by_id[str(later_mine.pk)][5] == "'=Иванова Анна"
    assert by_id[str(later_mine.pk)][6] == "me"
    assert by_id[str(unassigned.pk)][2] == "'@SUM(A1)"
    assert by_id[str(unassigned.pk)][6] == ""
    # Due time in the business time zone, as the page shows it.
    assert by_id[str(sooner_mine.pk)][1] == timezone.localtime(sooner_mine.due_at).isoformat(
        timespec="seconds"
    )


def test_tasks_export_has_an_attachment_name_and_a_link_on_the_page():
    me = staff(Role.ANALYST, "me")
    TaskFactory(assignee=me)
    client = logged_in(me)
    response = client.get(reverse("web:tasks_csv"))
    assert response["Content-Disposition"] == 'attachment; filename="tasks.csv"'
    assert reverse("web:tasks_csv") in client.get(reverse("web:tasks")).content.decode()


@pytest.mark.parametrize("tasks", [2, 20])
def test_tasks_export_query_count_is_fixed(django_assert_num_queries, tasks):
    me = staff(Role.SUPPORT, "me")
    TaskFactory.create_batch(tasks, assignee=me)
    client = logged_in(me)
    # session, user, the tasks with their customers and assignees
    with django_assert_num_queries(3):
        rows = csv_rows(client.get(reverse("web:tasks_csv")))
    assert len(rows) == tasks + 1


def test_audit_export_is_the_log_newest_first_with_formula_cells_escaped(frozen_time):
    owner = staff(Role.OWNER, "=owner")
    audit_record(actor=owner, action="user.create", object_type="accounts.user", object_id="7")
    frozen_time.shift(dt.timedelta(minutes=1))
    audit_record(
        actor=None,
        action="segment.update",
        object_type="segments.segment",
        object_id="3",
        changes={"name": {"from": "A", "to": "=cmd|' /C calc'!A0"}},
        ip="127.0.0.1",
    )
    client = logged_in(owner)
    client.cookies["django_language"] = "en"

    rows = csv_rows(client.get(reverse("web:audit_csv")))

    assert rows[0] == ["when", "who", "action", "object", "object id", "changes", "IP", "API key"]
    assert [row[2] for row in rows[1:]] == ["segment.update", "user.create"]
    newest, oldest = rows[1], rows[2]
    assert newest[3:5] == ["segments.segment", "3"]
    assert '"to": "=cmd' in newest[5] and not newest[5].startswith("=")
    assert newest[6] == "127.0.0.1"
    assert oldest[1] == "'=owner"
    assert oldest[5] == ""


def test_audit_changes_starting_a_cell_are_escaped():
    owner = staff(Role.OWNER)
    AuditLog.objects.create(action="+1", object_type="-x", actor_label="@me")
    rows = csv_rows(logged_in(owner).get(reverse("web:audit_csv")))
    assert rows[1][1:4] == ["'@me", "'+1", "'-x"]


def test_audit_page_links_its_export():
    owner = staff(Role.OWNER)
    audit_record(actor=owner, action="user.create")
    body = logged_in(owner).get(reverse("web:audit")).content.decode()
    assert reverse("web:audit_csv") in body


@pytest.mark.parametrize("entries", [2, 20])
def test_audit_export_query_count_is_fixed(django_assert_num_queries, entries):
    owner = staff(Role.OWNER)
    for n in range(entries):
        audit_record(actor=owner, action="user.create", object_id=str(n))
    client = logged_in(owner)
    # session, user, the log (the actor's name is stored on each row)
    with django_assert_num_queries(3):
        rows = csv_rows(client.get(reverse("web:audit_csv")))
    assert len(rows) == entries + 1


def test_audit_export_streams_in_chunks(django_assert_num_queries):
    owner = staff(Role.OWNER)
    total = ROWS_PER_CHUNK * 2 + 5
    AuditLog.objects.bulk_create(
        AuditLog(action="user.create", object_id=str(n)) for n in range(total)
    )
    client = logged_in(owner)
    with django_assert_num_queries(3):
        response = client.get(reverse("web:audit_csv"))
        chunks = list(response.streaming_content)
    # The BOM, then the header and the rows a thousand at a time: never one big string.
    assert len(chunks) == 4
    lines = b"".join(chunks).decode("utf-8").splitlines()
    assert len(lines) == total + 1


@pytest.mark.parametrize(
    ("role", "tasks", "audit"),
    [
        (Role.OWNER, 200, 200),
        (Role.MARKETER, 200, 403),
        (Role.SUPPORT, 200, 403),
        (Role.ANALYST, 200, 403),
    ],
)
def test_roles(role, tasks, audit):
    client = logged_in(staff(role))
    assert client.get(reverse("web:tasks_csv")).status_code == tasks
    assert client.get(reverse("web:audit_csv")).status_code == audit
