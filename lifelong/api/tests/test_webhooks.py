"""Inbound webhooks: signatures, freshness, replays and dispatch to the services."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from lifelong import clock
from lifelong.commerce.models import Order, Refund
from lifelong.customers.models import Customer
from lifelong.events.models import Event, WebhookReceipt, WebhookSource
from lifelong.events.webhooks import webhook_sign

pytestmark = pytest.mark.django_db

RAW_KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(RAW_KEY).decode()


@pytest.fixture
def source() -> WebhookSource:
    return WebhookSource.objects.create(slug="shop", secret=SECRET)


def deliver(
    message: dict[str, Any],
    *,
    webhook_id: str = "msg_1",
    secret: str = SECRET,
    timestamp: int | None = None,
    slug: str = "shop",
    signature: str | None = None,
) -> Any:
    body = json.dumps(message).encode()
    timestamp = int(clock.now().timestamp()) if timestamp is None else timestamp
    signature = signature or webhook_sign(
        secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body
    )
    return Client().post(
        f"/hooks/{slug}",
        body,
        content_type="application/json",
        headers={
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        },
    )


CUSTOMER = {"type": "customer.upsert", "data": {"external_id": "C1", "first_name": "Анна"}}


def test_signed_customer_upsert_is_applied(source, frozen_time):
    response = deliver(CUSTOMER)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "processed"
    customer = Customer.objects.get(external_id="C1")
    assert customer.first_name == "Анна"
    assert Event.objects.filter(customer=customer, source="webhook:shop").exists()


def test_signature_matches_the_standard_webhooks_construction(source, frozen_time):
    # Computed by hand: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the decoded secret.
    body = json.dumps(CUSTOMER).encode()
    ts = int(clock.now().timestamp())
    digest = hmac.new(RAW_KEY, f"msg_9.{ts}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(digest).decode()
    response = Client().post(
        "/hooks/shop",
        body,
        content_type="application/json",
        headers={
            "webhook-id": "msg_9",
            "webhook-timestamp": str(ts),
            "webhook-signature": signature,
        },
    )
    assert response.status_code == 200, response.content


def test_any_of_several_signatures_may_match_and_raw_secrets_work(frozen_time):
    WebhookSource.objects.create(slug="raw", secret="plain-secret")
    body = json.dumps(CUSTOMER).encode()
    ts = int(clock.now().timestamp())
    good = webhook_sign(secret="plain-secret", webhook_id="m", timestamp=ts, body=body)
    response = deliver(
        CUSTOMER, slug="raw", webhook_id="m", timestamp=ts, signature=f"v1,AAAA {good}"
    )
    assert response.status_code == 200, response.content


def test_bad_signature_is_401_and_changes_nothing(source, frozen_time):
    response = deliver(CUSTOMER, secret="whsec_" + base64.b64encode(b"other").decode())
    assert response.status_code == 401
    assert "signature" in response.json()["detail"]
    assert not Customer.objects.exists()
    assert not WebhookReceipt.objects.exists()


def test_missing_headers_are_401(source):
    response = Client().post("/hooks/shop", b"{}", content_type="application/json")
    assert response.status_code == 401
    assert "webhook-id" in response.json()["detail"]


def test_stale_and_future_timestamps_are_401(source, frozen_time):
    now = int(clock.now().timestamp())
    stale = deliver(CUSTOMER, timestamp=now - 301)
    assert stale.status_code == 401
    assert "too old" in stale.json()["detail"]
    future = deliver(CUSTOMER, timestamp=now + 301)
    assert future.status_code == 401
    assert "future" in future.json()["detail"]
    assert deliver(CUSTOMER, timestamp=now - 299).status_code == 200
    assert deliver({**CUSTOMER}, webhook_id="x", timestamp=0).status_code == 401


def test_unknown_or_inactive_source_is_404(source, frozen_time):
    assert deliver(CUSTOMER, slug="nope").status_code == 404
    WebhookSource.objects.filter(pk=source.pk).update(active=False)
    assert deliver(CUSTOMER).status_code == 404


def test_get_is_not_allowed(source):
    assert Client().get("/hooks/shop").status_code == 405


def test_replayed_id_is_acknowledged_without_effect(source, frozen_time):
    assert deliver(CUSTOMER, webhook_id="same").json()["status"] == "processed"
    events = Event.objects.count()
    changed = {"type": "customer.upsert", "data": {"external_id": "C1", "first_name": "Ольга"}}
    response = deliver(changed, webhook_id="same")
    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert Customer.objects.get(external_id="C1").first_name == "Анна"
    assert Event.objects.count() == events


def test_order_refund_and_event_dispatch(source, frozen_time):
    order = {
        "type": "order.upsert",
        "data": {
            "external_id": "O1",
            "customer_external_id": "NEW",
            "total": "1500.00",
            "placed_at": "2026-03-01T12:00:00+03:00",
            "lines": [{"sku": "MAT", "quantity": 1, "price": "1500.00"}],
        },
    }
    assert deliver(order, webhook_id="w1").status_code == 200
    assert Order.objects.get(external_id="O1").customer.external_id == "NEW"
    refund = {
        "type": "refund.create",
        "data": {"order_external_id": "O1", "external_id": "R1", "amount": "500"},
    }
    assert deliver(refund, webhook_id="w2").status_code == 200
    assert Refund.objects.get(external_id="R1").amount == Decimal("500")
    event = {"type": "event", "data": {"type": "cart_abandoned", "customer_external_id": "NEW"}}
    assert deliver(event, webhook_id="w3").status_code == 200
    assert Event.objects.filter(type="cart_abandoned", customer__external_id="NEW").exists()


def test_invalid_body_is_422_with_fields_and_can_be_retried(source, frozen_time):
    bad = {"type": "customer.upsert", "data": {"external_id": "C1", "birthday": "soon"}}
    response = deliver(bad, webhook_id="w")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["field"]) == (["body", "data", "birthday"], "birthday")
    unknown = deliver({"type": "nonsense", "data": {}}, webhook_id="w")
    assert unknown.status_code == 422
    # A rejected delivery leaves no receipt: the sender may fix it and retry the same id.
    assert deliver(CUSTOMER, webhook_id="w").json()["status"] == "processed"


def test_domain_errors_roll_back_the_receipt(source, frozen_time):
    bad_phone = {"type": "customer.upsert", "data": {"external_id": "C1", "phone": "12"}}
    response = deliver(bad_phone, webhook_id="p")
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "phone"
    assert not WebhookReceipt.objects.exists()
    refund = {
        "type": "refund.create",
        "data": {"order_external_id": "missing", "external_id": "R", "amount": "1"},
    }
    assert deliver(refund, webhook_id="r").status_code == 404
