"""Staff accounts, API keys and the audit log."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import translation

from lifelong.accounts.models import ApiKey, AuditLog, Role, User
from lifelong.accounts.services import (
    AccountError,
    audit_record,
    staff_user_active_set,
    staff_user_role_set,
)
from lifelong.events.models import WebhookSource
from lifelong.web.tests.conftest import logged_in, staff

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


def _boss_client():
    boss = staff(Role.OWNER, "boss")
    return boss, logged_in(boss)


def test_owner_changes_a_role_and_it_is_audited():
    boss, client = _boss_client()
    masha = staff(Role.SUPPORT, "masha")
    response = client.post(
        reverse("web:staff_user_role", kwargs={"pk": masha.pk}), {"role": "marketer"}
    )
    assert response.status_code == 302
    masha.refresh_from_db()
    assert masha.role == Role.MARKETER
    entry = AuditLog.objects.get(action="user.role_set")
    assert entry.actor == boss and entry.changes == {"role": ["support", "marketer"]}


def test_a_new_role_applies_to_the_open_session_at_once():
    _boss, client = _boss_client()
    masha = staff(Role.MARKETER, "masha")
    masha_client = logged_in(masha)
    assert masha_client.get(reverse("web:templates")).status_code == 200
    client.post(reverse("web:staff_user_role", kwargs={"pk": masha.pk}), {"role": "analyst"})
    assert masha_client.get(reverse("web:templates")).status_code == 403


def test_deactivation_signs_the_member_out_and_reactivation_lets_them_back():
    boss, client = _boss_client()
    masha = staff(Role.SUPPORT, "masha")
    masha_client = logged_in(masha)
    url = reverse("web:staff_user_access", kwargs={"pk": masha.pk})
    client.post(url, {"active": "0"})
    masha.refresh_from_db()
    assert not masha.is_active
    assert masha_client.get(reverse("web:home")).status_code == 302
    client.post(url, {"active": "1"})
    masha.refresh_from_db()
    assert masha.is_active
    actions = list(
        AuditLog.objects.filter(actor=boss).order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["user.deactivate", "user.activate"]


def test_an_owner_cannot_change_their_own_role_or_access():
    boss, client = _boss_client()
    staff(Role.OWNER, "second")
    client.post(reverse("web:staff_user_role", kwargs={"pk": boss.pk}), {"role": "analyst"})
    client.post(reverse("web:staff_user_access", kwargs={"pk": boss.pk}), {"active": "0"})
    boss.refresh_from_db()
    assert boss.role == Role.OWNER and boss.is_active
    assert not AuditLog.objects.filter(action__in=["user.role_set", "user.deactivate"]).exists()


def test_the_last_owner_cannot_be_demoted_or_deactivated_by_the_service():
    boss = staff(Role.OWNER, "boss")
    other = staff(Role.OWNER, "other")
    other.is_active = False
    other.save(update_fields=["is_active"])
    # An inactive owner counts for nothing: boss is the last active one. Through the page an
    # owner can only reach another active owner, so this guards racing requests and callers.
    with translation.override("en"):
        with pytest.raises(AccountError, match="at least one active owner"):
            staff_user_role_set(user=boss, role=Role.SUPPORT, actor=other)
        with pytest.raises(AccountError, match="at least one active owner"):
            staff_user_active_set(user=boss, active=False, actor=other)
    boss.refresh_from_db()
    assert boss.role == Role.OWNER and boss.is_active


def test_refusals_are_shown_to_the_owner():
    boss, client = _boss_client()
    client.cookies["django_language"] = "en"
    response = client.post(
        reverse("web:staff_user_role", kwargs={"pk": boss.pk}), {"role": "analyst"}, follow=True
    )
    assert "You cannot change your own role or access" in response.content.decode()


def test_an_unknown_role_is_refused():
    _boss, client = _boss_client()
    masha = staff(Role.SUPPORT, "masha")
    client.post(reverse("web:staff_user_role", kwargs={"pk": masha.pk}), {"role": "superuser"})
    masha.refresh_from_db()
    assert masha.role == Role.SUPPORT


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    first, second = staff(Role.OWNER, "first"), staff(Role.OWNER, "second")
    start = threading.Barrier(2)
    refused: list[AccountError] = []

    def demote(user: User, actor: User) -> None:
        start.wait()
        try:
            staff_user_role_set(user=user, role=Role.SUPPORT, actor=actor)
        except AccountError as exc:
            refused.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(second, first)),
        threading.Thread(target=demote, args=(first, second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert User.objects.filter(role=Role.OWNER, is_active=True).count() == 1
    assert len(refused) == 1
