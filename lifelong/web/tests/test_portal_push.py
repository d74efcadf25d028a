"""The portal endpoint that stores a browser's Web Push subscription."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from lifelong.customers.models import Channel, Customer
from lifelong.factories import CustomerFactory
from lifelong.lib.signing import token_make
from lifelong.messaging.models import ChannelConfig, PushSubscription
from lifelong.messaging.services import address_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]

VAPID_PUBLIC = (
    "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"
)
ENDPOINT = "https://fcm.googleapis.com/fcm/send/dGVzdC1lbmRwb2ludA:APA91b"
P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"


def _subscription(endpoint: str = ENDPOINT, auth: str = "tBHItJI5svbpez7KI4CCXg") -> str:
    # The shape of the browser's PushSubscription.toJSON().
    keys = {"p256dh": P256DH, "auth": auth}
    return json.dumps({"endpoint": endpoint, "expirationTime": None, "keys": keys})


def _url(customer: Customer) -> str:
    return f"/c/p/{token_make(purpose='preferences', value=customer.pk)}/push"


def _secure_client(customer: Customer) -> tuple[Client, str]:
    """A browser that opened the preferences page: CSRF cookie plus the token from the page."""
    client = Client(enforce_csrf_checks=True)
    page = client.get(f"/c/p/{token_make(purpose='preferences', value=customer.pk)}")
    assert page.status_code == 200
    return client, str(page.context["csrf_token"])


@pytest.fixture
def push() -> ChannelConfig:
    return ChannelConfig.objects.create(
        channel=Channel.PUSH, transport="sandbox", config={"vapid_public_key": VAPID_PUBLIC}
    )


@pytest.fixture
def customer() -> Customer:
    return CustomerFactory.create()


def test_page_offers_push_with_the_vapid_key(push, customer):
    page = Client().get(f"/c/p/{token_make(purpose='preferences', value=customer.pk)}")

    content = page.content.decode()
    assert f'data-key="{VAPID_PUBLIC}"' in content
    assert f'data-url="{_url(customer)}"' in content
    assert "portal/push.js" in content


def test_subscribe_stores_the_subscription(push, customer):
    client, csrf = _secure_client(customer)

    response = client.post(
        _url(customer), _subscription(), content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )

    assert response.status_code == 201
    assert response.json() == {"subscribed": True}
    stored = PushSubscription.objects.get()
    assert (stored.customer_id, stored.endpoint, stored.p256dh, stored.auth) == (
        customer.pk,
        ENDPOINT,
        P256DH,
        "tBHItJI5svbpez7KI4CCXg",
    )
    # Push is now a channel we can reach the customer on.
    assert address_of(customer, Channel.PUSH) == str(stored.pk)


def test_same_endpoint_again_updates_the_keys(push, customer):
    client, csrf = _secure_client(customer)
    client.post(_url(customer), _subscription(), "application/json", HTTP_X_CSRFTOKEN=csrf)

    response = client.post(
        _url(customer),
        _subscription(auth="bmV3LWF1dGgtc2VjcmV0"),
        "application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )

    assert response.status_code == 200
    stored = PushSubscription.objects.get()
    assert (stored.customer_id, stored.auth) == (customer.pk, "bmV3LWF1dGgtc2VjcmV0")


def test_endpoint_taken_over_by_another_customer_gets_a_new_row(push, customer):
    client, csrf = _secure_client(customer)
    client.post(_url(customer), _subscription(), "application/json", HTTP_X_CSRFTOKEN=csrf)
    old = PushSubscription.objects.get()
    other = CustomerFactory.create()

    response = client.post(_url(other), _subscription(), "application/json", HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 201
    stored = PushSubscription.objects.get()
    assert stored.customer_id == other.pk
    assert stored.pk != old.pk  # messages queued to the old row do not reach the new person
    assert address_of(customer, Channel.PUSH) == ""


def test_csrf_token_is_required(push, customer):
    client, _csrf = _secure_client(customer)

    response = client.post(_url(customer), _subscription(), "application/json")

    assert response.status_code == 403
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"endpoint": ENDPOINT}),
        json.dumps({"endpoint": ENDPOINT, "keys": {"p256dh": 1, "auth": "x"}}),
        _subscription(endpoint="http://push.example/plain-http"),
        _subscription(endpoint="javascript:alert(1)"),
        _subscription(endpoint="https://push.example/" + "a" * 1000),
        _subscription(auth="not base64!"),
    ],
)
def test_bad_subscription_is_400(push, customer, body):
    response = Client().post(_url(customer), body, "application/json")

    assert response.status_code == 400
    assert not PushSubscription.objects.exists()


def test_bad_token_or_push_not_set_up_is_404(push, customer):
    foreign = token_make(purpose="unsubscribe", value=f"{customer.pk}:email")
    assert (
        Client().post(f"/c/p/{foreign}/push", _subscription(), "application/json").status_code
        == 404
    )

    push.active = False
    push.save()

    assert Client().post(_url(customer), _subscription(), "application/json").status_code == 404
    assert not PushSubscription.objects.exists()


def test_get_is_not_allowed(push, customer):
    assert Client().get(_url(customer)).status_code == 405
