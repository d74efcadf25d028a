"""POST /api/v1/reviews: outside reviews into the inbox, once, with their scope."""

from __future__ import annotations

import pytest

from lifelong.accounts.models import ApiScope
from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Conversation, Item

pytestmark = pytest.mark.django_db

REVIEW = {
    "source": "yandex_maps",
    "external_id": "ym-7781",
    "customer_external_id": "C-15",
    "rating": 2,
    "text": "Доставку ждали неделю, курьер не позвонил",
    "author": "Марина К.",
    "url": "https://yandex.ru/maps/org/lavka/1234/reviews/",
    "published_at": "2026-03-01T10:00:00+03:00",
}


@pytest.fixture
def client() -> ApiClient:
    return ApiClient(make_key([ApiScope.FEEDBACK])[1])


def test_a_review_lands_in_the_customers_conversation_once(client, frozen_time):
    customer = CustomerFactory.create(external_id="C-15")

    first = client.post("/reviews", REVIEW)
    again = client.post("/reviews", {**REVIEW, "text": "изменённый текст"})

    assert first.status_code == 201, first.content
    assert again.status_code == 200
    body = first.json()
    assert body["duplicate"] is False and again.json() == {**body, "duplicate": True}
    assert "delivery" in body["themes"] and body["urgent"] is True
    item = Item.objects.get()
    assert (item.conversation.customer_id, item.rating, item.source) == (
        customer.pk,
        2,
        "yandex_maps",
    )
    assert item.text == REVIEW["text"]
    assert Event.objects.filter(type="review_received", customer=customer).count() == 1


def test_a_review_from_someone_unknown_opens_its_own_conversation(client, frozen_time):
    for n in (1, 2):
        response = client.post(
            "/reviews", {"source": "2gis", "external_id": f"g-{n}", "rating": 5, "text": "Всё ок"}
        )
        assert response.status_code == 201
    assert Conversation.objects.filter(customer=None).count() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"source": "message"},
        {"rating": 0},
        {"rating": 6},
        {"external_id": ""},
        {"url": "javascript:alert(1)"},
        {"text": "x" * 4001},
    ],
)
def test_invalid_reviews_are_422(client, change):
    response = client.post("/reviews", {**REVIEW, **change})
    assert response.status_code == 422
    assert not Item.objects.exists()


def test_the_scope_is_needed():
    reader = ApiClient(make_key([ApiScope.READ, ApiScope.EVENTS])[1])
    response = reader.post("/reviews", REVIEW)
    assert response.status_code == 403
    assert not Item.objects.exists()
