"""Events, single and in batches."""

from __future__ import annotations

import pytest

from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_single_event_with_its_own_idempotency_key(api, frozen_time):
    customer = CustomerFactory(external_id="C1")
    body = {
        "type": "product_viewed",
        "customer_external_id": "C1",
        "properties": {"sku": "MAT-1"},
        "occurred_at": "2026-03-01T10:00:00Z",
        "idempotency_key": "view-1",
    }
    first = api.post("/events", body)
    assert first.status_code == 201, first.content
    assert first.json()["duplicate"] is False
    again = api.post("/events", body)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    event = Event.objects.get(type="product_viewed")
    assert (event.customer, event.properties, event.source) == (customer, {"sku": "MAT-1"}, "api")


def test_client_keys_cannot_collide_with_service_keys(api, frozen_time):
    response = api.post("/events", {"type": "x", "idempotency_key": "order:O1:placed"})
    assert response.json()["duplicate"] is False
    assert Event.objects.get(type="x").idempotency_key == "ext:order:O1:placed"


def test_batch_records_all_and_creates_unknown_customers(api, frozen_time):
    CustomerFactory(external_id="KNOWN")
    events = [
        {
            "type": "visit",
            "customer_external_id": "KNOWN" if i % 2 else "NEW",
            "idempotency_key": f"v{i}",
        }
        for i in range(10)
    ]
    response = api.post("/events/batch", {"events": events})
    assert response.status_code == 200, response.content
    assert (response.json()["created"], response.json()["duplicates"]) == (10, 0)
    assert Event.objects.filter(type="visit").count() == 10
    assert Customer.objects.filter(external_id="NEW").count() == 1
    again = api.post("/events/batch", {"events": events}).json()
    assert (again["created"], again["duplicates"]) == (0, 10)


def test_batch_looks_customers_up_once(api, django_assert_max_num_queries, frozen_time):
    CustomerFactory.create_batch(50)
    ids = list(Customer.objects.values_list("external_id", flat=True))
    events = [{"type": "visit", "customer_external_id": ids[i % 50]} for i in range(200)]
    api.get("/customers")  # stamp last_used_at
    # Per event: a savepoint and an insert (3 queries); customers: one query for all.
    with django_assert_max_num_queries(200 * 3 + 10):
        assert api.post("/events/batch", {"events": events}).status_code == 200


def test_batch_limit_is_1000(api):
    ok = api.post("/events/batch", {"events": [{"type": "ping"}] * 1000})
    assert ok.status_code == 200
    response = api.post("/events/batch", {"events": [{"type": "ping"}] * 1001})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "events"
    assert "1000" in error["msg"]
    assert Event.objects.filter(type="ping").count() == 1000


def test_one_bad_item_rejects_the_batch_and_names_it(api):
    events = [
        {"type": "ok"},
        {"type": "Bad Type"},
        {"type": "ok", "occurred_at": "2026-03-01T10:00:00"},
    ]
    response = api.post("/events/batch", {"events": events})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == [
        "events.1.type",
        "events.2.occurred_at",
    ]
    assert not Event.objects.exists()
    assert api.post("/events/batch", {"events": []}).status_code == 422


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({"skus": 5}, "skus"),
        ({"skus": [{"sku": "MAT-1"}]}, "skus"),
        ({"skus": [["x"]]}, "skus"),
        ({"sku": 7}, "sku"),
        ({"total": "много"}, "total"),
        ({"total": True}, "total"),
        ({"segment_id": "1"}, "segment_id"),
    ],
)
def test_properties_the_product_reads_must_have_their_shape(api, properties, field):
    response = api.post("/events", {"type": "cart_updated", "properties": properties})
    assert response.status_code == 422, response.content
    [error] = response.json()["detail"]
    assert error["field"] == "properties"
    assert field in error["msg"]
    assert not Event.objects.exists()


def test_other_properties_pass_as_they_are(api, frozen_time):
    properties = {"skus": ["MAT-1"], "total": "1500.00", "cart": {"skus": ["MAT-1"]}, "x": [[1]]}
    response = api.post("/events", {"type": "cart_updated", "properties": properties})
    assert response.status_code == 201, response.content
    assert Event.objects.get().properties == properties


def test_properties_over_64_kb_are_refused_in_the_api_error_format(api):
    response = api.post("/events", {"type": "x", "properties": {"note": "я" * 40_000}})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "properties"
    assert "65536" in error["msg"]
    assert not Event.objects.exists()
