"""Active weeks (one event per member and ISO week past the club's threshold, idempotent), the
month's most active lists, and the one-click rewards (once per customer, month and kind)."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong import clock
from lifelong.community.activity import (
    EVENT_TYPE,
    community_active_week_record,
    month_start,
    most_active,
)
from lifelong.community.models import (
    Club,
    ClubActivity,
    ClubActivityRule,
    ClubMember,
    ClubReward,
    EntryRule,
    MemberStatus,
    RewardKind,
    RewardSettings,
)
from lifelong.community.rewards import RewardError, reward_give
from lifelong.customers.models import Channel
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.loyalty.models import Transaction
from lifelong.loyalty.tests.helpers import assert_consistent, balances, programme_start
from lifelong.messaging.models import ChannelConfig, Message, Template

pytestmark = pytest.mark.django_db


def club(title: str = "Клуб «Праны»", chat_id: str = "-1001234567890") -> Club:
    return Club.objects.create(title=title, chat_id=chat_id, entry=EntryRule.STAFF)


def member(club_: Club, customer=None, name: str = "", user_id: int = 1) -> ClubMember:
    return ClubMember.objects.create(
        club=club_, customer=customer, name=name, user_id=user_id, status=MemberStatus.JOINED
    )


def active(member_: ClubMember, day: dt.date, messages: int, replies: int = 0, reactions: int = 0):
    ClubActivity.objects.create(
        club=member_.club,
        member=member_,
        day=day,
        messages=messages,
        replies=replies,
        reactions=reactions,
        last_at=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
    )


def test_an_active_week_is_recorded_once_per_member_and_week_past_the_clubs_threshold(
    frozen_time,
):
    prana = club()
    anna, boris, vera = CustomerFactory.create_batch(3)
    a, b = member(prana, anna, user_id=1), member(prana, boris, user_id=2)
    stranger = member(prana, None, name="Гость", user_id=3)
    today = clock.now().date()
    monday = today - dt.timedelta(days=today.weekday())
    active(a, monday, 2)
    active(a, monday + dt.timedelta(days=1), 1)  # 3 in the week: active
    active(b, monday, 2)  # 2: not active
    active(stranger, monday, 9)  # not a customer: nobody to record it for

    assert community_active_week_record() == 1
    assert community_active_week_record() == 0  # a second run records nothing
    [event] = Event.objects.filter(type=EVENT_TYPE)
    assert event.customer_id == anna.pk
    year, week, _ = monday.isocalendar()
    assert event.properties == {"club_id": prana.pk, "week": f"{year}-W{week:02d}", "messages": 3}

    # The club lowers its threshold: Boris's week counts now, Anna's is not recorded again.
    ClubActivityRule.objects.create(club=prana, week_messages=2)
    assert community_active_week_record() == 1
    assert set(Event.objects.filter(type=EVENT_TYPE).values_list("customer_id", flat=True)) == {
        anna.pk,
        boris.pk,
    }
    # Next Monday the last week is still looked at, and is still recorded once.
    frozen_time.shift(dt.timedelta(days=7))
    assert community_active_week_record() == 0
    assert vera.pk not in set(Event.objects.values_list("customer_id", flat=True))


def test_the_most_active_lists_rank_by_counted_activity_per_club_and_overall(
    django_assert_max_num_queries,
):
    prana, yoga = club(), club("Йога по утрам", "-1009876543210")
    anna, boris = (
        CustomerFactory.create(first_name="Анна"),
        CustomerFactory.create(first_name="Борис"),
    )
    month = month_start()
    a1, b1 = member(prana, anna, user_id=1), member(prana, boris, user_id=2)
    guest = member(prana, None, name="Гость", user_id=3)
    a2 = member(yoga, anna, user_id=1)
    active(a1, month, 3, replies=1, reactions=1)  # 5
    active(b1, month, 6)  # 6
    active(guest, month, 1)  # 1
    active(a2, month + dt.timedelta(days=3), 2)  # Anna overall: 7
    active(b1, month - dt.timedelta(days=1), 50)  # last month: not counted

    with django_assert_max_num_queries(2):
        in_prana = most_active(month=month, club=prana)
    assert [(r.name.split()[0], r.score) for r in in_prana] == [
        ("Борис", 6),
        ("Анна", 5),
        ("Гость", 1),
    ]
    assert in_prana[2].customer_id is None
    overall = most_active(month=month)
    assert [(r.customer_id, r.score) for r in overall] == [(anna.pk, 7), (boris.pk, 6)]


def test_each_reward_is_given_once_per_customer_and_month(frozen_time):
    programme_start()
    staff = UserFactory.create()
    anna = CustomerFactory.create(telegram_chat_id="289374625", preferred_channel=Channel.TELEGRAM)
    ChannelConfig.objects.create(
        channel=Channel.TELEGRAM, transport="telegram", config={"bot_token": "1:x"}, active=True
    )
    template = Template.objects.create(
        slug="club-thanks",
        name="Спасибо за клуб",
        channel=Channel.TELEGRAM,
        messenger_text="{{ customer.first_name }}, спасибо, что вы с нами в клубе!",
    )
    settings = RewardSettings.read()
    settings.points, settings.thanks_template = 150, template
    settings.save()
    month = month_start()
    anna_in = member(club(), anna)
    active(anna_in, month, 5)

    for kind in RewardKind.values:
        assert reward_give(customer=anna, month=month, kind=kind, by=staff) is True
        assert reward_give(customer=anna, month=month, kind=kind, by=staff) is False

    assert balances(anna)[0] == 150
    assert Transaction.objects.filter(key__startswith="community_reward:").count() == 1
    assert set(anna.tags.values_list("name", flat=True)) == {"Активный участник клуба"}
    [thanks] = Message.objects.filter(customer=anna)
    assert thanks.body_text == f"{anna.first_name}, спасибо, что вы с нами в клубе!"
    assert ClubReward.objects.filter(customer=anna).count() == 3
    assert_consistent()

    # Next month is a new month.
    frozen_time.shift(dt.timedelta(days=40))
    active(anna_in, month_start(), 3)
    assert reward_give(customer=anna, month=month_start(), kind=RewardKind.POINTS, by=staff)
    assert balances(anna)[0] == 300


def test_a_thank_you_needs_a_template():
    anna = CustomerFactory.create()
    active(member(club(), anna), month_start(), 2)
    with pytest.raises(RewardError):
        reward_give(
            customer=anna, month=month_start(), kind=RewardKind.THANKS, by=UserFactory.create()
        )
    assert not ClubReward.objects.exists()


def test_only_customers_on_the_months_most_active_list_of_that_scope_are_rewarded(frozen_time):
    programme_start()
    staff = UserFactory.create()
    settings = RewardSettings.read()
    settings.points = 100
    settings.save()
    month = month_start()
    prana, yoga = club(), club("Йога по утрам", "-1009876543210")
    anna, boris, vera = (CustomerFactory.create() for _ in range(3))
    active(member(prana, anna, user_id=1), month, 9)
    active(member(yoga, boris, user_id=2), month, 4)
    # Vera is in the club but said nothing this month; last month she was the most active.
    vera_in = member(prana, vera, user_id=3)
    active(vera_in, (month - dt.timedelta(days=1)).replace(day=1), 50)

    def refused(customer, **scope) -> bool:
        """True when refused for the customer (not for anything else)."""
        try:
            reward_give(customer=customer, month=month, kind=RewardKind.POINTS, by=staff, **scope)
        except RewardError as exc:
            return exc.field == "customer"
        return False

    assert refused(vera)  # not on this month's list, in any scope
    assert refused(vera, club=prana)
    assert refused(boris, club=prana)  # on the overall list and his own club's, not this one
    assert not refused(boris, club=yoga)
    assert not refused(anna)
    assert sorted(ClubReward.objects.values_list("customer_id", flat=True)) == sorted(
        [anna.pk, boris.pk]
    )
    assert balances(vera)[0] == 0
