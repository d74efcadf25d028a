"""bulk_insert stores what bulk_create stores and fails as it fails, on either backend
(COPY on PostgreSQL from COPY_FROM rows up, Django's INSERT below that and on SQLite); in_values
finds what an IN list finds; unsaved builds what the model's keyword constructor builds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from lifelong.factories import CustomerFactory
from lifelong.lib.bulk import COPY_FROM, bulk_insert, unsaved
from lifelong.lib.pg_array import in_values
from lifelong.messaging.models import Message, Template

pytestmark = pytest.mark.django_db

FIELDS = (
    "customer_id",
    "dedupe_key",
    "channel",
    "purpose",
    "subject",
    "body_text",
    "payload",
    "next_attempt_at",
    "expires_at",
    "enrollment_id",
)


def _messages(prefix: str, count: int, customer_id: int) -> list[Message]:
    due = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    return [
        Message(
            customer_id=customer_id if i % 3 else None,
            dedupe_key=f"{prefix}:{i}",
            channel="email",
            purpose="marketing",
            subject=f"Тема «{i}»\tс табуляцией",
            body_text="строка\nещё строка\\ и обратная косая черта",
            payload={"from_name": "Ольга", "n": i, "nested": [None, True]} if i % 2 else {},
            next_attempt_at=due + dt.timedelta(seconds=i),
            expires_at=due if i % 4 else None,
            enrollment_id=i if i % 5 else None,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [3, COPY_FROM + 20])
def test_the_rows_are_those_bulk_create_stores(count):
    customer = CustomerFactory.create()
    ours = _messages("ours", count, customer.pk)
    bulk_insert(ours)
    Message.objects.bulk_create(_messages("django", count, customer.pk))
    assert all(m.pk and not m._state.adding for m in ours)
    stored = {m.pk: m for m in Message.objects.filter(dedupe_key__startswith="ours:")}
    assert sorted(stored) == sorted(m.pk for m in ours)
    for mine, theirs in zip(
        Message.objects.filter(dedupe_key__startswith="ours:").order_by("pk"),
        Message.objects.filter(dedupe_key__startswith="django:").order_by("pk"),
        strict=True,
    ):
        assert mine.dedupe_key.split(":")[1] == theirs.dedupe_key.split(":")[1]
        for name in FIELDS[2:]:
            assert getattr(mine, name) == getattr(theirs, name), name
        assert mine.customer_id == theirs.customer_id


@pytest.mark.parametrize("count", [3, COPY_FROM + 20])
def test_a_key_already_taken_raises_django_s_integrity_error_and_stores_nothing(count):
    customer = CustomerFactory.create()
    Message.objects.bulk_create(_messages("taken", 1, customer.pk))
    batch = _messages("fresh", count - 1, customer.pk) + _messages("taken", 1, customer.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(batch)
    assert not Message.objects.filter(dedupe_key__startswith="fresh:").exists()
    assert Message.objects.filter(dedupe_key="taken:0").count() == 1


@pytest.mark.parametrize("size", [0, 1, 500])
def test_in_values_finds_what_an_in_list_finds(size):
    customer = CustomerFactory.create()
    Message.objects.bulk_create(_messages("k", 40, customer.pk))
    keys = [f"k:{i}" for i in range(0, 80, 2)][:size] + [f"missing:{i}" for i in range(size)]
    ids = [*Message.objects.values_list("pk", flat=True)[: size // 3], -1]
    by_key = Message.objects.filter(in_values("dedupe_key", keys, sql_type="text"))
    assert set(by_key) == set(Message.objects.filter(dedupe_key__in=keys))
    by_id = Message.objects.filter(in_values("pk", ids))
    assert set(by_id) == set(Message.objects.filter(pk__in=ids))


def test_unsaved_builds_what_the_keyword_constructor_builds():
    customer = CustomerFactory.create()
    template = Template(pk=7, slug="welcome")
    given = {
        "dedupe_key": "k:1",
        "channel": "email",
        "subject": "Тема",
        "payload": {"n": 1},
        "next_attempt_at": dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC),
        "enrollment_id": 5,
        "created_at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),  # its default is the clock
    }
    ours = unsaved(Message, customer=customer, template=template, **given)
    theirs = Message(customer=customer, template=template, **given)
    for field in Message._meta.concrete_fields:
        assert getattr(ours, field.attname) == getattr(theirs, field.attname), field.name
    # The related objects are the ones given, not read again; the defaults are fresh copies.
    assert ours.customer is customer and ours.template is template
    assert ours._state.adding and ours.pk is None
    assert unsaved(Message, customer_id=customer.pk, template=None).customer_id == customer.pk
    assert unsaved(Message).payload is not unsaved(Message).payload


def test_unsaved_refuses_a_field_the_model_does_not_have():
    with pytest.raises(TypeError, match="has no field colour, size"):
        unsaved(Message, dedupe_key="k", size=1, colour="red")
