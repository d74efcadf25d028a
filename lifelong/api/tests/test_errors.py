"""Bad input gets a 4xx JSON answer that names the field, never a 500."""

from __future__ import annotations

import json

import pytest

from lifelong.accounts.services import AccountError
from lifelong.api.urls import api as ninja_api
from lifelong.commerce.services import OrderDataError
from lifelong.customers.models import Customer
from lifelong.customers.services import CustomerDataError
from lifelong.followups.services import TaskError
from lifelong.journeys.services import JourneyError
from lifelong.messaging.services import MessagingError

pytestmark = pytest.mark.django_db


def test_validation_error_shape(api):
    response = api.put("/customers/C1", {"email": 5, "birthday": "2026-13-40", "tags": ["", "x"]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {e["field"] for e in detail} == {"email", "birthday", "tags.0"}
    for error in detail:
        assert set(error) == {"loc", "field", "msg", "type"}
        assert error["loc"][:2] == ["body", "payload"]
        assert error["msg"]


def test_domain_errors_name_their_field(api):
    response = api.put("/customers/C1", {"phone": "not a phone"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "payload", "phone"],
            "field": "phone",
            "msg": response.json()["detail"][0]["msg"],
            "type": "value_error",
        }
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"first_name": "nul\x00byte"},
        {"attributes": {"a": "nul\x00"}},
        {"attributes": {"deep": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}},
        {"time_zone": "Mars/Olympus"},
        {"time_zone": "../../etc/passwd"},
        {"birthday": "0001-01-01"},
        {"birthday": 1700000000},
        {"first_name": "x" * 101},
        {"tags": ["t"] * 51},
    ],
)
def test_input_the_database_would_choke_on_is_422(api, body):
    assert api.put("/customers/C1", body).status_code == 422


def test_nan_in_json_is_rejected(api):
    response = api.put("/customers/C1", '{"attributes": {"x": NaN}}')
    assert response.status_code == 422


def test_unparseable_body_is_400(api):
    response = api.put("/customers/C1", "{not json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot parse request body"}


@pytest.mark.parametrize("external_id", [".hidden", "with space", "a" * 129])
def test_path_ids_are_checked(api, external_id):
    assert api.put(f"/customers/{external_id}", {}).status_code == 422


def test_times_must_carry_an_offset_and_be_plausible(api):
    base = {"customer_external_id": "C1", "total": "1"}
    for placed_at in ("2026-03-01T10:00:00", "0001-01-01T00:00:00+01:00", "1700000000"):
        response = api.put("/orders/O1", {**base, "placed_at": placed_at})
        assert response.status_code == 422, placed_at
        assert response.json()["detail"][0]["field"] == "placed_at"


def test_lone_surrogates_are_422_and_odd_offsets_are_stored_in_utc(api):
    assert api.put("/customers/C1", '{"first_name": "\\ud800"}').status_code == 422
    assert api.put("/customers/C1", '{"attributes": {"\\udc00": 1}}').status_code == 422
    response = api.post("/events", {"type": "x", "occurred_at": "1990-05-10T10:18:24-16:09"})
    assert response.status_code == 201
    assert response.json()["occurred_at"] == "1990-05-11T02:27:24Z"


@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"text"', "3"])
def test_a_body_that_is_not_an_object_is_refused_and_creates_nothing(api, body):
    response = api.put("/customers/C-ARRAY", body)
    assert response.status_code == 400
    assert not Customer.objects.filter(external_id="C-ARRAY").exists()


@pytest.mark.parametrize(
    "error",
    [CustomerDataError, OrderDataError, MessagingError, JourneyError, TaskError, AccountError],
)
def test_every_domain_error_answers_422_with_its_field(rf, error):
    response = ninja_api.on_exception(rf.post("/api/v1/x"), error("cannot do that", field="status"))
    assert response.status_code == 422
    assert json.loads(response.content) == {
        "detail": [
            {
                "loc": ["body", "payload", "status"],
                "field": "status",
                "msg": "cannot do that",
                "type": "value_error",
            }
        ]
    }
