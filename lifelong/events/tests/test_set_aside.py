"""One event a reactor cannot process is set aside with its error; nothing of it remains."""

from __future__ import annotations

import pytest

from lifelong.customers.models import Tag
from lifelong.events.models import Event, SetAsideEvent
from lifelong.events.set_aside import event_alone
from lifelong.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _event() -> Event:
    return Event.objects.create(customer=CustomerFactory.create(), type="x")


def test_a_failing_event_is_set_aside_and_its_writes_roll_back():
    event = _event()

    def work() -> None:
        Tag.objects.create(name="half-written")
        raise TypeError("'int' object is not iterable")

    assert event_alone(reactor="r", event_id=event.pk, work=work) is False
    assert not Tag.objects.filter(name="half-written").exists()
    aside = SetAsideEvent.objects.get()
    assert (aside.reactor, aside.event_id) == ("r", event.pk)
    assert aside.error == "TypeError: 'int' object is not iterable"


def test_the_same_event_fails_again_under_one_row_and_leaves_when_it_goes_through():
    event = _event()

    def fail() -> None:
        raise KeyError("order_id")

    event_alone(reactor="r", event_id=event.pk, work=fail)
    event_alone(reactor="r", event_id=event.pk, work=fail)
    event_alone(reactor="other", event_id=event.pk, work=fail)
    assert SetAsideEvent.objects.filter(event=event).count() == 2
    assert event_alone(reactor="r", event_id=event.pk, work=lambda: None) is True
    assert list(SetAsideEvent.objects.values_list("reactor", flat=True)) == ["other"]
