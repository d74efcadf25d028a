"""The demo's club: «Прана»'s Гуру in a Telegram group, joined through their invite links,
active on their days, one taken out after their tier went down with the club's message in
the outbox; rebuilt identically, and shown on the Community page."""

from __future__ import annotations

import pytest

from lifelong.community.models import (
    Club,
    ClubActivity,
    ClubMember,
    ClubText,
    MemberStatus,
    RemovalReason,
)
from lifelong.demo.community import REMOVAL_TEXT, TOP_TIER
from lifelong.demo.generator import demo_build
from lifelong.events.models import Event
from lifelong.loyalty.models import CustomerTier
from lifelong.messaging.models import Message
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db
CUSTOMERS = 300


def _members() -> list[tuple[object, ...]]:
    return list(
        ClubMember.objects.order_by("customer__external_id").values_list(
            "customer__external_id", "joined_at", "status"
        )
    )


def test_the_demo_club_is_built_through_the_clubs_own_paths_and_rebuilt_the_same(
    frozen_time, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo_build(customers=CUSTOMERS, seed=21)

    club = Club.objects.get()
    assert club.tier.slug == TOP_TIER and club.bot_status == "administrator"
    members = ClubMember.objects.select_related("customer", "invite")
    joined = [m for m in members if m.status == MemberStatus.JOINED]
    assert joined
    for member in members:
        # Matched by the invite link the join update named, used when they came in.
        assert member.customer is not None and member.invite is not None
        assert member.invite.used_at == member.joined_at
    holders = set(CustomerTier.objects.filter(tier=club.tier).values_list("customer", flat=True))
    assert {m.customer_id for m in joined} <= holders
    assert Event.objects.filter(type="community_joined").count() == len(members)

    removed = members.get(status=MemberStatus.REMOVED)
    assert removed.reason == RemovalReason.TIER and removed.removed_at > removed.joined_at
    assert removed.customer_id not in holders
    went_down = Event.objects.filter(
        customer=removed.customer, type="tier_changed", properties__direction="down"
    ).latest("occurred_at")
    assert removed.removed_at.date() > went_down.occurred_at.date()
    message = Message.objects.get(customer=removed.customer, dedupe_key__startswith="club-removed")
    assert message.body_text == REMOVAL_TEXT

    assert ClubActivity.objects.filter(club=club, messages__gt=0).exists()
    assert not ClubText.objects.exists()  # the club keeps counts, never texts

    page = logged_in(staff("owner")).get("/community/")
    assert page.status_code == 200
    lift = page.context["lift"]
    assert lift.members + lift.unmatched + lift.in_progress + lift.no_history == len(members)

    before = _members()
    demo_build(customers=CUSTOMERS, seed=21)
    assert _members() == before
    assert Club.objects.count() == 1
