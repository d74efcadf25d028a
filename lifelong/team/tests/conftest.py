"""Builders for the team tests: staff, managed customers and the things they did, at set times."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from lifelong.accounts.models import Role, User
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, TaskFactory, UserFactory
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Conversation, Item, ItemSource, Reply
from lifelong.followups.models import Task, TaskStatus

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))  # holds the frozen day (conftest.FROZEN_AT)
_keys = itertools.count()


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def task(
    user: User,
    *,
    due: dt.datetime,
    done: dt.datetime | None = None,
    status: str | None = None,
    customer: Customer | None = None,
    created: dt.datetime | None = None,
) -> Task:
    return TaskFactory.create(
        assignee=user,
        customer=customer or CustomerFactory.create(),
        due_at=due,
        created_at=created or due - dt.timedelta(days=3),
        completed_at=done,
        status=status or (TaskStatus.DONE if done else TaskStatus.OPEN),
    )


def first_reply(user: User, *, opened: dt.datetime, replied: dt.datetime) -> Reply:
    conversation = Conversation.objects.create(
        customer=CustomerFactory.create(), opened_at=opened, last_activity_at=opened
    )
    return Reply.objects.create(
        conversation=conversation,
        author=user,
        signer=user.first_name,
        text="Здравствуйте!",
        channel="telegram",
        dedupe_key=f"r:{next(_keys)}",
        created_at=replied,
    )


def said(text: str, *, when: dt.datetime, customer: Customer | None = None) -> Item:
    """A customer's message recorded through the inbox (the tagger names the staff)."""
    item, _created = item_record(
        source=ItemSource.MESSAGE,
        source_key=f"said:{next(_keys)}",
        customer=customer or CustomerFactory.create(),
        text=text,
        channel="telegram",
        received_at=when,
    )
    return item


@pytest.fixture
def olga(db) -> User:
    return UserFactory.create(
        username="olga", first_name="Ольга", last_name="Кузнецова", role=Role.SUPPORT
    )


@pytest.fixture
def ivan(db) -> User:
    return UserFactory.create(
        username="ivan", first_name="Иван", last_name="Смирнов", role=Role.SUPPORT
    )
