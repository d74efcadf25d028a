"""Club membership at its edges, through the bot's webhook and the real sweeps: a late message
does not undo a removal, a spent single-use link is replaced, a customer staff invited is not
swept out for failing the rule, a tier lowered by the tier sweep after the programme's grace
period takes the member out, and a thousand messages through the webhook earn capped points."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong import clock
from lifelong.community.models import (
    ClubActivity,
    ClubInvite,
    ClubMember,
    InviteSource,
    MemberStatus,
)
from lifelong.community.services import (
    club_invite_link,
    club_invite_prepare,
    club_member_remove,
    club_members_sweep,
)
from lifelong.community.tests.clubs_setup import (
    CHAT,
    LINK,
    TOKEN,
    days,
    deliver,
    joined,
    left,
    link_created,
    posted,
)
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.jobs.sweeps import sweep_by_name, sweep_run
from lifelong.loyalty.models import EarningRule, Programme, RuleKind, Transaction, TxKind
from lifelong.loyalty.tests.helpers import assert_consistent, balances, programme_start
from lifelong.loyalty.tiers import tier_current, tiers_refresh

ANNA = 289374625


@pytest.fixture
def anna(ladder):
    """A customer with her Telegram chat linked and no tier above the entry level."""
    return CustomerFactory.create(telegram_chat_id=str(ANNA))


def test_a_message_delivered_after_a_removal_does_not_bring_the_member_back(
    frozen_time, bot, club, anna, client
):
    deliver(client, joined(9001, ANNA, link=None))
    earlier = posted(9003, ANNA, message_id=31)  # written now, delivered late
    frozen_time.shift(dt.timedelta(minutes=5))
    member = ClubMember.objects.get()
    club_member_remove(member=member, reason="staff")

    assert deliver(client, earlier) == 200
    member.refresh_from_db()
    assert (member.status, member.reason) == (MemberStatus.REMOVED, "staff")
    assert ClubActivity.objects.get().messages == 1  # counted, as written while in the club


def test_writing_after_leaving_is_being_back_from_that_message(frozen_time, bot, club, client):
    deliver(client, joined(9101, ANNA, link=None))
    frozen_time.shift(dt.timedelta(hours=1))
    deliver(client, left(9102, ANNA))
    frozen_time.shift(dt.timedelta(hours=1))
    deliver(client, posted(9103, ANNA, message_id=40))  # the join update never came

    member = ClubMember.objects.get()
    assert (member.status, member.joined_at, member.left_at) == (
        MemberStatus.JOINED,
        clock.now(),
        None,
    )


def test_an_invited_member_first_seen_writing_gets_a_join_date(
    frozen_time, bot, api, club, anna, ladder, client
):
    staff = UserFactory.create()
    club_invite_prepare(club=club, customer=anna, source=InviteSource.STAFF, invited_by=staff)
    deliver(client, posted(9201, ANNA, message_id=41))
    member = ClubMember.objects.get()
    assert (member.status, member.joined_at) == (MemberStatus.JOINED, clock.now())

    # Someone we never saw join (the bot was made an admin after) is in from their message.
    deliver(client, posted(9202, 55501, message_id=42))
    stranger = ClubMember.objects.get(user_id=55501)
    assert (stranger.status, stranger.joined_at) == (MemberStatus.JOINED, clock.now())


def test_a_used_link_is_replaced_when_the_customer_comes_back(
    frozen_time, bot, api, club, anna, client
):
    staff = UserFactory.create()
    invite = club_invite_prepare(
        club=club, customer=anna, source=InviteSource.STAFF, invited_by=staff
    )
    api.reply(body=link_created())
    assert club_invite_link(invite=invite) == LINK
    deliver(client, joined(9301, ANNA))
    deliver(client, left(9302, ANNA))
    invite.refresh_from_db()
    assert invite.used_at is not None

    second = "https://t.me/+Zx9club_invite_BBBB"
    api.reply(body=link_created(second))
    assert club_invite_link(invite=invite) == second
    invite.refresh_from_db()
    assert (invite.link, invite.used_at) == (second, None)
    revoked = api.at(f"/bot{TOKEN}/revokeChatInviteLink")
    assert [r.json() for r in revoked] == [{"chat_id": str(CHAT), "invite_link": LINK}]


def test_a_customer_staff_invited_is_not_swept_out_for_failing_the_rule(
    frozen_time, bot, api, club, anna, client
):
    staff = UserFactory.create()
    invite = club_invite_prepare(
        club=club, customer=anna, source=InviteSource.STAFF, invited_by=staff
    )
    assert tier_current(customer_id=anna.pk).slug == "novichok"  # below the club's tier
    api.reply(body=link_created())
    club_invite_link(invite=invite)
    deliver(client, joined(9401, ANNA))

    club_members_sweep()
    frozen_time.shift(days(30))
    assert club_members_sweep() == 0
    member = ClubMember.objects.get()
    assert (member.status, member.lapsed_at) == (MemberStatus.JOINED, None)
    assert not api.at(f"/bot{TOKEN}/banChatMember")


def test_the_tier_sweep_lowering_the_tier_after_the_grace_period_takes_the_member_out(
    frozen_time, bot, api, club, anna, client
):
    Programme.objects.filter(pk=1).update(tier_window_months=1, tier_grace_days=10)
    OrderFactory.create(customer=anna, total=Decimal("60000.00"))
    tiers_refresh(customer_ids=[anna.pk])
    assert tier_current(customer_id=anna.pk).slug == "guru"
    deliver(client, joined(9501, ANNA, link=None))
    tiers = sweep_by_name("loyalty.tiers_review")

    # The order has left the one-month window, but the programme's grace holds the tier.
    frozen_time.shift(days(35))
    sweep_run(tiers)
    assert tier_current(customer_id=anna.pk).slug == "guru"
    assert club_members_sweep() == 0
    assert ClubMember.objects.get().lapsed_at is None

    # Past the review date (a month and ten days): the tier sweep lowers the tier...
    frozen_time.shift(days(7))
    sweep_run(tiers)
    assert tier_current(customer_id=anna.pk).slug == "novichok"
    assert club_members_sweep() == 0  # ...the club marks the lapse...
    frozen_time.shift(days(14))
    assert club_members_sweep() == 1  # ...and takes her out after its own grace.
    assert [c.json()["user_id"] for c in api.at(f"/bot{TOKEN}/banChatMember")] == [ANNA]
    member = ClubMember.objects.get()
    assert (member.status, member.reason) == (MemberStatus.REMOVED, "tier")


def test_a_thousand_messages_through_the_webhook_earn_capped_points(
    frozen_time, bot, club, anna, client
):
    programme_start()
    rule = EarningRule.objects.create(
        kind=RuleKind.EVENT,
        name="Активность в клубе",
        event_type="community_post",
        points=5,
        status_points=2,
        cap_count=3,
        cap_days=1,
        cooldown_minutes=30,
    )
    deliver(client, joined(10_000, ANNA, link=None))
    for n in range(1000):
        if n % 17 == 0:
            frozen_time.shift(dt.timedelta(seconds=1))  # a thousand in about a minute
        assert deliver(client, posted(10_001 + n, ANNA, message_id=5000 + n)) == 200

    assert ClubActivity.objects.get().messages == 1000
    assert sweep_run(sweep_by_name("loyalty.earn"))
    assert Transaction.objects.filter(rule=rule, kind=TxKind.AWARD).count() == 1
    assert balances(anna) == (5, 0, 2)
    assert_consistent()
    assert ClubInvite.objects.count() == 0
