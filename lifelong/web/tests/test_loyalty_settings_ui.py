"""The loyalty settings page: programme settings and earning rules, validated and audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse

from lifelong.accounts.models import AuditLog, Role
from lifelong.loyalty.editing import PROGRAMME_FIELDS
from lifelong.loyalty.models import Cursor, EarningRule, Programme, RuleKind
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db

URL = reverse("web:loyalty_settings")


def values(**changes: object) -> dict[str, object]:
    current = model_to_dict(Programme.current(), fields=PROGRAMME_FIELDS)
    current = {k: v for k, v in current.items() if v is not False}
    current.update(changes)
    return current


@pytest.fixture
def marketer_client():
    client = logged_in(staff(Role.MARKETER, "mk"))
    client.cookies["django_language"] = "en"
    return client


def test_switching_the_programme_on_starts_it_and_audits_the_change(marketer_client):
    response = marketer_client.post(URL, values(enabled="on", pending_days="7"), follow=True)
    assert response.redirect_chain == [(URL, 302)]
    programme = Programme.current()
    assert programme.enabled and programme.pending_days == 7
    assert programme.started_at is not None
    assert Cursor.objects.filter(name="earning").exists()
    entry = AuditLog.objects.get(action="loyalty.programme.update")
    assert entry.actor_label == "mk"
    assert entry.changes == {
        "enabled": {"from": "False", "to": "True"},
        "pending_days": {"from": "14", "to": "7"},
    }


def test_empty_plural_forms_follow_the_first_form(marketer_client):
    response = marketer_client.post(URL, values(name_one="бонус", name_few="", name_many=""))
    assert response.status_code == 302
    programme = Programme.current()
    assert (programme.name_one, programme.name_few, programme.name_many) == (
        "бонус",
        "бонуса",
        "бонусов",
    )
    assert [programme.points_name(n) for n in (1, 3, 5, 11, 21, 112)] == [
        "бонус",
        "бонуса",
        "бонусов",
        "бонусов",
        "бонус",
        "бонусов",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("point_value", "0"),
        ("max_share_percent", "101"),
        ("pending_days", "-1"),
        ("expiry_months", "abc"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_saved(marketer_client, field, value):
    response = marketer_client.post(URL, values(**{field: value}))
    assert response.status_code == 400
    assert response.context["form"].errors
    assert not AuditLog.objects.exists()


def test_points_must_outlive_their_pending_period(marketer_client):
    response = marketer_client.post(URL, values(pending_days="60", expiry_months="2"))
    assert response.status_code == 400
    assert "longer than their pending period" in response.content.decode()


def test_a_rule_is_added_edited_and_audited(marketer_client):
    new = reverse("web:loyalty_rule_new")
    response = marketer_client.post(
        new,
        {
            "kind": "event",
            "name": "Review",
            "active": "on",
            "mode": "per_roubles",
            "rate": "1",
            "per_roubles": "100",
            "multiplier": "1",
            "event_type": "review_posted",
            "points": "50",
            "status_points": "10",
            "cap_count": "2",
            "cap_days": "30",
        },
    )
    assert response.status_code == 302
    rule = EarningRule.objects.get()
    assert (rule.kind, rule.points, rule.cap_count) == (RuleKind.EVENT, 50, 2)
    assert AuditLog.objects.filter(action="loyalty.rule.create").count() == 1
    edit = reverse("web:loyalty_rule", args=[rule.pk])
    form = model_to_dict(rule, exclude=["id", "created_at", "active"])
    response = marketer_client.post(edit, {**form, "points": "70"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.points == 70 and not rule.active
    assert AuditLog.objects.get(action="loyalty.rule.update").changes == {
        "active": {"from": "True", "to": "False"},
        "points": {"from": "50", "to": "70"},
    }


def test_a_rule_that_does_not_make_sense_is_refused(marketer_client):
    response = marketer_client.post(
        reverse("web:loyalty_rule_new"),
        {"kind": "category", "name": "x", "mode": "per_roubles", "rate": "1"}
        | {"per_roubles": "100", "multiplier": "2", "points": "0", "status_points": "0"}
        | {"cap_count": "0", "cap_days": "0"},
    )
    assert response.status_code == 400
    assert "Name the category." in response.content.decode()
    assert not EarningRule.objects.exists()


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ANALYST])
def test_support_and_analysts_cannot_open_or_change_it(role):
    client = logged_in(staff(role))
    assert client.get(URL).status_code == 403
    assert client.post(URL, values(enabled="on")).status_code == 403
    assert client.post(reverse("web:loyalty_rule_new"), {}).status_code == 403
    assert not Programme.current().enabled
    assert Decimal(Programme.current().point_value) == Decimal(1)
