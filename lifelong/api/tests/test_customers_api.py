"""Customers and consents through the HTTP API."""

from __future__ import annotations

import pytest

from lifelong.customers.models import Consent, Customer
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_put_creates_then_updates_only_given_fields(api, frozen_time):
    response = api.put(
        "/customers/C-1",
        {
            "first_name": "Анна",
            "email": " Anna@Example.RU ",
            "phone": "8 (916) 123-45-67",
            "birthday": "1990-05-17",
            "gender": "f",
            "attributes": {"size": "M"},
            "tags": ["vip"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "anna@example.ru"
    assert body["phone"] == "+79161234567"
    assert body["tags"] == ["vip"]
    assert body["birthday"] == "1990-05-17"

    response = api.put("/customers/C-1", {"last_name": "Петрова", "attributes": {"pet": "Кеша"}})
    assert response.status_code == 200
    body = response.json()
    assert body["first_name"] == "Анна"
    assert body["last_name"] == "Петрова"
    assert body["attributes"] == {"size": "M", "pet": "Кеша"}
    assert api.get("/customers/C-1").json() == body


def test_get_unknown_customer_is_404(api):
    response = api.get("/customers/nobody")
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


def test_list_filters_and_pages(api, frozen_time):
    CustomerFactory.create_batch(3)
    target = CustomerFactory(email="find@me.ru", phone="+79169999991")
    assert [c["id"] for c in api.get("/customers", {"email": "FIND@me.ru"}).json()["items"]] == [
        target.pk
    ]
    assert [
        c["id"] for c in api.get("/customers", {"phone": "8 916 999-99-91"}).json()["items"]
    ] == [target.pk]
    first = api.get("/customers", {"limit": 3}).json()
    assert len(first["items"]) == 3
    second = api.get("/customers", {"limit": 3, "after": first["next_after"]}).json()
    assert [c["id"] for c in second["items"]] == [target.pk]
    assert second["next_after"] is None


def test_list_updated_since_and_invalid_phone_filter(api, frozen_time):
    old = CustomerFactory()
    frozen_time.shift(3600)
    new = CustomerFactory()
    since = new.updated_at.isoformat()
    assert [c["id"] for c in api.get("/customers", {"updated_since": since}).json()["items"]] == [
        new.pk
    ]
    assert old.pk != new.pk
    response = api.get("/customers", {"phone": "12"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "phone"


def test_list_query_count_does_not_grow(api, api_key, django_assert_num_queries, frozen_time):
    api.get("/customers")  # stamps last_used_at, so the counted requests below do not write
    for customer in CustomerFactory.create_batch(2):
        customer.tags.create(name=f"t{customer.pk}")
    with django_assert_num_queries(3):  # key, page, tags
        assert len(api.get("/customers").json()["items"]) == 2
    for customer in CustomerFactory.create_batch(20):
        customer.tags.create(name=f"t{customer.pk}")
    with django_assert_num_queries(3):
        assert len(api.get("/customers").json()["items"]) == 22


def test_merge_folds_duplicate_and_old_id_resolves(api, frozen_time):
    primary = CustomerFactory(external_id="P", phone="")
    CustomerFactory(external_id="D", phone="+79160000002")
    response = api.post("/customers/merge", {"primary": "P", "duplicate": "D"})
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == "+79160000002"
    assert api.get("/customers/D").json()["id"] == primary.pk
    assert [c["external_id"] for c in api.get("/customers").json()["items"]] == ["P"]


def test_merge_errors_name_the_field(api):
    CustomerFactory(external_id="P")
    response = api.post("/customers/merge", {"primary": "P", "duplicate": "P"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "duplicate"
    assert api.post("/customers/merge", {"primary": "P", "duplicate": "X"}).status_code == 404


def test_consents_recorded_and_listed_newest_first(api, frozen_time):
    customer = CustomerFactory(external_id="C-2")
    body = {
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "ip": "192.0.2.7",
        "form": "checkout",
        "text_version": "v3",
    }
    response = api.post("/customers/C-2/consents", body)
    assert response.status_code == 201, response.content
    assert response.json()["ip"] == "192.0.2.7"
    frozen_time.shift(60)
    api.post("/customers/C-2/consents", {**body, "granted": False})
    history = api.get("/customers/C-2/consents").json()
    assert [c["granted"] for c in history] == [False, True]
    assert Consent.objects.filter(customer=customer).count() == 2
    assert Event.objects.filter(customer=customer, type="consent_withdrawn").exists()


def test_consent_for_unknown_customer_is_404_and_bad_channel_422(api):
    CustomerFactory(external_id="C-3")
    body = {"channel": "email", "purpose": "marketing", "granted": True}
    assert api.post("/customers/nobody/consents", body).status_code == 404
    response = api.post("/customers/C-3/consents", {**body, "channel": "pigeon"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "channel"
    assert not Customer.objects.filter(external_id="nobody").exists()
