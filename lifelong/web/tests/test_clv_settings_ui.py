"""The CLV settings page: validated, audited edits and a refit on request."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse

from lifelong.accounts.models import AuditLog, Role
from lifelong.segments.editing import CLV_REFRESH_THREAD, CLV_SETTINGS_FIELDS
from lifelong.segments.models import ClvSettings
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db

URL = reverse("web:clv_settings")


def current_values(**changes: object) -> dict[str, object]:
    values = model_to_dict(ClvSettings.current(), fields=CLV_SETTINGS_FIELDS)
    values.update(changes)
    return values


@pytest.fixture
def marketer_client():
    client = logged_in(staff(Role.MARKETER, "mk"))
    client.cookies["django_language"] = "en"
    return client


def test_page_shows_the_settings_and_when_they_apply(marketer_client):
    response = marketer_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="weight_review_posted"' in body and 'value="300"' in body
    assert 'name="months"' in body and 'value="12"' in body
    assert "once a day" in body
    assert reverse("web:clv_recalculate") in body


def test_saving_changes_the_row_and_audits_only_what_changed(marketer_client):
    response = marketer_client.post(
        URL, current_values(weight_review_posted="450", engagement_days="180"), follow=True
    )
    assert response.redirect_chain == [(URL, 302)]
    assert "next daily refresh" in response.content.decode()
    row = ClvSettings.current()
    assert row.weight_review_posted == Decimal("450")
    assert row.engagement_days == 180
    assert row.months == 12
    entry = AuditLog.objects.get(action="clv_settings.update")
    assert entry.actor_label == "mk"
    assert entry.object_type == "segments.clvsettings"
    assert entry.changes == {
        "weight_review_posted": {"from": "300.00", "to": "450"},
        "engagement_days": {"from": "365", "to": "180"},
    }


def test_saving_unchanged_settings_writes_no_audit_line(marketer_client):
    ClvSettings.current()
    response = marketer_client.post(URL, current_values())
    assert response.status_code == 302
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weight_review_posted", "-1"),
        ("weight_message_replied", "-0.01"),
        ("engagement_days", "0"),
        ("holdout_weeks", "-3"),
        ("months", "0"),
        ("months", "121"),
        ("monthly_discount_rate", "1.5"),
        ("weight_survey_answered", "abc"),
    ],
)
def test_invalid_values_are_refused(marketer_client, field, value):
    before = current_values()
    response = marketer_client.post(URL, current_values(**{field: value}))
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert current_values() == before
    assert not AuditLog.objects.exists()


def test_zero_weight_is_allowed_it_leaves_that_kind_out(marketer_client):
    response = marketer_client.post(URL, current_values(weight_message_replied="0"))
    assert response.status_code == 302
    assert ClvSettings.current().engagement_weights()["message_replied"] == Decimal("0")


def test_recalculate_now_starts_after_commit(marketer_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = marketer_client.post(reverse("web:clv_recalculate"), follow=True)
    assert response.redirect_chain == [(URL, 302)]
    assert "being recalculated" in response.content.decode()
    assert len(callbacks) == 1


def test_recalculate_while_a_run_is_going_starts_nothing(
    marketer_client, django_capture_on_commit_callbacks
):
    release = threading.Event()
    running = threading.Thread(target=release.wait, name=CLV_REFRESH_THREAD, daemon=True)
    running.start()
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            response = marketer_client.post(reverse("web:clv_recalculate"), follow=True)
    finally:
        release.set()
        running.join()
    assert "already running" in response.content.decode()
    assert callbacks == []


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.OWNER, True), (Role.MARKETER, True), (Role.SUPPORT, False), (Role.ANALYST, False)],
)
def test_roles_and_the_link_on_the_report(role, allowed):
    client = logged_in(staff(role))
    assert client.get(URL).status_code == (200 if allowed else 403)
    assert client.post(URL, current_values(months="6")).status_code == (302 if allowed else 403)
    assert ClvSettings.current().months == (6 if allowed else 12)
    assert client.post(reverse("web:clv_recalculate")).status_code == (302 if allowed else 403)
    report = client.get(reverse("web:clv_report")).content.decode()
    assert (URL in report) is allowed
