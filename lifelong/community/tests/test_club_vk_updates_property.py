"""Replayed VK Callback API events change nothing, whatever the order: a random stream of joins,
leaves, removals by a conversation admin and messages applied once ends in the same members,
counters and events as the same stream with any events delivered again (VK repeats an event
until it gets "ok")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.community.models import Club, ClubActivity, ClubKind, ClubMember, ClubUpdate
from lifelong.community.tests.test_clubs_vk import ADMIN, PEER, chat_event
from lifelong.community.vk_updates import vk_event_receive
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory

USERS = (612444319, 612444320, 55501)  # two customers' VK ids, one nobody we know
KINDS = ("join", "added", "leave", "kick", "post", "reply")

streams = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, len(USERS) - 1)), min_size=1, max_size=25
)


def _event(n: int, kind: str, user: int) -> dict[str, Any]:
    event_id = f"{n:08x}c0ffee"
    if kind == "join":
        action = {"type": "chat_invite_user_by_link", "member_id": 0}
        return chat_event(event_id, from_id=user, cmid=n, action=action)
    if kind in ("added", "kick"):
        action = {"type": "chat_invite_user" if kind == "added" else "chat_kick_user"}
        return chat_event(event_id, from_id=ADMIN, cmid=n, action={**action, "member_id": user})
    if kind == "leave":
        action = {"type": "chat_kick_user", "member_id": user}
        return chat_event(event_id, from_id=user, cmid=n, action=action)
    return chat_event(
        event_id, from_id=user, cmid=n, text="Привет", reply_to=n - 1 if kind == "reply" else 0
    )


def _state() -> dict[str, Any]:
    return {
        "members": sorted(
            ClubMember.objects.values_list(
                "user_id", "customer_id", "status", "joined_at", "left_at", "removed_at", "reason"
            )
        ),
        "activity": sorted(
            ClubActivity.objects.values_list(
                "member__user_id", "day", "messages", "replies", "last_at"
            )
        ),
        "events": sorted(
            (e.type, e.customer_id, e.idempotency_key, tuple(sorted(e.properties.items())))
            for e in Event.objects.filter(type__startswith="community_")
        ),
        "updates": ClubUpdate.objects.count(),
    }


def _run(events: list[dict[str, Any]], order: list[int]) -> dict[str, Any]:
    ClubMember.objects.all().delete()
    ClubUpdate.objects.all().delete()
    Event.objects.filter(type__startswith="community_").delete()
    for index in order:
        assert vk_event_receive(event=events[index]) is True
    return _state()


@pytest.mark.django_db
@settings(
    max_examples=30,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=streams, replays=st.lists(st.integers(0, 10_000), max_size=15), data=st.data())
def test_replays_in_any_order_change_nothing(stream, replays, data):
    if not Club.objects.exists():
        Club.objects.create(title="Беседа", kind=ClubKind.VK_CHAT, chat_id=str(PEER), entry="open")
        for user in USERS[:2]:
            CustomerFactory.create(vk_id=str(user))
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC), tick=False):
        events = [_event(n, kind, USERS[who]) for n, (kind, who) in enumerate(stream)]
    once = list(range(len(events)))
    shuffled = data.draw(st.permutations(once))
    # Every replay goes somewhere after the event it repeats.
    with_replays = list(shuffled)
    for r in replays:
        original = shuffled[r % len(shuffled)]
        after = with_replays.index(original) + 1
        with_replays.insert(after + r % (len(with_replays) - after + 1), original)

    expected = _run(events, shuffled)
    assert _run(events, with_replays) == expected

    posts = [e["object"]["message"] for e in events if "action" not in e["object"]["message"]]
    rows = ClubActivity.objects.all()
    assert sum(r.messages for r in rows) == len(posts)
    assert sum(r.replies for r in rows) == sum("reply_message" in m for m in posts)
    assert expected["updates"] == len(events)
