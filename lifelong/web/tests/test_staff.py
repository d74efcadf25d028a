"""Staff accounts, API keys and the audit log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lifelong.accounts.models import ApiKey, AuditLog, Role, User
from lifelong.accounts.services import audit_record
from lifelong.events.models import WebhookSource

pytestmark = pytest.mark.django_db


def test_owner_creates_a_staff_member(owner_client):
    response = owner_client.post(
        reverse("web:staff_user_create"),
        {
            "username": "masha",
            "email": "masha@shop.ru",
            "role": "support",
            "password": "Ya-kt0-to-takaya",
        },
    )
    assert response.status_code == 302
    masha = User.objects.get(username="masha")
    assert masha.role == Role.SUPPORT and masha.check_password("Ya-kt0-to-takaya")
    assert AuditLog.objects.filter(action="user.create", actor__username="owner").exists()


def test_weak_password_and_taken_login_are_refused(owner_client):
    response = owner_client.post(
        reverse("web:staff_user_create"),
        {"username": "OWNER", "role": "support", "password": "123"},
    )
    assert response.status_code == 400
    errors = response.context["user_form"].errors
    assert {"username", "password"} <= errors.keys()


def test_api_key_secret_is_shown_once(owner_client):
    response = owner_client.post(
        reverse("web:api_key_create"), {"name": "Магазин", "scopes": ["read", "orders:write"]}
    )
    assert response.status_code == 302
    key = ApiKey.objects.get()
    first = owner_client.get(reverse("web:staff")).content.decode()
    secret = first.split('<code id="api-secret">')[1].split("</code>")[0]
    assert secret.startswith(f"ll_{key.prefix}_")
    assert ApiKey.hash_secret(secret) == key.key_hash
    assert secret not in owner_client.get(reverse("web:staff")).content.decode()


def test_revoke_an_api_key(owner_client):
    key = ApiKey.objects.create(name="old", prefix="0badc0de", key_hash="0" * 64)
    owner_client.post(reverse("web:api_key_revoke", kwargs={"pk": key.pk}))
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditLog.objects.filter(action="api_key.revoke").exists()


def test_audit_log_pages(owner_client):
    for n in range(55):
        audit_record(actor=None, action=f"test.{n}", object_type="x", object_id=str(n))
    first = owner_client.get(reverse("web:audit"))
    assert first.context["page"].rows[0].action == "test.54"
    assert first.context["page"].has_next
    assert len(owner_client.get(reverse("web:audit"), {"page": 2}).context["page"].rows) == 5


def test_owner_creates_a_webhook_sender_and_sees_its_secret_once(owner_client):
    response = owner_client.post(reverse("web:webhook_source_create"), {"slug": "insales"})
    assert response.status_code == 302
    source = WebhookSource.objects.get(slug="insales")
    assert source.secret.startswith("whsec_")
    page = owner_client.get(reverse("web:staff")).content.decode()
    assert source.secret in page and "/hooks/insales" in page
    assert source.secret not in owner_client.get(reverse("web:staff")).content.decode()
    again = owner_client.post(reverse("web:webhook_source_create"), {"slug": "insales"})
    assert again.status_code == 400
    assert AuditLog.objects.filter(action="webhook_source.create").count() == 1
