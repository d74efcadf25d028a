"""The Community page: clubs and their members, joins and leaves by month, and the lift
panel, whose verdict never speaks before the data can carry it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong import clock
from lifelong.community.lift_query import week_start
from lifelong.community.models import Club, ClubKind, ClubMember, EntryRule, MemberStatus
from lifelong.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
URL = reverse("web:community")


def _club(n: int = 1) -> Club:
    return Club.objects.create(
        title=f"Клуб {n}", kind=ClubKind.TELEGRAM_GROUP, chat_id=f"-100{n}", entry=EntryRule.STAFF
    )


def _customer(anchor: dt.datetime, *, bought_after: int | None = None):
    customer = CustomerFactory.create()
    for days in (400, 100):
        OrderFactory.create(customer=customer, placed_at=anchor - days * DAY, total=Decimal(1000))
    if bought_after is not None:
        OrderFactory.create(
            customer=customer, placed_at=anchor + bought_after * DAY, total=Decimal(1500)
        )
    return customer


def _shop(club: Club, *, members: int, others: int, others_buying: int, joined_days_ago=150):
    """Members who all buy again 20 days after joining, and look-alike non-members of whom
    `others_buying` buy again."""
    now = clock.now()
    anchor = week_start(now - joined_days_ago * DAY)
    for _ in range(members):
        customer = _customer(anchor, bought_after=21)
        ClubMember.objects.create(
            club=club,
            customer=customer,
            status=MemberStatus.JOINED,
            joined_at=anchor + DAY,
        )
    for n in range(others):
        _customer(anchor, bought_after=10 if n < others_buying else None)


def test_the_page_lists_clubs_with_their_members_and_charts_the_months(frozen_time, owner_client):
    club = _club()
    now = clock.now()
    for days, status in (
        (5, MemberStatus.JOINED),
        (40, MemberStatus.JOINED),
        (3, MemberStatus.LEFT),
    ):
        ClubMember.objects.create(
            club=club,
            customer=CustomerFactory.create(),
            status=status,
            joined_at=now - days * DAY,
            left_at=now - DAY if status == MemberStatus.LEFT else None,
        )

    response = owner_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Клуб 1" in page
    assert response.context["clubs"][0][0].in_club == 2
    chart = json.loads(
        page.split('id="community-flow" type="application/json">')[1].split("</script>")[0]
    )
    assert len(chart["labels"]) == 12 and chart["partial"] == 11
    # Now is 2 March 2026: 5 and 3 days ago were in February, 40 days ago in January, and
    # the member who left did so yesterday, this month.
    assert chart["joins"][-3:] == [1, 2, 0]
    assert chart["leaves"][-3:] == [0, 0, 1]


def test_a_young_club_shows_its_members_in_progress_and_no_verdict(frozen_time, owner_client):
    _shop(_club(), members=40, others=80, others_buying=20, joined_days_ago=30)

    response = owner_client.get(URL)

    assert response.context["verdict_kind"] == "no_data"
    assert response.context["counts"]["in_progress"] == "40"
    assert 'class="num good"' not in response.content.decode()


def test_a_small_base_gets_its_figures_but_no_verdict(frozen_time, owner_client):
    _shop(_club(), members=5, others=80, others_buying=20)

    response = owner_client.get(URL)

    assert response.context["verdict_kind"] == "too_few"
    assert response.context["lift"].repeat.members == 1.0
    page = response.content.decode()
    assert 'class="num good"' not in page and 'class="num bad"' not in page


def test_members_who_buy_more_than_their_look_alikes_read_as_better(frozen_time, owner_client):
    _shop(_club(), members=40, others=80, others_buying=20)

    response = owner_client.get(URL)

    lift = response.context["lift"]
    assert (lift.members, lift.controls) == (40, 80)
    assert lift.repeat.controls == pytest.approx(0.25)
    assert response.context["verdict_kind"] == "better"
    assert "75" in response.context["verdict"]  # 100 % against 25 %: 75 points
    assert 'class="num good"' in response.content.decode()


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_for_one_club_or_many(frozen_time, owner_client):
    _shop(_club(1), members=2, others=3, others_buying=1)
    owner_client.get(URL)  # the lifecycle rules' row is created on first use
    few = _queries(owner_client)
    for n in range(2, 5):
        _shop(_club(n), members=3, others=2, others_buying=1, joined_days_ago=150 + 7 * n)
    assert _queries(owner_client) == few


def test_support_staff_see_the_page_too(frozen_time, support_client):
    assert support_client.get(URL).status_code == 200


def test_links_lead_to_the_clubs_and_to_the_active_members_for_those_who_may_see_them(
    frozen_time, owner_client, support_client
):
    club = _club()
    owner_page = owner_client.get(URL).content.decode()
    support_page = support_client.get(URL).content.decode()
    assert reverse("web:club", args=[club.pk]) in support_page
    assert reverse("web:community_activity") in owner_page
    assert reverse("web:community_activity") not in support_page
