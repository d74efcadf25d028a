"""Every operation needs a live API key with the right scope."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from lifelong.accounts.models import ApiKey, ApiScope
from lifelong.accounts.services import api_key_revoke
from lifelong.api.tests.conftest import BASE, ApiClient, make_key
from lifelong.api.urls import api as ninja_api
from lifelong.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def operations() -> list[tuple[str, str]]:
    """(method, path) of every operation that declares security in the OpenAPI schema."""
    found = []
    for path, methods in ninja_api.get_openapi_schema()["paths"].items():
        for method, operation in methods.items():
            if operation.get("security"):
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "X1", path)))
    return found


OPERATIONS = operations()


def test_the_schema_lists_every_operation():
    assert len(OPERATIONS) == 31


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_requires_a_key(method, path):
    response = Client().generic(method, path, "{}", content_type="application/json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_wrong_or_malformed_key_is_401(method, path):
    _, secret = make_key(list(ApiScope.values))
    for header in (
        {"Authorization": f"Bearer {secret}x"},
        {"Authorization": "Bearer ll_nothing_here"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "garbage"},
    ):
        response = Client().generic(
            method, path, "{}", content_type="application/json", headers=header
        )
        assert response.status_code == 401, header


def test_revoked_key_is_401():
    key, secret = make_key([ApiScope.READ])
    client = ApiClient(secret)
    assert client.get("/customers").status_code == 200
    api_key_revoke(key=key, actor=None)
    assert client.get("/customers").status_code == 401


def test_x_api_key_header_works_too():
    _, secret = make_key([ApiScope.READ])
    response = Client().get(f"{BASE}/customers", headers={"X-API-Key": secret})
    assert response.status_code == 200


WRITES = [
    ("PUT", "/customers/C1", {}, ApiScope.CUSTOMERS),
    ("POST", "/customers/merge", {"primary": "A", "duplicate": "B"}, ApiScope.CUSTOMERS),
    (
        "POST",
        "/customers/C1/consents",
        {"channel": "email", "purpose": "marketing", "granted": True},
        ApiScope.CUSTOMERS,
    ),
    ("PUT", "/orders/O1", {}, ApiScope.ORDERS),
    ("POST", "/orders/O1/refunds", {}, ApiScope.ORDERS),
    ("PUT", "/products/S1", {"name": "Mat"}, ApiScope.ORDERS),
    ("POST", "/events", {"type": "visit"}, ApiScope.EVENTS),
    ("POST", "/events/batch", {"events": [{"type": "visit"}]}, ApiScope.EVENTS),
    ("POST", "/reviews", {"source": "2gis", "external_id": "r1"}, ApiScope.FEEDBACK),
]


@pytest.mark.parametrize(("method", "path", "body", "scope"), WRITES)
def test_writes_need_their_scope(method, path, body, scope):
    others = [s for s in ApiScope.values if s != scope]
    client = ApiClient(make_key(others)[1])
    response = client.send(method, path, body)
    assert response.status_code == 403
    assert scope in response.json()["detail"]
    # With an Idempotency-Key the answer is the same, and nothing is remembered.
    response = client.send(method, path, body, headers={"Idempotency-Key": "k"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/customers", "/customers/C1", "/customers/C1/consents", "/orders", "/orders/O1", "/products"],
)
def test_reads_need_the_read_scope(path):
    CustomerFactory(external_id="C1")
    writer = ApiClient(make_key([s for s in ApiScope.values if s != ApiScope.READ])[1])
    assert writer.get(path).status_code == 403


def test_last_used_is_written_at_most_once_a_minute(frozen_time, django_assert_num_queries):
    key, secret = make_key([ApiScope.READ])
    client = ApiClient(secret)
    client.get("/products")
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    frozen_time.shift(30)
    with django_assert_num_queries(2):  # key, page: no write
        client.get("/products")
    key.refresh_from_db()
    assert key.last_used_at == first
    frozen_time.shift(31)
    client.get("/products")
    key.refresh_from_db()
    assert key.last_used_at == first + dt.timedelta(seconds=61)
    assert ApiKey.objects.count() == 1


def test_schema_docs_and_health_are_public():
    client = Client()
    schema = client.get(f"{BASE}/openapi.json")
    assert schema.status_code == 200
    assert set(schema.json()["components"]["securitySchemes"]) == {"BearerKey", "HeaderKey"}
    assert client.get(f"{BASE}/docs").status_code == 200
    assert client.get(f"{BASE}/health").json() == {"status": "ok"}
