"""Segments over the REST API: CRUD, live count, members, validation, scopes, query counts."""

from __future__ import annotations

import pytest

from lifelong.accounts.models import ApiScope, AuditLog
from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.customers.services import customer_tags_add
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.segments.editing import segment_refresh_run
from lifelong.segments.models import Segment, SegmentMembership
from lifelong.segments.services import segment_create, segment_refresh

pytestmark = pytest.mark.django_db

BIG_SPENDERS = {
    "op": "and",
    "rules": [{"kind": "summary", "field": "total_spent", "op": "gte", "value": "5000"}],
}
VIP = {"op": "and", "rules": [{"kind": "tag", "tag": "vip"}]}


def test_create_get_list_and_replace(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        created = api.post("/segments", {"name": " Big spenders ", "rules": BIG_SPENDERS})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["name"] == "Big spenders"
    assert body["rules"]["rules"][0] == {
        "kind": "summary",
        "field": "total_spent",
        "op": "gte",
        "value": "5000",
        "negate": False,
    }
    assert body["active"] is True and body["refreshing"] is True
    assert len(callbacks) == 1  # members are computed after commit
    assert AuditLog.objects.filter(action="segment.create", object_id=str(body["id"])).exists()

    segment_refresh_run(body["id"])
    got = api.get(f"/segments/{body['id']}").json()
    assert got["refreshing"] is False and got["refreshed_at"] is not None

    replaced = api.put(
        f"/segments/{body['id']}",
        {"name": "VIP", "description": "Tagged", "rules": VIP, "active": False},
    )
    assert replaced.status_code == 200, replaced.json()
    assert replaced.json()["rules"]["rules"] == [{"kind": "tag", "tag": "vip", "negate": False}]
    assert replaced.json()["active"] is False

    listed = api.get("/segments").json()
    assert [item["name"] for item in listed["items"]] == ["VIP"]
    assert listed["next_after"] is None


def test_invalid_rules_answer_422_naming_the_condition(api):
    rules = {
        "op": "or",
        "rules": [
            {"kind": "tag", "tag": "vip"},
            {
                "kind": "group",
                "rules": [{"kind": "score", "field": "stage", "op": "gt", "value": 1}],
            },
            {"kind": "summary", "field": "orders_count", "op": "gte", "value": "many"},
            {"kind": "weather"},
        ],
    }
    response = api.post("/segments", {"name": "Broken", "rules": rules})
    assert response.status_code == 422
    fields = {error["field"]: error["msg"] for error in response.json()["detail"]}
    assert set(fields) == {
        "rules.rules.1.rules.0",
        "rules.rules.2.value",
        "rules.rules.3.kind",
    }
    assert "stage takes names" in fields["rules.rules.1.rules.0"]
    assert not Segment.objects.exists()

    blank = api.post("/segments", {"name": "   ", "rules": VIP})
    assert blank.status_code == 422
    assert blank.json()["detail"][0]["field"] == "name"


def test_count_counts_a_draft(api):
    vip = CustomerFactory()
    customer_tags_add(customer=vip, names=["vip"])
    CustomerFactory()
    assert api.post("/segments/count", {"rules": VIP}).json() == {"count": 1}
    assert api.post("/segments/count", {"rules": {"op": "and", "rules": []}}).json() == {"count": 2}
    bad = api.post("/segments/count", {"rules": {"rules": [{"kind": "tag"}]}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "rules.rules.0.tag"
    assert not Segment.objects.exists()


def test_members_page_with_a_fixed_number_of_queries(api, django_assert_num_queries, frozen_time):
    api.get("/segments")  # stamps last_used_at, so the counted requests below do not write
    segment = segment_create(name="All", rules={"op": "and", "rules": []})
    customers = [CustomerFactory() for _ in range(3)]
    customer_tags_add(customer=customers[0], names=["vip", "b2b"])
    segment_refresh(segment=segment)
    # key, segment, memberships with customers, their tags
    with django_assert_num_queries(4):
        first = api.get(f"/segments/{segment.pk}/members", {"limit": 2}).json()
    assert [m["customer"]["id"] for m in first["items"]] == [c.pk for c in customers[:2]]
    assert first["items"][0]["customer"]["tags"] == ["b2b", "vip"]
    for _ in range(5):
        CustomerFactory()
    segment_refresh(segment=segment)
    with django_assert_num_queries(4):
        rest = api.get(
            f"/segments/{segment.pk}/members", {"limit": 100, "after": first["next_after"]}
        ).json()
    assert len(rest["items"]) == 6 and rest["next_after"] is None


def test_list_with_a_fixed_number_of_queries(api, django_assert_num_queries, frozen_time):
    api.get("/segments")  # stamps last_used_at
    segment_create(name="A", rules=VIP)
    with django_assert_num_queries(2):  # key, segments
        api.get("/segments")
    for name in "BCDE":
        segment_create(name=name, rules=VIP)
    with django_assert_num_queries(2):
        assert len(api.get("/segments").json()["items"]) == 5


def test_unknown_segment_is_404(api):
    assert api.get("/segments/999").status_code == 404
    assert api.get("/segments/999/members").status_code == 404
    assert api.put("/segments/999", {"name": "x", "rules": VIP}).status_code == 404


def test_scopes(db):
    segment = segment_create(name="A", rules=VIP)
    reader = ApiClient(make_key([ApiScope.READ])[1])
    assert reader.get("/segments").status_code == 200
    assert reader.post("/segments/count", {"rules": VIP}).status_code == 200
    assert reader.post("/segments", {"name": "x", "rules": VIP}).status_code == 403
    assert reader.put(f"/segments/{segment.pk}", {"name": "x", "rules": VIP}).status_code == 403
    writer = ApiClient(make_key([ApiScope.CUSTOMERS])[1])
    assert writer.get("/segments").status_code == 403
    assert writer.post("/segments", {"name": "x", "rules": VIP}).status_code == 201
    assert ApiClient(None).get("/segments").status_code == 401


def test_an_api_order_moves_its_customer_into_a_segment(
    api, frozen_time, django_capture_on_commit_callbacks
):
    """Ingestion re-evaluates segments for the touched customers once it commits."""
    segment = segment_create(name="Big spenders", rules=BIG_SPENDERS)
    segment_refresh(segment=segment)
    order = {
        "customer_external_id": "c-1",
        "total": "6000.00",
        "placed_at": "2026-03-01T12:00:00+00:00",
        "status": "paid",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.put("/orders/o-1", order)
    assert response.status_code == 201, response.json()
    member = SegmentMembership.objects.get(segment=segment)
    assert member.customer.external_id == "c-1"
    entered = Event.objects.get(type="segment_entered", customer=member.customer)
    assert entered.properties == {"segment_id": segment.pk}

    with django_capture_on_commit_callbacks(execute=True):
        refund = api.post("/orders/o-1/refunds", {"external_id": "r-1", "amount": "2000.00"})
    assert refund.status_code == 201, refund.json()
    assert not SegmentMembership.objects.filter(segment=segment).exists()
    assert Event.objects.filter(type="segment_exited").count() == 1


def test_api_events_and_customers_move_customers_too(
    api, frozen_time, django_capture_on_commit_callbacks
):
    openers = segment_create(
        name="Openers",
        rules={"op": "and", "rules": [{"kind": "event", "type": "email_opened"}]},
    )
    moscow = segment_create(
        name="Moscow",
        rules={
            "op": "and",
            "rules": [{"kind": "attribute", "key": "city", "op": "eq", "value": "Москва"}],
        },
    )
    event = {"customer_external_id": "c-2", "type": "email_opened"}
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/events", event).status_code == 201
    assert SegmentMembership.objects.filter(segment=openers).count() == 1
    customer = {"attributes": {"city": "Москва"}}
    with django_capture_on_commit_callbacks(execute=True):
        assert api.put("/customers/c-2", customer).status_code == 200
    assert SegmentMembership.objects.filter(segment=moscow).count() == 1


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ('{"kind": "tag", "tag": "vi\\u0000p"}', "tag"),
        ('{"kind": "profile", "field": "email", "op": "eq", "value": "a\\u0000"}', "value"),
        ('{"kind": "profile", "field": "last_name", "op": "in", "value": ["a\\u0000"]}', "value"),
        ('{"kind": "attribute", "key": "city", "op": "eq", "value": "Ка\\u0000зань"}', "value"),
        ('{"kind": "attribute", "key": "age", "op": "in", "value": [1, "x\\u0000"]}', "value"),
        ('{"kind": "event", "type": "email_\\u0000opened"}', "type"),
        ('{"kind": "bought", "sku": "TEA\\u00001"}', "sku"),
        ('{"kind": "bought", "category": "Ч\\u0000ай"}', "category"),
        ('{"kind": "score", "field": "stage", "op": "eq", "value": "new\\u0000"}', "value"),
        ('{"kind": "attribute", "key": "age", "op": "gt", "value": NaN}', "value"),
        ('{"kind": "attribute", "key": "age", "op": "lt", "value": 1e999}', "value"),
        ('{"kind": "score", "field": "predicted_clv", "op": "gt", "value": 1e999}', "value"),
        ('{"kind": "score", "field": "loyalty_value", "op": "lt", "value": -Infinity}', "value"),
    ],
)
def test_values_no_database_compares_with_are_422_naming_them(api, condition, field):
    CustomerFactory.create(attributes={"city": "Казань", "age": 30})
    body = '{"rules": {"op": "and", "rules": [' + condition + "]}}"
    response = api.post("/segments/count", body)
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["detail"]] == [f"rules.rules.0.{field}"]
    named = api.post("/segments", '{"name": "Bad", "rules": {"rules": [' + condition + "]}}")
    assert named.status_code == 422
    assert not Segment.objects.exists()
