"""Journeys over the REST API: list, manual enrollment, re-entry, scopes, query counts."""

from __future__ import annotations

import pytest

from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.factories import CustomerFactory
from lifelong.journeys.models import Enrollment, JourneyStatus
from lifelong.journeys.services import journey_create, journey_status_set

pytestmark = pytest.mark.django_db

DEFINITION = {
    "trigger": {"kind": "manual"},
    "start": "tag",
    "nodes": [{"id": "tag", "type": "tag", "tag": "welcomed"}],
}


def _journey(slug: str = "welcome", status: str = JourneyStatus.ACTIVE):
    journey = journey_create(name="Добро пожаловать", slug=slug, definition=DEFINITION)
    journey_status_set(journey=journey, status=status)
    return journey


def test_list_shows_status_and_version_in_fixed_queries(api, django_assert_num_queries):
    for n in range(5):
        _journey(slug=f"j{n}")
    with django_assert_num_queries(3):  # key lookup, key last-used update, the page
        response = api.get("/journeys")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["slug"] for i in items] == [f"j{n}" for n in range(5)]
    assert {i["status"] for i in items} == {"active"} and {i["version"] for i in items} == {1}


def test_enroll_once_then_refused_by_the_reentry_policy(api):
    _journey()
    CustomerFactory.create(external_id="C-1")
    first = api.post("/journeys/welcome/enrollments", {"customer_external_id": "C-1"})
    assert first.status_code == 201, first.json()
    assert first.json()["enrolled"] is True
    again = api.post("/journeys/welcome/enrollments", {"customer_external_id": "C-1"})
    assert again.status_code == 200
    assert again.json()["enrolled"] is False
    assert Enrollment.objects.count() == 1


def test_enroll_keeps_the_context_for_templates(api):
    _journey()
    CustomerFactory.create(external_id="C-2")
    response = api.post(
        "/journeys/welcome/enrollments",
        {"customer_external_id": "C-2", "context": {"coupon": "HELLO10"}},
    )
    assert response.status_code == 201
    assert Enrollment.objects.get().context == {"coupon": "HELLO10"}


def test_enroll_into_a_paused_journey_changes_nothing(api):
    _journey(status=JourneyStatus.PAUSED)
    CustomerFactory.create(external_id="C-3")
    response = api.post("/journeys/welcome/enrollments", {"customer_external_id": "C-3"})
    assert response.status_code == 200 and response.json()["enrolled"] is False
    assert not Enrollment.objects.exists()


def test_unknown_journey_or_customer_is_404(api):
    _journey()
    assert api.post("/journeys/nope/enrollments", {"customer_external_id": "X"}).status_code == 404
    response = api.post("/journeys/welcome/enrollments", {"customer_external_id": "missing"})
    assert response.status_code == 404


def test_enrolling_needs_the_events_scope():
    _journey()
    CustomerFactory.create(external_id="C-4")
    _, secret = make_key(["read"])
    response = ApiClient(secret).post(
        "/journeys/welcome/enrollments", {"customer_external_id": "C-4"}
    )
    assert response.status_code == 403


def _enroll_raw(api, slug: str, context: str):
    body = '{"customer_external_id": "C-5", "context": ' + context + "}"
    return api.post(f"/journeys/{slug}/enrollments", body)


@pytest.mark.parametrize(
    "context", ['{"note": "a\\u0000b"}', '{"ratio": NaN}', '{"ratio": 1e999}', '{"r": -Infinity}']
)
def test_a_context_a_database_cannot_store_is_422_not_a_false_already_enrolled(api, context):
    journey = journey_create(
        name="Снова",
        slug="again",
        definition={**DEFINITION, "reentry": {"policy": "after_days", "days": 0}},
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    CustomerFactory.create(external_id="C-5")
    response = _enroll_raw(api, "again", context)
    assert response.status_code == 422, response.content
    [error] = response.json()["detail"]
    assert error["field"] == "context"
    assert not Enrollment.objects.exists()
    assert _enroll_raw(api, "again", '{"ratio": 0.5}').status_code == 201


def test_an_order_id_longer_than_the_reentry_key_holds_is_422_naming_it(api):
    journey = journey_create(
        name="На заказ",
        slug="per-order",
        definition={**DEFINITION, "reentry": {"policy": "per_order"}},
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    CustomerFactory.create(external_id="C-5")
    response = _enroll_raw(api, "per-order", '{"order_id": "' + "9" * 10_000 + '"}')
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "context.order_id"
    assert "114" in error["msg"]  # the key column's 120 characters less "order:"
    assert not Enrollment.objects.exists()
    assert _enroll_raw(api, "per-order", '{"order_id": "A-1"}').status_code == 201
    assert _enroll_raw(api, "per-order", '{"order_id": "A-1"}').json()["enrolled"] is False
