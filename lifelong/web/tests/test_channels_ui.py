"""Channel set-up and the sending policy: owner only, credentials masked, settings checked."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse, reverse_lazy
from django.utils import translation

from lifelong.accounts.models import AuditLog, Role, User
from lifelong.messaging.channels.base import transports
from lifelong.messaging.models import ChannelConfig, SendingPolicy
from lifelong.web.tests.conftest import staff


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def logged_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture
def owner(db) -> Client:
    return logged_in(staff(Role.OWNER))


def test_only_transports_serving_the_channel_are_offered(owner):
    response = owner.get(reverse("web:channel_edit", kwargs={"channel": "sms"}))
    offered = {value for value, _label in response.context["form"].fields["transport"].choices}
    assert "sandbox" in offered
    assert offered == {n for n, cls in transports().items() if "sms" in cls.channels}
    assert owner.get(reverse("web:channel_edit", kwargs={"channel": "fax"})).status_code == 404


def test_every_declared_secret_and_destination_is_a_plain_key():
    for cls in transports().values():
        assert not set(cls.secrets) & set(cls.destinations), cls.name


EMAIL_URL = reverse_lazy("web:channel_edit", kwargs={"channel": "email"})
SMTP = {
    "host": "smtp.example.ru",
    "port": 587,
    "username": "shop",
    "from_email": "shop@example.ru",
    "password": "smtp-pass-7731",
}


def _post(client: Client, config: object, **fields: str):
    form = {"transport": "smtp", "active": "on", "cap_count": "0", "cap_hours": "24"}
    return client.post(EMAIL_URL, {**form, "config": json.dumps(config), **fields})


def test_settings_must_be_an_object_with_the_required_keys(owner):
    response = _post(owner, [1, 2])
    assert response.status_code == 400
    assert "must be a JSON object" in response.content.decode()
    response = _post(owner, {"port": 25})
    assert response.status_code == 400
    assert "smtp needs these settings: host, from_email" in response.content.decode()
    assert not ChannelConfig.objects.exists()

    plain = {k: v for k, v in SMTP.items() if k != "password"}
    response = _post(owner, plain, secret__smtp__password="smtp-pass-7731")
    assert response.status_code == 302
    saved = ChannelConfig.objects.get(channel="email")
    assert (saved.transport, saved.config) == ("smtp", SMTP)
    audit = AuditLog.objects.get(action="channel.configure")
    assert "smtp-pass-7731" not in json.dumps(audit.changes)
    assert "password (secret)" in audit.changes["settings"]


def test_secrets_never_reach_the_browser(owner):
    ChannelConfig.objects.create(
        channel="sms",
        transport="http_sms",
        config={
            "url": "https://shop:gw-pass-5521@gateway.example/send",
            "body": {"to": "{to}", "text": "{text}"},
            "auth_header": "Authorization: Bearer tok-8812",
        },
    )
    ChannelConfig.objects.create(channel="email", transport="smtp", config=SMTP)
    pages = [
        owner.get(reverse("web:channels")).content.decode(),
        owner.get(reverse("web:channel_edit", kwargs={"channel": "sms"})).content.decode(),
        owner.get(EMAIL_URL).content.decode(),
    ]
    for page in pages:
        for secret in ("gw-pass-5521", "tok-8812", "smtp-pass-7731"):
            assert secret not in page
    assert "https://shop:••••••@gateway.example/send" in pages[0]
    assert "smtp.example.ru" in pages[2] and 'data-state="set"' in pages[2]


def test_a_secret_left_empty_is_kept_and_a_typed_one_replaces_it(owner):
    ChannelConfig.objects.create(channel="email", transport="smtp", config=SMTP)
    shown = json.loads(owner.get(EMAIL_URL).context["form"].initial["config"])
    assert "password" not in shown

    assert _post(owner, {**shown, "username": "shop2"}).status_code == 302
    assert ChannelConfig.objects.get().config == {**SMTP, "username": "shop2"}

    assert _post(owner, shown, secret__smtp__password="new-pass").status_code == 302
    assert ChannelConfig.objects.get().config["password"] == "new-pass"

    assert _post(owner, shown, secret__smtp__password__remove="on").status_code == 302
    assert "password" not in ChannelConfig.objects.get().config


@pytest.mark.parametrize("change", [{"host": "mail.attacker.example"}, {"port": 2525}])
def test_a_new_destination_needs_the_secret_again(owner, change):
    ChannelConfig.objects.create(channel="email", transport="smtp", config=SMTP)
    shown = json.loads(owner.get(EMAIL_URL).context["form"].initial["config"])

    response = _post(owner, {**shown, **change})

    assert response.status_code == 400
    assert "changed: enter this secret again" in response.content.decode()
    assert ChannelConfig.objects.get().config == SMTP

    response = _post(owner, {**shown, **change}, secret__smtp__password="smtp-pass-7731")
    assert response.status_code == 302
    assert ChannelConfig.objects.get().config == {**SMTP, **change}


def test_a_password_inside_a_url_is_kept_only_when_the_url_comes_back_unchanged(owner):
    url = reverse("web:channel_edit", kwargs={"channel": "sms"})
    stored = {
        "url": "https://shop:gw-pass-5521@gateway.example/send",
        "body": {"to": "{to}"},
        "auth_header": "X-Key: k-1",
    }
    ChannelConfig.objects.create(channel="sms", transport="http_sms", config=stored)
    shown = json.loads(owner.get(url).context["form"].initial["config"])
    assert shown["url"] == "https://shop:••••••@gateway.example/send"
    form = {"transport": "http_sms", "cap_count": "0", "cap_hours": "24"}

    response = owner.post(url, {**form, "config": json.dumps({**shown, "id_path": "id"})})
    assert response.status_code == 302
    assert ChannelConfig.objects.get().config == {**stored, "id_path": "id"}

    moved = {**shown, "url": "https://shop:••••••@evil.example/send"}
    response = owner.post(
        url, {**form, "config": json.dumps(moved), "secret__http_sms__auth_header": "X-Key: k-1"}
    )
    assert response.status_code == 400
    assert "The password inside url is hidden" in response.content.decode()


def test_a_secret_in_the_json_is_refused(owner):
    response = _post(owner, SMTP)
    assert response.status_code == 400
    assert "password: a secret goes in its own field below" in response.content.decode()
    assert not ChannelConfig.objects.exists()


def test_secrets_do_not_carry_over_to_another_transport(owner):
    ChannelConfig.objects.create(
        channel="sms", transport="smsru", config={"api_id": "ru-key-1", "sender": "Shop"}
    )
    url = reverse("web:channel_edit", kwargs={"channel": "sms"})
    config = {"url": "https://gw.example/send", "body": {"to": "{to}"}}

    response = owner.post(
        url,
        {
            "transport": "http_sms",
            "config": json.dumps(config),
            "cap_count": "0",
            "cap_hours": "24",
        },
    )

    assert response.status_code == 302
    assert ChannelConfig.objects.get().config == config


def test_sending_policy_is_saved(owner):
    response = owner.post(
        reverse("web:sending_policy"),
        {
            "cap_count": "2",
            "cap_hours": "72",
            "quiet_start": "22:00",
            "quiet_end": "08:30",
            "expire_hours": "48",
            "max_attempts": "4",
        },
    )
    assert response.status_code == 302
    policy = SendingPolicy.current()
    assert (policy.cap_count, policy.cap_hours, policy.open_pixel) == (2, 72, False)
    assert (policy.quiet_start, policy.quiet_end) == (dt.time(22), dt.time(8, 30))
    bad = owner.post(reverse("web:sending_policy"), {"cap_count": "-1"})
    assert bad.status_code == 400


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT, Role.ANALYST])
def test_only_the_owner_sets_up_channels(db, role):
    client = logged_in(staff(role))
    assert client.get(reverse("web:channels")).status_code == 403
    assert client.get(reverse("web:channel_edit", kwargs={"channel": "email"})).status_code == 403
    assert client.post(reverse("web:sending_policy"), {}).status_code == 403
