"""A webhook sender's secret rotates with an overlap: both verify until the old one expires."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from lifelong import clock
from lifelong.accounts.models import AuditLog
from lifelong.events.models import WebhookSource
from lifelong.events.webhooks import webhook_sign, webhook_source_create, webhook_source_rotate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]

MESSAGE = {"type": "customer.upsert", "data": {"external_id": "C1", "first_name": "Анна"}}


def deliver(secret: str, webhook_id: str) -> Any:
    body = json.dumps(MESSAGE).encode()
    timestamp = int(clock.now().timestamp())
    return Client().post(
        "/hooks/shop",
        body,
        content_type="application/json",
        headers={
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhook_sign(
                secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body
            ),
        },
    )


def test_both_secrets_verify_until_the_old_one_expires(frozen_time):
    source = webhook_source_create(slug="shop", actor=None)
    old = source.secret

    source = webhook_source_rotate(source=source, overlap=dt.timedelta(hours=24), actor=None)

    assert source.secret != old
    assert deliver(old, "m1").status_code == 200
    assert deliver(source.secret, "m2").status_code == 200
    frozen_time.shift(dt.timedelta(hours=23, minutes=59))
    assert deliver(old, "m3").status_code == 200
    frozen_time.shift(dt.timedelta(minutes=1))
    refused = deliver(old, "m4")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "no valid signature in webhook-signature"}
    assert deliver(source.secret, "m5").status_code == 200
    audit = AuditLog.objects.get(action="webhook_source.rotate")
    assert old not in json.dumps(audit.changes) and source.secret not in json.dumps(audit.changes)


def test_no_overlap_ends_the_old_secret_at_once():
    source = webhook_source_create(slug="shop", actor=None)
    old = source.secret

    webhook_source_rotate(source=source, overlap=dt.timedelta(0), actor=None)

    assert deliver(old, "m1").status_code == 401


def test_a_second_rotation_ends_the_first_secret(frozen_time):
    source = webhook_source_create(slug="shop", actor=None)
    first = source.secret
    second = webhook_source_rotate(source=source, overlap=dt.timedelta(days=1), actor=None).secret
    third = webhook_source_rotate(source=source, overlap=dt.timedelta(days=1), actor=None).secret

    assert deliver(first, "m1").status_code == 401
    assert deliver(second, "m2").status_code == 200
    assert deliver(third, "m3").status_code == 200


def test_secrets_are_stored_encrypted():
    source = webhook_source_create(slug="shop", actor=None)
    old = source.secret
    source = webhook_source_rotate(source=source, overlap=dt.timedelta(hours=1), actor=None)

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, previous_secret FROM events_webhooksource")
        [(secret, previous)] = cursor.fetchall()
    assert source.secret not in secret and old not in previous
    stored = WebhookSource.objects.get()
    assert (stored.secret, stored.previous_secret) == (source.secret, old)
