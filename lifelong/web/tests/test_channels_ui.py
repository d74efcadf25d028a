"""Channel set-up and the sending policy: owner only, credentials masked, settings checked."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse
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


def needs_settings() -> tuple[str, str, tuple[str, ...]]:
    """A registered transport with required settings, and a channel it serves."""
    for name, cls in sorted(transports().items()):
        if cls.required and cls.channels:
            return name, cls.channels[0], cls.required
    pytest.skip("no transport with required settings is registered")


def test_only_transports_serving_the_channel_are_offered(owner):
    response = owner.get(reverse("web:channel_edit", kwargs={"channel": "sms"}))
    offered = {value for value, _label in response.context["form"].fields["transport"].choices}
    assert "sandbox" in offered
    assert offered == {n for n, cls in transports().items() if "sms" in cls.channels}
    assert owner.get(reverse("web:channel_edit", kwargs={"channel": "fax"})).status_code == 404


def test_settings_must_be_an_object_with_the_required_keys(owner):
    name, channel, required = needs_settings()
    url = reverse("web:channel_edit", kwargs={"channel": channel})
    base = {"transport": name, "active": "on", "cap_count": "2", "cap_hours": "24"}
    response = owner.post(url, {**base, "config": "[1, 2]"})
    assert response.status_code == 400
    assert "must be a JSON object" in response.content.decode()
    response = owner.post(url, {**base, "config": "{}"})
    assert response.status_code == 400
    assert f"{name} needs these settings: {', '.join(required)}" in response.content.decode()
    assert not ChannelConfig.objects.exists()

    config = {key: f"value-{key}" for key in required} | {"api_token": "s3cr3t", "from": "Shop"}
    response = owner.post(url, {**base, "config": json.dumps(config)})
    assert response.status_code == 302
    saved = ChannelConfig.objects.get(channel=channel)
    assert (saved.transport, saved.config, saved.cap_count) == (name, config, 2)
    audit = AuditLog.objects.get(action="channel.configure")
    assert "s3cr3t" not in json.dumps(audit.changes)


def test_secrets_are_masked_and_kept_when_the_mask_comes_back(owner):
    ChannelConfig.objects.create(
        channel="telegram", transport="sandbox", config={"bot_token": "123:ABC", "name": "shop_bot"}
    )
    listing = owner.get(reverse("web:channels")).content.decode()
    assert "123:ABC" not in listing and "shop_bot" in listing
    url = reverse("web:channel_edit", kwargs={"channel": "telegram"})
    form = owner.get(url).context["form"]
    shown = json.loads(form.initial["config"])
    assert shown == {"bot_token": "••••••", "name": "shop_bot"}
    assert "123:ABC" not in owner.get(url).content.decode()
    response = owner.post(
        url,
        {
            "transport": "sandbox",
            "config": json.dumps({**shown, "name": "new_bot"}),
            "cap_count": "0",
            "cap_hours": "24",
        },
    )
    assert response.status_code == 302
    saved = ChannelConfig.objects.get(channel="telegram")
    assert saved.config == {"bot_token": "123:ABC", "name": "new_bot"}
    assert saved.active is False


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
