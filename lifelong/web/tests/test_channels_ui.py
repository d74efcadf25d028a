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
        assert set(cls.required) <= {setting.name for setting in cls.settings}, cls.name


EMAIL_URL = reverse_lazy("web:channel_edit", kwargs={"channel": "email"})
SMTP = {
    "host": "smtp.example.ru",
    "port": 587,
    "username": "shop",
    "from_email": "shop@example.ru",
    "password": "smtp-pass-7731",
}


def _fields(transport: str, config: dict) -> dict[str, str]:
    """The settings as the form posts them: one field per declared setting."""
    return {f"{transport}__{key}": str(value) for key, value in config.items()}


def _post(client: Client, settings: dict, transport: str = "smtp", **fields: str):
    form = {"transport": transport, "active": "on", "cap_count": "0", "cap_hours": "24"}
    return client.post(
        reverse("web:channel_edit", kwargs={"channel": "email" if transport == "smtp" else "sms"}),
        {**form, **_fields(transport, settings), **fields},
    )


def _shown(client: Client, url=EMAIL_URL) -> dict[str, str]:
    """What the page shows in each smtp field, as the browser would post it back."""
    form = client.get(url).context["form"]
    return {
        name.removeprefix("smtp__"): str(form[name].value())
        for name in form.fields
        if name.startswith("smtp__") and form[name].value() not in (None, "", False)
    }


def test_every_setting_has_a_label_and_a_known_kind():
    kinds = {"text", "secret", "url", "email", "int", "bool", "choice", "json"}
    for cls in transports().values():
        names = [setting.name for setting in cls.settings]
        assert len(names) == len(set(names)), cls.name
        assert set(cls.destinations) <= set(names), cls.name
        for setting in cls.settings:
            assert setting.label and setting.kind in kinds, (cls.name, setting.name)
            assert (setting.kind == "choice") == bool(setting.choices), (cls.name, setting.name)


def test_required_settings_are_asked_for_by_name(owner):
    response = _post(owner, {"port": 25})
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["smtp__host"] == ["smtp needs this setting."]
    assert form.errors["smtp__from_email"] == ["smtp needs this setting."]
    assert not ChannelConfig.objects.exists()

    response = _post(owner, {**SMTP, "port": "not a number"})
    assert response.status_code == 400
    assert "smtp__port" in response.context["form"].errors

    response = _post(owner, SMTP)
    assert response.status_code == 302
    saved = ChannelConfig.objects.get(channel="email")
    assert (saved.transport, saved.config) == ("smtp", SMTP)
    assert isinstance(saved.config["port"], int)
    audit = AuditLog.objects.get(action="channel.configure")
    assert "smtp-pass-7731" not in json.dumps(audit.changes)
    assert "password (secret)" in audit.changes["settings"]


def test_other_settings_stay_as_json_and_declared_ones_are_refused_there(owner):
    response = _post(owner, SMTP, config='{"timeout": 12}')
    assert response.status_code == 302
    assert ChannelConfig.objects.get().config["timeout"] == 12

    page = owner.get(EMAIL_URL)
    assert json.loads(page.context["form"]["config"].value()) == {"timeout": 12}

    response = _post(owner, SMTP, config='{"host": "other.example", "password": "x"}')
    assert response.status_code == 400
    assert "host, password: each has its own field above" in response.content.decode()
    response = _post(owner, SMTP, config="[1, 2]")
    assert "must be a JSON object" in response.content.decode()


def test_existing_settings_fill_the_fields(owner):
    """Settings saved before the form had fields (as JSON) show in their fields."""
    ChannelConfig.objects.create(
        channel="email", transport="smtp", config={**SMTP, "security": "ssl", "timeout": 5}
    )
    form = owner.get(EMAIL_URL).context["form"]
    assert form["smtp__host"].value() == "smtp.example.ru"
    assert form["smtp__port"].value() == 587
    assert form["smtp__security"].value() == "ssl"
    assert json.loads(form["config"].value()) == {"timeout": 5}


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
    assert "<dt>SMTP server</dt><dd>smtp.example.ru</dd>" in pages[0]
    assert '<dt>Password</dt><dd class="muted">saved, hidden</dd>' in pages[0]
    assert 'value="smtp.example.ru"' in pages[2] and 'data-state="set"' in pages[2]


def test_a_refused_form_does_not_echo_a_typed_secret(owner):
    response = _post(owner, {**SMTP, "from_email": "not an address"})
    assert response.status_code == 400
    assert "smtp-pass-7731" not in response.content.decode()
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQ-dkim-key-5150\n-----END PRIVATE KEY-----"
    response = _post(owner, {**SMTP, "from_email": "bad", "dkim_private_key": key})
    assert "dkim-key-5150" not in response.content.decode()


