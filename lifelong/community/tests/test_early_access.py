"""Early access as a tier privilege: the opening event for qualifying customers (once each),
and the shop's API check by customer id and by the signed link, read as raw HTTP bodies."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from lifelong import clock
from lifelong.accounts.models import ApiScope
from lifelong.accounts.services import api_key_create
from lifelong.community.early_access import (
    EVENT_TYPE,
    early_access_open_due,
    early_access_token,
)
from lifelong.community.models import EarlyAccess
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, ProductFactory, damaged
from lifelong.journeys.models import Enrollment, JourneyStatus
from lifelong.journeys.reactor import journeys_react
from lifelong.journeys.services import journey_create, journey_status_set
from lifelong.loyalty.models import Tier
from lifelong.loyalty.status import status_url
from lifelong.loyalty.tests.helpers import programme_start
from lifelong.loyalty.tiers import tier_set_manual

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder():
    entry = Tier.objects.create(slug="novichok", name="Новичок", position=1)
    guru = Tier.objects.create(
        slug="guru", name="Гуру", position=4, min_orders=10, privileges=["early_access"]
    )
    return entry, guru


def _window(guru: Tier, **overrides) -> EarlyAccess:
    now = clock.now()
    values = {
        "name": "Осенняя коллекция",
        "collection": "Осень",
        "url": "https://prana.example/autumn?ref=club",
        "tier": guru,
        "starts_at": now + dt.timedelta(hours=1),
        "public_at": now + dt.timedelta(days=7),
    }
    values.update(overrides)
    return EarlyAccess.objects.create(**values)


def _guru(customer, guru: Tier, staff) -> None:
    tier_set_manual(
        customer_id=customer.pk,
        tier=guru,
        until=clock.now() + dt.timedelta(days=365),
        reason="клуб",
        actor=staff,
    )


def test_opening_records_the_event_once_for_customers_of_the_tier(ladder, frozen_time, owner):
    _entry, guru = ladder
    anna, boris = CustomerFactory.create_batch(2)
    _guru(anna, guru, owner)
    window = _window(guru)

    assert early_access_open_due() == 0  # not yet
    frozen_time.shift(dt.timedelta(hours=1))
    assert early_access_open_due() == 1
    assert early_access_open_due() == 0
    [event] = Event.objects.filter(type=EVENT_TYPE)
    assert event.customer_id == anna.pk
    assert event.properties["name"] == "Осенняя коллекция"
    assert event.properties["url"].startswith("https://prana.example/autumn?ref=club&early=")
    window.refresh_from_db()
    assert window.opened_at is not None
    assert not Event.objects.filter(type=EVENT_TYPE, customer=boris).exists()


def _get(client, secret: str, **params) -> tuple[int, dict]:
    response = client.get(
        "/api/v1/early-access", params, headers={"Authorization": f"Bearer {secret}"}
    )
    return response.status_code, json.loads(response.content)


def test_the_shop_asks_whether_a_customer_may_see_the_goods_now(ladder, frozen_time, owner, client):
    _entry, guru = ladder
    anna = CustomerFactory.create(external_id="C-ANNA")
    CustomerFactory.create(external_id="C-BORIS")
    _guru(anna, guru, owner)
    ProductFactory.create(sku="PRANA-SHAWL", category="Осень")
    window = _window(guru)
    _key, secret = api_key_create(name="shop", scopes=[ApiScope.READ])

    frozen_time.shift(dt.timedelta(hours=2))
    status, body = _get(client, secret, sku="PRANA-SHAWL", customer_external_id="C-ANNA")
    assert status == 200
    assert body == {
        "sku": "PRANA-SHAWL",
        "collection": "",
        "customer_external_id": "C-ANNA",
        "access": True,
        "restricted": True,
        "early": True,
        "name": "Осенняя коллекция",
        "opens_at": window.starts_at.isoformat().replace("+00:00", "Z"),
        "public_at": window.public_at.isoformat().replace("+00:00", "Z"),
    }
    status, body = _get(client, secret, collection="Осень", customer_external_id="C-BORIS")
    assert (status, body["access"], body["early"]) == (200, False, False)
    assert body["opens_at"] == body["public_at"]

    # The signed link names Anna without a login; a forged one is refused.
    token = early_access_token(customer_id=anna.pk)
    status, body = _get(client, secret, sku="PRANA-SHAWL", token=token)
    assert (status, body["customer_external_id"], body["access"]) == (200, "C-ANNA", True)
    status, body = _get(client, secret, sku="PRANA-SHAWL", token=damaged(token))
    assert status == 404
    # Anonymous: not yet. Goods without a window: open to all.
    assert _get(client, secret, sku="PRANA-SHAWL")[1]["access"] is False
    status, body = _get(client, secret, sku="OTHER")
    assert (body["access"], body["restricted"]) == (True, False)
    # A week on, everyone.
    frozen_time.shift(dt.timedelta(days=7))
    status, body = _get(client, secret, sku="PRANA-SHAWL", customer_external_id="C-BORIS")
    assert (body["access"], body["restricted"], body["early"]) == (True, False, False)
    # Neither goods nor collection named: a 422 that says so.
    assert _get(client, secret, customer_external_id="C-ANNA")[0] == 422


def test_the_privilege_switched_off_takes_early_access_away(ladder, frozen_time, owner, client):
    _entry, guru = ladder
    anna = CustomerFactory.create(external_id="C-ANNA")
    _guru(anna, guru, owner)
    _window(guru, sku="PRANA-MAT", collection="")
    _key, secret = api_key_create(name="shop", scopes=[ApiScope.READ])
    frozen_time.shift(dt.timedelta(hours=2))
    assert _get(client, secret, sku="PRANA-MAT", customer_external_id="C-ANNA")[1]["access"]
    guru.privileges = []
    guru.save()
    assert not _get(client, secret, sku="PRANA-MAT", customer_external_id="C-ANNA")[1]["access"]


def test_the_status_page_lists_early_access_honestly(ladder, frozen_time, owner, client):
    _entry, guru = ladder
    programme_start()
    anna, boris = CustomerFactory.create_batch(2)
    _guru(anna, guru, owner)
    text = client.get(status_url(customer_id=anna.pk)).content.decode()
    assert "Ранний доступ" in text and "Сейчас заранее ничего не открыто." in text

    _window(guru)
    frozen_time.shift(dt.timedelta(hours=2))
    text = client.get(status_url(customer_id=anna.pk)).content.decode()
    assert "Осенняя коллекция" in text and "Для вас уже открыто, для всех — с" in text
    assert "https://prana.example/autumn?ref=club&amp;early=" in text
    # A customer whose tier opens nothing early reads nothing about it.
    text = client.get(status_url(customer_id=boris.pk)).content.decode()
    assert "Осенняя коллекция" not in text and "Ранний доступ" not in text


def test_a_journey_started_by_the_opening_has_the_customers_link(ladder, frozen_time, owner):
    _entry, guru = ladder
    anna = CustomerFactory.create()
    _guru(anna, guru, owner)
    _window(guru)
    journey = journey_create(
        name="Ранний доступ",
        slug="early",
        definition={
            "trigger": {"kind": "event", "event_type": EVENT_TYPE},
            "start": "tag",
            "nodes": [{"id": "tag", "type": "tag", "tag": "ранний доступ"}],
        },
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    journeys_react()  # the reactor starts at the end of the log
    frozen_time.shift(dt.timedelta(hours=1))
    early_access_open_due()
    journeys_react()
    enrollment = Enrollment.objects.get(customer=anna)
    assert enrollment.context["name"] == "Осенняя коллекция"
    assert enrollment.context["url"].startswith("https://prana.example/autumn?ref=club&early=")
