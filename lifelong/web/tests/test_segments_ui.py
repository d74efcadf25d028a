"""The segment builder, segment pages and the lifecycle rules page."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from lifelong.accounts.models import AuditLog, Role
from lifelong.customers.services import customer_tags_add
from lifelong.factories import CustomerFactory
from lifelong.segments.editing import rules_problems, segment_refresh_run
from lifelong.segments.models import LifecycleRules, Segment, Stage
from lifelong.segments.rules import RULE_MESSAGES
from lifelong.segments.services import segment_create, segment_refresh, stages_refresh
from lifelong.segments.tests.helpers import buyer
from lifelong.web.forms_segments import problem_message
from lifelong.web.tests.conftest import logged_in, staff

EVERY_KIND = {
    "kind": "group",
    "op": "and",
    "negate": False,
    "rules": [
        {"kind": "summary", "field": "total_spent", "op": "gte", "value": "1500.50"},
        {"kind": "last_order", "op": "before", "days": 45, "negate": True},
        {"kind": "bought", "sku": "TEA-1", "within_days": 30},
        {"kind": "bought", "category": "Чай", "within_days": None},
        {"kind": "event", "type": "email_opened", "within_days": 30, "negate": True},
        {
            "kind": "group",
            "op": "or",
            "negate": True,
            "rules": [
                {"kind": "score", "field": "stage", "op": "in", "value": ["at_risk", "sleeping"]},
                {"kind": "score", "field": "rfm_segment", "op": "eq", "value": "champions"},
                {"kind": "score", "field": "rfm_recency", "op": "gte", "value": 4},
                {"kind": "score", "field": "rfm_monetary", "op": "in", "value": [1, 2]},
                {"kind": "score", "field": "p_alive", "op": "lt", "value": 0.35},
                {"kind": "score", "field": "predicted_clv", "op": "gte", "value": 12000.0},
            ],
        },
        {"kind": "tag", "tag": "vip"},
        {"kind": "consent", "channel": "sms", "purpose": "marketing"},
        {"kind": "profile", "field": "email", "op": "contains", "value": "@mail.ru"},
        {"kind": "profile", "field": "phone", "op": "empty", "value": None},
        {"kind": "profile", "field": "language", "op": "in", "value": ["ru", "en"]},
        {"kind": "attribute", "key": "city", "op": "eq", "value": "Казань"},
        {"kind": "attribute", "key": "age", "op": "gt", "value": 30},
        {"kind": "attribute", "key": "kids", "op": "in", "value": [1, 2, True, "many"]},
        {"kind": "attribute", "key": "pet", "op": "exists", "value": None},
    ],
}


class FormFields(HTMLParser):
    """What a browser would submit for the form with id `segment-form`."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "segment-form":
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value", "on")))
            else:
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a["value"]))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            name, _ = self.fields[-1]
            self.fields[-1] = (name, data.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_fields(html: str) -> dict[str, list[str]]:
    parser = FormFields()
    parser.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    return data


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def marketer_client(db) -> Client:
    return logged_in(staff(Role.MARKETER))


@pytest.fixture
def analyst_client(db) -> Client:
    return logged_in(staff(Role.ANALYST))


def test_stored_rules_of_every_kind_survive_the_builder(marketer_client):
    """Render the edit page, submit exactly what the browser would: the rules come back equal."""
    segment = segment_create(name="Everything", rules=EVERY_KIND)
    page = marketer_client.get(reverse("web:segment_edit", args=[segment.pk]))
    assert page.status_code == 200
    data = form_fields(page.content.decode())
    response = marketer_client.post(reverse("web:segment_edit", args=[segment.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    before = segment.rules
    segment.refresh_from_db()
    assert segment.rules == before
    assert not AuditLog.objects.filter(action="segment.update").exists()  # nothing changed


def test_create_from_fields_saves_audits_and_fills_after_commit(
    marketer_client, django_capture_on_commit_callbacks, frozen_time
):
    regular = buyer(10, 40, 70)
    buyer(5)
    data = {
        "name": "  Regulars ",
        "description": "Two orders or more",
        "r.kind": "group",
        "r.op": "and",
        "r_0.kind": "summary",
        "r_0.field": "orders_count",
        "r_0.op": "gte",
        "r_0.value": "2",
    }
    with django_capture_on_commit_callbacks() as callbacks:
        response = marketer_client.post(reverse("web:segment_create"), data)
    segment = Segment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("web:segment", args=[segment.pk])
    assert segment.name == "Regulars"
    assert segment.rules["rules"] == [
        {"kind": "summary", "field": "orders_count", "op": "gte", "value": "2", "negate": False}
    ]
    audit = AuditLog.objects.get(action="segment.create")
    assert audit.actor.username == Role.MARKETER
    assert audit.object_id == str(segment.pk)
    assert len(callbacks) == 1  # the refresh thread starts only after commit

    detail = marketer_client.get(reverse("web:segment", args=[segment.pk])).content.decode()
    assert "refreshing" in detail
    segment_refresh_run(segment.pk)  # what the thread does
    segment.refresh_from_db()
    assert segment.member_count == 1
    assert list(segment.memberships.values_list("customer_id", flat=True)) == [regular.pk]
    status = marketer_client.get(reverse("web:segment_status", args=[segment.pk]))
    assert status["HX-Refresh"] == "true"


def test_bad_condition_is_reported_at_its_node_and_nothing_is_saved(marketer_client):
    data = {
        "name": "Broken",
        "r.kind": "group",
        "r.op": "or",
        "r_0.kind": "tag",
        "r_0.tag": "vip",
        "r_1.kind": "group",
        "r_1.op": "and",
        "r_1_0.kind": "summary",
        "r_1_0.field": "total_spent",
        "r_1_0.op": "gte",
        "r_1_0.value": "lots",
        "r_1_1.kind": "score",
        "r_1_1.field": "rfm_recency",
        "r_1_1.op": "in",
        "r_1_1.value": "",
    }
    response = marketer_client.post(reverse("web:segment_create"), data)
    assert response.status_code == 400
    assert not Segment.objects.exists()
    html = response.content.decode()
    assert slot(html, "err-r_0") == ""
    assert "Enter a number" in slot(html, "err-r_1_0")
    assert "at least one value" in slot(html, "err-r_1_1")
    # The draft is shown again as typed.
    assert 'value="lots"' in html


def slot(html: str, slot_id: str) -> str:
    start = html.index(f'id="{slot_id}"')
    return html[html.index(">", start) + 1 : html.index("</small>", start)].strip()


def test_builder_adds_nests_and_removes_nodes(marketer_client):
    url = reverse("web:segment_builder")
    base = {"r.kind": "group", "r.op": "and", "r_0.kind": "tag", "r_0.tag": "vip"}
    added = marketer_client.post(url, {**base, "action": "group:r"})
    assert added.status_code == 200
    assert added["HX-Trigger"] == "rules-changed"
    fields = form_fields(f'<form id="segment-form">{added.content.decode()}</form>')
    assert fields["r_0.tag"] == ["vip"]
    assert fields["r_1.kind"] == ["group"]
    assert fields["r_1_0.kind"] == ["summary"]  # a new group starts with one condition

    removed = marketer_client.post(url, {**fields, "action": "remove:r_0"})
    fields = form_fields(f'<form id="segment-form">{removed.content.decode()}</form>')
    assert fields["r_0.kind"] == ["group"]  # the group moved up
    assert "r_1.kind" not in fields

    switched = marketer_client.post(url, {**fields, "r_0_0.kind": "score", "action": "refresh"})
    fields = form_fields(f'<form id="segment-form">{switched.content.decode()}</form>')
    # The summary's field, op and value do not leak into the new kind.
    assert fields["r_0_0.field"] == ["stage"]
    assert "r_0_0.op" not in fields and "r_0_0.value" not in fields


def test_groups_cannot_nest_deeper_than_the_rules_allow(marketer_client):
    url = reverse("web:segment_builder")
    data = {"r.kind": "group"}
    path = "r"
    for _depth in range(5):
        path += "_0"
        data[f"{path}.kind"] = "group"
    html = marketer_client.post(url, {**data, "action": f"group:{path}"}).content.decode()
    assert f"{path}_0.kind" not in html
    assert f'"group:{path}"' not in html  # no button to nest further


def test_live_count_counts_the_draft_and_points_at_errors(marketer_client, frozen_time):
    vip = buyer(3)
    customer_tags_add(customer=vip, names=["vip"])
    buyer(3)
    url = reverse("web:segment_count")
    counted = marketer_client.post(
        url, {"r.kind": "group", "r.op": "and", "r_0.kind": "tag", "r_0.tag": "vip"}
    )
    assert counted.status_code == 200
    html = counted.content.decode()
    assert '<span class="live-number">1</span>' in html
    assert 'id="err-r_0"' in html and 'hx-swap-oob="true"' in html

    broken = marketer_client.post(
        url, {"r.kind": "group", "r_0.kind": "last_order", "r_0.op": "within", "r_0.days": "x"}
    ).content.decode()
    assert "live-number" not in broken
    assert "whole number" in slot(broken, "err-r_0")


def test_detail_shows_rules_moves_and_members_in_fixed_queries(
    analyst_client, frozen_time, django_assert_num_queries
):
    rules = {
        "op": "and",
        "rules": [
            {"kind": "summary", "field": "orders_count", "op": "gte", "value": 1},
            {"kind": "event", "type": "email_opened", "within_days": 30, "negate": True},
        ],
    }
    segment = segment_create(name="Buyers", rules=rules)
    first = buyer(3)
    segment_refresh(segment=segment)
    url = reverse("web:segment", args=[segment.pk])
    with django_assert_num_queries(5):  # session, user, segment, moves, members
        page = analyst_client.get(url)
    html = page.content.decode()
    assert "number of orders is at least 1" in html
    assert "did not do «email_opened» in the last 30 days" in html
    assert str(first) in html
    assert "Edit" not in html  # an analyst only reads

    for _ in range(4):
        buyer(2)
    frozen_time.shift(dt.timedelta(days=1))
    segment_refresh(segment=segment)
    with django_assert_num_queries(5):
        page = analyst_client.get(url)
    assert page.context["moves"] == {"entered": 5, "exited": 0}
    assert len(page.context["page"].rows) == 5


def test_list_shows_counts_in_fixed_queries(analyst_client, django_assert_num_queries):
    segment_create(name="A", rules={"op": "and", "rules": []})
    url = reverse("web:segments")
    with django_assert_num_queries(3):
        analyst_client.get(url)
    for name in ("B", "C", "D"):
        segment_refresh(segment=segment_create(name=name, rules={"op": "and", "rules": []}))
    with django_assert_num_queries(3):
        html = analyst_client.get(url).content.decode()
    assert html.count("refreshing…") == 1  # only A was never refreshed


def test_export_is_safe_for_spreadsheets(analyst_client):
    evil = CustomerFactory(first_name='=HYPERLINK("http://x")', email="a@example.com")
    segment = segment_create(name="All", rules={"op": "and", "rules": []})
    segment_refresh(segment=segment)
    response = analyst_client.get(reverse("web:segment_export", args=[segment.pk]))
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "external_id", "first_name"]
    assert rows[1][0] == str(evil.pk)
    assert rows[1][2] == '\'=HYPERLINK("http://x")'


def test_archive_and_activate(marketer_client, django_capture_on_commit_callbacks):
    segment = segment_create(name="Old", rules={"op": "and", "rules": []})
    marketer_client.post(reverse("web:segment_archive", args=[segment.pk]))
    segment.refresh_from_db()
    assert not segment.active
    with django_capture_on_commit_callbacks() as callbacks:
        marketer_client.post(reverse("web:segment_activate", args=[segment.pk]))
    segment.refresh_from_db()
    assert segment.active and len(callbacks) == 1
    assert list(
        AuditLog.objects.filter(object_id=str(segment.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["segment.archive", "segment.activate"]


def test_lifecycle_rules_page_saves_and_validates(
    marketer_client, frozen_time, django_capture_on_commit_callbacks
):
    buyer(3)
    CustomerFactory()
    stages_refresh()
    CustomerFactory()  # not reached by the sweep yet
    page = marketer_client.get(reverse("web:lifecycle"))
    assert page.status_code == 200
    counts = {value: n for value, _label, n in page.context["stages"]}
    assert (counts[Stage.NEW], counts[Stage.LEAD], counts[""]) == (1, 1, 1)
    data: dict[str, Any] = {
        key: values[0]
        for key, values in form_fields(
            page.content.decode().replace('class="lifecycle"', 'id="segment-form"')
        ).items()
    }
    assert data["loyal_min_orders"] == "5"

    bad = marketer_client.post(reverse("web:lifecycle"), {**data, "sleeping_after_days": "400"})
    assert bad.status_code == 400
    assert "Sleeping must start before churned" in bad.content.decode()
    assert LifecycleRules.current().sleeping_after_days == 180

    with django_capture_on_commit_callbacks() as callbacks:
        good = marketer_client.post(
            reverse("web:lifecycle"), {**data, "loyal_min_orders": "4", "at_risk_factor": "2.5"}
        )
    assert good.status_code == 302
    rules = LifecycleRules.current()
    assert (rules.loyal_min_orders, rules.at_risk_factor) == (4, Decimal("2.5"))
    audit = AuditLog.objects.get(action="lifecycle_rules.update")
    assert audit.changes["loyal_min_orders"] == {"from": "5", "to": "4"}
    assert len(callbacks) == 1  # stages recomputed after commit


def test_recompute_now_starts_after_commit(marketer_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = marketer_client.post(reverse("web:lifecycle_recompute"))
    assert response.status_code == 302
    assert len(callbacks) == 1


def test_rule_refusals_reach_staff_in_their_language_by_code():
    rules = {
        "op": "and",
        "rules": [
            {"kind": "score", "field": "rfm_segment", "op": "gt", "value": "champions"},
            {"kind": "score", "field": "p_alive", "op": "in", "value": [1]},
        ],
    }
    problems = rules_problems(rules)
    assert [p.type for p in problems] == ["eq_or_in", "one_number"]
    with translation.override("ru"):
        assert [problem_message(p) for p in problems] == [
            "Выберите один из предложенных вариантов.",
            "Введите одно число.",
        ]
        russian = {code: str(message) for code, message in RULE_MESSAGES.items()}
    with translation.override("en"):
        english = {code: str(message) for code, message in RULE_MESSAGES.items()}
    assert [code for code in RULE_MESSAGES if russian[code] == english[code]] == []


@pytest.mark.parametrize(
    "condition",
    [
        {"r_0.kind": "tag", "r_0.tag": "vi\x00p"},
        {"r_0.kind": "event", "r_0.type": "email_\x00opened"},
        {"r_0.kind": "attribute", "r_0.key": "city", "r_0.op": "eq", "r_0.value": "Ка\x00зань"},
        # Digits enough to make an infinite float.
        {"r_0.kind": "score", "r_0.field": "predicted_clv", "r_0.value": "9" * 400 + ".5"},
        {"r_0.kind": "attribute", "r_0.key": "age", "r_0.op": "gt", "r_0.value": "9" * 400 + ".5"},
    ],
)
def test_values_no_database_compares_with_are_shown_at_their_condition(marketer_client, condition):
    CustomerFactory.create(attributes={"city": "Казань", "age": 30})
    draft = {"r.kind": "group", "r.op": "and", **condition}
    counted = marketer_client.post(reverse("web:segment_count"), draft)
    assert counted.status_code == 200
    html = counted.content.decode()
    assert "live-number" not in html
    assert slot(html, "err-r_0") != ""
    created = marketer_client.post(reverse("web:segment_create"), {"name": "Bad", **draft})
    assert created.status_code == 400
    assert not Segment.objects.exists()
