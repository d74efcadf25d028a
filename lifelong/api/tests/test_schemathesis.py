"""Property-based tests of the whole API against its own OpenAPI schema (Schemathesis 4).

Every operation gets generated requests, valid and invalid, sent in-process
through the WSGI app with a key holding every scope; all of Schemathesis'
checks run on each response: no 5xx, documented status codes and content
types, bodies that match the response schemas, invalid input rejected, valid
input accepted, missing auth answered with 401.

The loyalty examples of the schema (those of docs/api.md) are seeded for every operation, so
the examples phase reserves, confirms and cancels real holds, not only 404s.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, connection
from hypothesis import HealthCheck, settings

from lifelong.accounts.models import ApiScope
from lifelong.accounts.services import api_key_create
from lifelong.factories import CustomerFactory
from lifelong.loyalty.holds import TIMEOUT_MAX, hold_reserve
from lifelong.loyalty.models import Hold, HoldStatus
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.helpers import programme_start
from lifelong.wsgi import application

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            # PostgreSQL refuses NUL in text; the API rejects it with 422 (tested elsewhere),
            # so generating it everywhere would only test that one rule over and over.
            "allow-x00": False,
            "database": "none",
        },
        # The coverage phase sends every boundary value; one unexpected method per path
        # is enough to check 405 + Allow, and keeps the whole test within a minute.
        "phases": {"coverage": {"unexpected-methods": ["DELETE"]}},
        "checks": {
            # Some rules cannot be written in JSON Schema (a real phone number, refunds
            # within the order total, merging two distinct customers): schema-valid data
            # may still be refused, with 422 naming the field.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
            },
        },
    }
)

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)


@pytest.fixture
def secret(db) -> str:
    return api_key_create(name="schemathesis", scopes=list(ApiScope.values))[1]


@pytest.fixture
def wsgi_in_test_transaction(db):
    """Keep the test's database connection across requests, as Django's test client does.

    Called straight through WSGI, Django would close "old" connections at the
    start and end of every request, which ends the test transaction on PostgreSQL.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# The examples in lifelong/api/routers/loyalty.py.
CUSTOMER, HOLD_ID, HOLD_ORDER, NEW_ORDER = "C-1001", 41, "Z-5001", "Z-5002"


def _next_hold_id(pk: int) -> None:
    """Make `pk` the next hold's id, whatever ids earlier tests took (the table is empty)."""
    table = Hold._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)"
            cursor.execute(sql, [table, pk])
        else:  # SQLite's AUTOINCREMENT counter
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])
            sql = "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)"
            cursor.execute(sql, [table, pk - 1])


@pytest.fixture
def loyalty_examples(db, request):
    """The programme on, customer C-1001 with 2,000 points and an open hold 41 of 500 points for
    order Z-5001; afterwards, the example calls of the hold operations did what they say."""
    programme_start()
    customer = CustomerFactory.create(external_id=CUSTOMER)
    points_award(customer_id=customer.pk, points=2000, key="schemathesis")
    _next_hold_id(HOLD_ID)
    hold = hold_reserve(
        customer_id=customer.pk,
        order_external_id=HOLD_ORDER,
        points=500,
        timeout_seconds=TIMEOUT_MAX,
    )
    assert hold.pk == HOLD_ID
    yield
    operation = request.node.name.partition("[")[2].rstrip("]")
    hold.refresh_from_db()
    if operation == "POST /api/v1/loyalty/holds":
        assert Hold.objects.filter(order_external_id=NEW_ORDER, points=500).exists()
    elif operation == "POST /api/v1/loyalty/holds/{hold_id}/confirm":
        assert (hold.status, hold.confirmed_points) == (HoldStatus.CONFIRMED, 450)
    elif operation == "POST /api/v1/loyalty/holds/{hold_id}/cancel":
        assert hold.status == HoldStatus.CANCELLED


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case, secret, wsgi_in_test_transaction, loyalty_examples):
    case.call_and_validate(headers={"Authorization": f"Bearer {secret}"})
