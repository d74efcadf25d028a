"""The audit log records sign-ins, template and brand-voice edits and API writes, with the
client's address (behind a trusted proxy, the forwarded one) and, for the API, the key."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lifelong.accounts.models import ApiScope, AuditLog, Role
from lifelong.accounts.services import api_key_create
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.models import Template

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
PROXY = "10.0.0.2"
CLIENT = "198.51.100.7"


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def via_proxy(**extra: str) -> dict[str, Any]:
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"203.0.113.66, {CLIENT}", **extra}


def test_sign_in_and_out_are_recorded_with_the_real_client_address(behind_proxy):
    olga = UserFactory(username="olga", role=Role.SUPPORT)
    client = Client(**via_proxy())
    client.post(reverse("web:login"), {"username": "olga", "password": PASSWORD})
    client.post(reverse("web:logout"))
    entries = list(AuditLog.objects.order_by("pk").values_list("action", "actor", "ip"))
    assert entries == [("user.login", olga.pk, CLIENT), ("user.logout", olga.pk, CLIENT)]


def test_a_failed_sign_in_records_the_normalised_login_and_never_the_password():
    UserFactory(username="olga", role=Role.SUPPORT)
    Client().post(
        reverse("web:login"),
        {"username": "ＯＬＧＡ", "password": "guess-1234"},
        REMOTE_ADDR="192.0.2.9",
    )
    entry = AuditLog.objects.get()
    assert entry.action == "user.login_failed" and entry.actor is None
    assert entry.changes == {"username": "olga", "step": "password"}
    assert entry.ip == "192.0.2.9"
    assert "guess-1234" not in json.dumps(entry.changes)


def test_a_throttled_attempt_checks_no_password_and_writes_no_line(settings):
    settings.LOGIN_RATE_LIMIT = 1
    UserFactory(username="olga", role=Role.SUPPORT)
    client = Client()
    client.post(reverse("web:login"), {"username": "olga", "password": "nope"})
    client.post(reverse("web:login"), {"username": "olga", "password": "nope"})
    assert AuditLog.objects.count() == 1


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored():
    UserFactory(username="olga", role=Role.SUPPORT)
    Client(**via_proxy()).post(reverse("web:login"), {"username": "olga", "password": PASSWORD})
    assert AuditLog.objects.get().ip == PROXY


TEMPLATE = {
    "name": "Спасибо",
    "slug": "thanks",
    "channel": "email",
    "purpose": "marketing",
    "topic": "",
    "subject": "Спасибо!",
    "body_text": "Спасибо за заказ.",
    "body_html": "",
    "en_subject": "",
    "en_body_text": "",
    "en_body_html": "",
}


def test_template_edits_are_recorded(behind_proxy):
    marketer = UserFactory(username="masha", role=Role.MARKETER, password=None)
    client = Client(**via_proxy())
    client.force_login(marketer)
    client.post(reverse("web:template_new"), TEMPLATE)
    template = Template.objects.get(slug="thanks")
    client.post(
        reverse("web:template_edit", kwargs={"pk": template.pk}),
        TEMPLATE | {"body_text": "Спасибо, {{ customer.first_name }}!"},
    )
    created, updated = AuditLog.objects.order_by("pk")
    assert (created.action, created.object_id, created.actor) == (
        "template.create",
        str(template.pk),
        marketer,
    )
    assert updated.action == "template.update"
    assert updated.changes == {"fields": ["body_text"]}
    assert updated.ip == CLIENT


def test_brand_voice_edits_are_recorded():
    marketer = UserFactory(username="masha", role=Role.MARKETER, password=None)
    client = Client()
    client.force_login(marketer)
    client.post(
        reverse("web:brand_voice"),
        {"channel": "sms", "sender_name": "YOGA", "greeting": "Привет!", "signature": ""},
    )
    entry = AuditLog.objects.get()
    assert entry.action == "brand_voice.update" and entry.actor == marketer
    assert entry.changes["channel"] == "sms"
    assert set(entry.changes["fields"]) >= {"sender_name", "greeting"}


def _api(secret: str, method: str, path: str, body: dict, **extra: Any):
    return Client().generic(
        method,
        f"/api/v1{path}",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        **extra,
    )


def test_each_api_write_names_its_key_and_address(behind_proxy):
    key, secret = api_key_create(name="shop", scopes=list(ApiScope.values))
    AuditLog.objects.all().delete()
    response = _api(secret, "PUT", "/customers/C-1", {"first_name": "Анна"}, **via_proxy())
    assert response.status_code in {200, 201}
    entry = AuditLog.objects.get()
    assert entry.action == "api.write" and entry.api_key == key and entry.actor is None
    assert entry.changes == {"method": "PUT", "path": "/api/v1/customers/C-1", "status": 201}
    assert entry.ip == CLIENT


def test_lines_written_by_services_during_an_api_write_carry_the_key():
    key, secret = api_key_create(name="shop", scopes=list(ApiScope.values))
    CustomerFactory(external_id="P", phone="")
    CustomerFactory(external_id="D", phone="+79160000002")
    AuditLog.objects.all().delete()
    response = _api(secret, "POST", "/customers/merge", {"primary": "P", "duplicate": "D"})
    assert response.status_code == 200
    actions = dict(AuditLog.objects.values_list("action", "api_key"))
    assert actions == {"customer.merge": key.pk, "api.write": key.pk}


def test_reads_and_refused_writes_leave_no_line():
    _key, secret = api_key_create(name="reader", scopes=[ApiScope.READ])
    AuditLog.objects.all().delete()
    assert _api(secret, "GET", "/customers", {}).status_code == 200
    assert _api(secret, "PUT", "/customers/C-1", {"first_name": "Анна"}).status_code == 403
    assert not AuditLog.objects.exists()


def test_a_replayed_write_is_not_recorded_twice():
    _key, secret = api_key_create(name="shop", scopes=list(ApiScope.values))
    AuditLog.objects.all().delete()
    for _ in range(2):
        response = _api(
            secret, "PUT", "/customers/C-1", {"first_name": "Анна"}, HTTP_IDEMPOTENCY_KEY="k-1"
        )
    assert response["Idempotent-Replayed"] == "true"
    assert AuditLog.objects.filter(action="api.write").count() == 1


def test_the_audit_page_shows_the_key_and_the_address():
    key, secret = api_key_create(name="Магазин", scopes=list(ApiScope.values))
    _api(secret, "PUT", "/customers/C-1", {"first_name": "Анна"}, REMOTE_ADDR="192.0.2.44")
    owner = UserFactory(username="boss", role=Role.OWNER, password=None)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner)
    body = client.get(reverse("web:audit")).content.decode()
    assert f"API key “Магазин” (ll_{key.prefix}_…)" in body
    assert "192.0.2.44" in body
