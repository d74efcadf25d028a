"""Every event the product records reads as words on the card, in Russian, with names."""

from __future__ import annotations

import pytest
from django.utils import translation

from lifelong.events.catalogue import BUILT_IN_TYPES
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory, ProductFactory
from lifelong.segments.models import Segment
from lifelong.web.timeline import STYLES, timeline_items

pytestmark = pytest.mark.django_db


def test_every_built_in_event_type_has_words():
    assert BUILT_IN_TYPES - STYLES.keys() == set()


def _item(customer, type_: str, properties: dict):
    event, _ = event_record(customer=customer, type=type_, properties=properties)
    with translation.override("ru"):
        [item] = timeline_items([event], gender=customer.gender)
        return item.label, [(str(k), v) for k, v in item.details]


def test_codes_read_as_names():
    woman = CustomerFactory(gender="f")
    segment = Segment.objects.create(name="Любители аюрведы", rules={"op": "and", "rules": []})
    ProductFactory(sku="PRANA-AYU-NETI", name="Нети-пот керамический")

    assert _item(woman, "stage_changed", {"from": "new", "to": "at_risk"}) == (
        "Сменился этап",
        [("Этап", "Новый → Под угрозой")],
    )
    assert _item(woman, "segment_entered", {"segment_id": str(segment.pk)}) == (
        "Вошла в сегмент",
        [("Сегмент", "Любители аюрведы")],
    )
    label, details = _item(woman, "cart_updated", {"skus": ["PRANA-AYU-NETI"]})
    assert label == "Изменила корзину"
    assert details == [("Товары", "Нети-пот керамический")]
    label, details = _item(
        woman, "customer_updated", {"changes": {"first_name": "А", "phone": "+7"}}
    )
    assert "first_name" not in str(details) and "имя" in str(details).lower()


def test_the_card_reads_names_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    customer = CustomerFactory()
    segments = [
        Segment.objects.create(name=f"S{n}", rules={"op": "and", "rules": []}) for n in range(5)
    ]
    events = [
        event_record(customer=customer, type="segment_entered", properties={"segment_id": s.pk})[0]
        for s in segments
    ]
    events += [
        event_record(customer=customer, type="product_viewed", properties={"sku": f"SKU{n}"})[0]
        for n in range(5)
    ]
    with django_assert_max_num_queries(2):
        items = timeline_items(events, gender="")
    assert [d[0][1] for d in (i.details for i in items[:5])] == [s.name for s in segments]
