"""Replayed bot updates change nothing, whatever the order: a random stream of joins, leaves,
posts and reactions applied once ends in the same members, counters and events as the same
stream with any updates delivered again (Telegram retries until it gets a 2xx)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.community.models import ClubActivity, ClubMember, ClubUpdate
from lifelong.community.tests.clubs_setup import joined, left, posted, reacted
from lifelong.community.updates import telegram_update_receive
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory

USERS = (289374625, 289374626, 55501)  # two with linked chats, one nobody we know
KINDS = ("join", "leave", "post", "reply", "react")

streams = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, len(USERS) - 1), st.integers(1, 3)),
    min_size=1,
    max_size=25,
)


def _update(n: int, kind: str, user: int, extra: int) -> dict[str, Any]:
    update_id = 50_000 + n
    if kind == "join":
        return joined(update_id, user, link=None)
    if kind == "leave":
        return left(update_id, user)
    if kind == "react":
        return reacted(update_id, user, message_id=n, emoji=["👍", "🔥", "❤"][:extra])
    return posted(update_id, user, message_id=n, reply_to=n - 1 if kind == "reply" else 0)


def _state() -> dict[str, Any]:
    return {
        "members": sorted(
            ClubMember.objects.values_list(
                "user_id", "customer_id", "status", "joined_at", "left_at"
            )
        ),
        "activity": sorted(
            ClubActivity.objects.values_list(
                "member__user_id", "day", "messages", "replies", "reactions", "last_at"
            )
        ),
        "events": sorted(
            (e.type, e.customer_id, e.idempotency_key, tuple(sorted(e.properties.items())))
            for e in Event.objects.filter(type__startswith="community_")
        ),
        "updates": ClubUpdate.objects.count(),
    }


def _run(updates: list[dict[str, Any]], order: list[int]) -> dict[str, Any]:
    ClubMember.objects.all().delete()
    ClubUpdate.objects.all().delete()
    Event.objects.filter(type__startswith="community_").delete()
    for index in order:
        assert telegram_update_receive(update=updates[index]) is True
    return _state()


@pytest.mark.django_db
@settings(
    max_examples=30,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=streams, replays=st.lists(st.integers(0, 10_000), max_size=15), data=st.data())
def test_replays_in_any_order_change_nothing(club, stream, replays, data):
    if not CustomerFactory._meta.model.objects.filter(telegram_chat_id=str(USERS[0])).exists():
        for user in USERS[:2]:
            CustomerFactory.create(telegram_chat_id=str(user))
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC), tick=False):
        updates = [
            _update(n, kind, USERS[who], extra) for n, (kind, who, extra) in enumerate(stream)
        ]
    once = list(range(len(updates)))
    shuffled = data.draw(st.permutations(once))
    # Every replay goes somewhere after the update it repeats.
    with_replays = list(shuffled)
    for r in replays:
        original = shuffled[r % len(shuffled)]
        after = with_replays.index(original) + 1
        with_replays.insert(after + r % (len(with_replays) - after + 1), original)

    expected = _run(updates, shuffled)
    assert _run(updates, with_replays) == expected

    posts = [u for u in updates if "message" in u]
    rows = ClubActivity.objects.all()
    assert sum(r.messages for r in rows) == len(posts)
    assert sum(r.replies for r in rows) == sum("reply_to_message" in u["message"] for u in posts)
    assert expected["updates"] == len(updates)
