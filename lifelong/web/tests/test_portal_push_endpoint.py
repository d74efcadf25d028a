"""A push subscription must name a public push service: the server will call that address."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from lifelong.customers.models import Channel, Customer
from lifelong.factories import CustomerFactory
from lifelong.lib.signing import token_make
from lifelong.lib.tests.fake_dns import FakeDns
from lifelong.messaging.models import ChannelConfig, PushSubscription

pytestmark = pytest.mark.django_db

P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
KEYS = {"p256dh": P256DH, "auth": "tBHItJI5svbpez7KI4CCXg"}


@pytest.fixture
def customer() -> Customer:
    ChannelConfig.objects.create(channel=Channel.PUSH, transport="sandbox", config={})
    return CustomerFactory.create()


def _subscribe(customer: Customer, endpoint: str):
    url = f"/c/p/{token_make(purpose='preferences', value=customer.pk)}/push"
    body = json.dumps({"endpoint": endpoint, "expirationTime": None, "keys": KEYS})
    return Client().post(url, body, "application/json")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1/push",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.20.30.40/push",
        "https://[::1]/push",
        "https://[64:ff9b::7f00:1]/push",
        "https://[::ffff:127.0.0.1]/push",
        "https://push.internal.test/push",
        "https://localhost:8443/push",
    ],
)
def test_private_push_endpoints_are_refused(customer, endpoint, monkeypatch):
    FakeDns(monkeypatch).add("push.internal.test", ["192.168.0.10"])

    response = _subscribe(customer, endpoint)

    assert response.status_code == 400
    assert response.json() == {"error": "endpoint must be a public push service"}
    assert not PushSubscription.objects.exists()


def test_a_public_push_service_is_accepted(customer, monkeypatch):
    FakeDns(monkeypatch).add("updates.push.services.mozilla.com", ["34.117.181.156"])

    response = _subscribe(customer, "https://updates.push.services.mozilla.com/wpush/v2/gAAA")

    assert response.status_code == 201
    assert PushSubscription.objects.get().customer == customer
