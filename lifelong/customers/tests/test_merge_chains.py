"""Merge D into P, then P into T: everything sent under D reaches T, whichever way it comes."""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import json
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.accounts.models import ApiScope
from lifelong.api.ingest import customer_get
from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.commerce.models import Order
from lifelong.commerce.services import order_upsert
from lifelong.customers.models import Consent, Customer
from lifelong.customers.services import CustomerDataError, customer_merge
from lifelong.events.models import Event, WebhookSource
from lifelong.events.tests.csv_helpers import run
from lifelong.events.webhooks import webhook_sign
from lifelong.factories import CustomerFactory
from lifelong.messaging.links import unsubscribe_url

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture
def api() -> ApiClient:
    return ApiClient(make_key(list(ApiScope.values))[1])


@pytest.fixture
def chain(api, frozen_time) -> dict[str, Customer]:
    """D merged into P, then P into T, all through the API."""
    for key in ("D", "P", "T"):
        assert (
            api.put(f"/customers/{key}", {"email": f"{key.lower()}@example.ru"}).status_code == 201
        )
    for primary, duplicate in (("P", "D"), ("T", "P")):
        response = api.post("/customers/merge", {"primary": primary, "duplicate": duplicate})
        assert response.status_code == 200, response.content
    return {str(c.external_id): c for c in Customer.objects.all()}


def _deliver(message: dict[str, object], webhook_id: str) -> dict[str, object]:
    body = json.dumps(message).encode()
    timestamp = int(clock.now().timestamp())
    signature = webhook_sign(
        secret=WEBHOOK_SECRET, webhook_id=webhook_id, timestamp=timestamp, body=body
    )
    response = Client().post(
        "/hooks/shop",
        body,
        content_type="application/json",
        headers={
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        },
    )
    assert response.status_code == 200, response.content
    return response.json()


def _withdrawn_on(customer: Customer) -> bool:
    current = Consent.objects.filter(customer=customer, channel="email").newest_first().first()
    return current is not None and not current.granted


def test_merging_the_survivor_repoints_its_tombstones(chain):
    d, p, t = chain["D"], chain["P"], chain["T"]
    assert (d.merged_into_id, p.merged_into_id, t.merged_into_id) == (t.pk, t.pk, None)


def test_a_withdrawal_under_the_first_id_lands_on_the_last_survivor(api, chain):
    grant = {"channel": "email", "purpose": "marketing", "granted": True}
    assert api.post("/customers/T/consents", grant).status_code == 201

    response = api.post("/customers/D/consents", {**grant, "granted": False})

    assert response.status_code == 201
    assert _withdrawn_on(chain["T"])
    assert not Consent.objects.filter(customer__in=[chain["D"], chain["P"]]).exists()
    assert api.get("/customers/D").json()["external_id"] == "T"

    # D's old unsubscribe link withdraws T's consent too.
    assert api.post("/customers/T/consents", grant).status_code == 201
    response = Client().post(
        unsubscribe_url(customer_id=chain["D"].pk, channel="email"),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert _withdrawn_on(chain["T"])


def test_events_webhooks_and_csv_rows_under_the_first_id_land_on_the_last_survivor(api, chain):
    t = chain["T"]
    response = api.post("/events", {"type": "product_viewed", "customer_external_id": "D"})
    assert response.status_code == 201, response.content

    WebhookSource.objects.create(slug="shop", secret=WEBHOOK_SECRET)
    hook_event = {"type": "event", "data": {"type": "cart_left", "customer_external_id": "D"}}
    _deliver(hook_event, "msg-1")
    profile = {"type": "customer.upsert", "data": {"external_id": "D", "first_name": "Дарья"}}
    assert _deliver(profile, "msg-2")["customer_id"] == t.pk

    job = run("customers", "Код клиента;Фамилия\r\nD;Дроздова\r\n")
    assert job.rejected_rows == 0
    job = run("orders", "Номер заказа;Клиент;Дата;Сумма\r\nA-1;D;15.01.2025;990\r\n")
    assert job.rejected_rows == 0

    t.refresh_from_db()
    assert (t.first_name, t.last_name, t.orders_count) == ("Дарья", "Дроздова", 1)
    assert Order.objects.get(external_id="A-1").customer_id == t.pk
    for kind in ("product_viewed", "cart_left"):
        assert Event.objects.get(type=kind).customer_id == t.pk
    tombstones = [chain["D"], chain["P"]]
    assert not Event.objects.filter(customer__in=tombstones).exists()
    assert not Customer.objects.filter(external_id__in=["D", "P"], merged_into=None).exists()


def test_migration_flattens_chains_left_by_earlier_merges(db):
    people = CustomerFactory.create_batch(6)
    # A chain 0 -> 1 -> 2 -> 3 and a single hop 4 -> 5, as merges used to leave them.
    for tombstone, target in ((0, 1), (1, 2), (2, 3), (4, 5)):
        Customer.objects.filter(pk=people[tombstone].pk).update(merged_into=people[target])
    migration = importlib.import_module("lifelong.customers.migrations.0005_merge_chains_flattened")

    migration.merge_chains_flatten(apps, None)

    targets = dict(Customer.objects.values_list("pk", "merged_into_id"))
    assert [targets[c.pk] for c in people] == [people[3].pk] * 3 + [None, people[5].pk, None]


# Merges of five customers: (primary index, duplicate index), tombstones and all.
MERGES = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=8)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(merges=MERGES)
def test_every_tombstone_points_at_a_live_survivor(frozen_time, owner, merges):
    people = CustomerFactory.create_batch(5)
    placed = clock.now() - dt.timedelta(days=1)
    for n, person in enumerate(people):
        order_upsert(
            external_id=f"{person.external_id}-{n}",
            customer=person,
            total=Decimal("100"),
            placed_at=placed,
        )
    stands_for = {c.pk: c.pk for c in people}  # the model: whose record now holds whose orders
    for primary, duplicate in merges:
        a, b = people[primary], people[duplicate]
        allowed = a.pk != b.pk and stands_for[a.pk] == a.pk and stands_for[b.pk] == b.pk
        try:
            customer_merge(
                primary=Customer.objects.get(pk=a.pk),
                duplicate=Customer.objects.get(pk=b.pk),
                actor=owner,
            )
        except CustomerDataError:
            assert not allowed
            continue
        assert allowed
        stands_for = {k: a.pk if v == b.pk else v for k, v in stands_for.items()}

    rows = {c.pk: c for c in Customer.objects.filter(pk__in=stands_for)}
    for person in people:
        row = rows[person.pk]
        survivor = stands_for[person.pk]
        assert row.merged_into_id == (None if survivor == person.pk else survivor)
        assert rows[survivor].merged_into_id is None
        assert customer_get(person.external_id).pk == survivor
        own_order = Order.objects.get(external_id__startswith=f"{person.external_id}-")
        assert own_order.customer_id == survivor