def test_a_secret_left_empty_is_kept_a_typed_one_replaces_it_and_clear_removes_it(owner):
    ChannelConfig.objects.create(channel="email", transport="smtp", config=SMTP)
    shown = _shown(owner)
    assert "password" not in shown
    stored = {**SMTP, "security": "starttls"}

    assert _post(owner, {**shown, "username": "shop2"}).status_code == 302
    assert ChannelConfig.objects.get().config == {**stored, "username": "shop2"}

    assert _post(owner, {**shown, "password": "new-pass"}).status_code == 302
    assert ChannelConfig.objects.get().config["password"] == "new-pass"

    assert _post(owner, shown, smtp__password__clear="on").status_code == 302
    assert "password" not in ChannelConfig.objects.get().config


@pytest.mark.parametrize("change", [{"host": "mail.attacker.example"}, {"port": 2525}])
def test_a_new_destination_needs_the_secret_again(owner, change):
    ChannelConfig.objects.create(channel="email", transport="smtp", config=SMTP)
    shown = _shown(owner)

    response = _post(owner, {**shown, **change})

    assert response.status_code == 400
    assert "changed: enter this secret again" in response.content.decode()
    assert ChannelConfig.objects.get().config == SMTP

    response = _post(owner, {**shown, **change, "password": "smtp-pass-7731"})
    assert response.status_code == 302
    assert ChannelConfig.objects.get().config == {**SMTP, **change, "security": "starttls"}


def test_a_password_inside_a_url_is_kept_only_when_the_url_comes_back_unchanged(owner):
    url = reverse("web:channel_edit", kwargs={"channel": "sms"})
    stored = {
        "url": "https://shop:gw-pass-5521@gateway.example/send",
        "body": {"to": "{to}"},
        "auth_header": "X-Key: k-1",
    }
    ChannelConfig.objects.create(channel="sms", transport="http_sms", config=stored)
    form = owner.get(url).context["form"]
    shown_url = form["http_sms__url"].value()
    assert shown_url == "https://shop:••••••@gateway.example/send"
    body = form["http_sms__body"].value()
    posted = {"url": shown_url, "body": body, "method": "POST"}

    response = _post(owner, {**posted, "id_path": "id"}, transport="http_sms")
    assert response.status_code == 302
    assert ChannelConfig.objects.get().config == {**stored, "method": "POST", "id_path": "id"}

    moved = {**posted, "url": "https://shop:••••••@evil.example/send", "auth_header": "X-Key: k-1"}
    response = _post(owner, moved, transport="http_sms")
    assert response.status_code == 400
    assert "The password in this address is hidden" in response.content.decode()


def test_secrets_do_not_carry_over_to_another_transport(owner):
    ChannelConfig.objects.create(
        channel="sms", transport="smsru", config={"api_id": "ru-key-1", "sender": "Shop"}
    )
    config = {"url": "https://gw.example/send", "body": '{"to": "{to}"}', "method": "POST"}

    response = _post(owner, config, transport="http_sms")

    assert response.status_code == 302
    assert ChannelConfig.objects.get().config == {**config, "body": {"to": "{to}"}}


def test_a_url_setting_must_be_a_web_address(owner):
    response = _post(owner, {"url": "ftp://gw.example/", "body": "{}"}, transport="http_sms")
    assert response.status_code == 400
    assert response.context["form"].errors["http_sms__url"] == [
        "An address starting with https:// or http://."
    ]


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


def test_send_a_test_needs_saved_settings(owner):
    url = reverse("web:channel_test", kwargs={"channel": "telegram"})
    response = owner.post(url, {"to": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:channel_edit", kwargs={"channel": "telegram"})
    assert owner.post(reverse("web:channel_test", kwargs={"channel": "fax"})).status_code == 404


def test_send_a_test_is_rate_limited_per_staff_member(owner):
    ChannelConfig.objects.create(channel="email", transport="sandbox", config={})
    url = reverse("web:channel_test", kwargs={"channel": "email"})
    for _attempt in range(10):
        response = owner.post(url, {"to": "olga@example.ru"})
        assert response.status_code == 200
        assert response.context["probe"].summary.startswith("The sandbox sends nothing")
    response = owner.post(url, {"to": "olga@example.ru"})
    assert response.status_code == 429
    assert "Too many tests" in response.content.decode()
    assert AuditLog.objects.filter(action="channel.test").count() == 10
    # Another owner has their own allowance.
    assert logged_in(staff(Role.OWNER, "second")).post(url, {"to": ""}).status_code == 200


def test_the_test_form_offers_the_staff_members_own_email(db):
    user = staff(Role.OWNER, "mila")
    user.email = "mila@example.ru"
    user.save(update_fields=["email"])
    ChannelConfig.objects.create(channel="email", transport="smtp", config=SMTP)
    page = logged_in(user).get(EMAIL_URL)
    assert page.context["test_form"]["to"].value() == "mila@example.ru"
