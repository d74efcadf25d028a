"""The "most active this month" page in a real browser (Debian's Chromium): the marketer gives
points to the top member with one click; a second click (a stale page) gives nothing more.
Also the posts page: a weekly post is scheduled through the form."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.community.activity import month_start
from lifelong.community.models import (
    Club,
    ClubActivity,
    ClubActivityRule,
    ClubMember,
    ClubPost,
    ClubReward,
    EarlyAccess,
    EntryRule,
    MemberStatus,
    RewardSettings,
)
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import Account, Tier, Transaction
from lifelong.loyalty.tests.helpers import programme_start
from lifelong.messaging.models import Template
from lifelong.web.tests.conftest import staff

pytestmark = pytest.mark.browser


def _club_with_activity():
    club = Club.objects.create(title="Клуб «Праны»", chat_id="-100555", entry=EntryRule.STAFF)
    anna = CustomerFactory.create(first_name="Анна", last_name="Лебедева")
    member = ClubMember.objects.create(
        club=club, customer=anna, user_id=7, status=MemberStatus.JOINED
    )
    ClubActivity.objects.create(
        club=club,
        member=member,
        day=month_start(),
        messages=12,
        replies=4,
        reactions=3,
        last_at=clock.now(),
    )
    return club, anna


def test_one_click_points_are_given_once(staff_page, live_server):
    programme_start()
    settings = RewardSettings.read()
    settings.points = 120
    settings.save()
    club, anna = _club_with_activity()
    page = staff_page(staff(Role.MARKETER), language="en", locale="en-GB")

    page.goto(f"{live_server.url}/community/activity/?club={club.pk}")
    row = page.locator("#most-active tbody tr").first
    expect(row).to_contain_text("Анна Лебедева")
    expect(row).to_contain_text("19")  # 12 messages + 4 replies + 3 reactions

    # The same page open twice (a double click from a stale tab).
    second = page.context.new_page()
    second.goto(page.url)
    row.locator("button[data-reward=points]").click()
    expect(page.locator("body")).to_contain_text("Points given to")
    expect(page.locator("#most-active [data-reward=points]").first).to_contain_text("✓")
    second.locator("#most-active button[data-reward=points]").click()
    expect(second.locator("body")).to_contain_text("already has this month's reward")

    assert ClubReward.objects.filter(customer=anna).count() == 1
    assert Transaction.objects.filter(key__startswith="community_reward:").count() == 1
    assert Account.objects.get(customer=anna).available == 120


def test_a_weekly_post_is_scheduled_from_the_form(staff_page, live_server):
    club, _anna = _club_with_activity()
    Template.objects.create(
        slug="tip", name="Совет недели", channel="telegram", short_text="Совет для {{ club.name }}"
    )
    page = staff_page(staff(Role.OWNER), language="en", locale="en-GB")
    page.goto(f"{live_server.url}/community/posts/")
    form = page.locator("#post-form")
    form.locator("select[name=club]").select_option(str(club.pk))
    form.locator("select[name=template]").select_option(label="Совет недели")
    form.locator("select[name=schedule]").select_option("weekly")
    form.locator("select[name=weekday]").select_option("4")
    form.locator("input[name=time]").fill("10:30")
    form.locator("button[type=submit]").click()
    expect(page.locator("#club-posts")).to_contain_text("Совет недели")

    post = ClubPost.objects.get()
    assert (post.weekday, post.time, post.active) == (4, dt.time(10, 30), True)
    assert post.next_run_at is not None and post.next_run_at > clock.now()


def test_the_reward_settings_and_the_active_week_threshold_are_saved(staff_page, live_server):
    club, _anna = _club_with_activity()
    page = staff_page(staff(Role.OWNER))
    page.goto(f"{live_server.url}/community/activity/?club={club.pk}")
    settings_form = page.locator("#reward-settings")
    settings_form.locator("input[name=points]").fill("75")
    settings_form.locator("input[name=badge]").fill("Душа клуба")
    settings_form.locator("button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Настройки наград сохранены.")
    rule_form = page.locator("#activity-rule")
    rule_form.locator("input[name=week_messages]").fill("5")
    rule_form.locator("button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Порог активной недели сохранён.")
    assert (RewardSettings.read().points, RewardSettings.read().badge) == (75, "Душа клуба")
    assert ClubActivityRule.objects.get(club=club).week_messages == 5


def test_early_access_is_set_up_for_the_top_tier(staff_page, live_server):
    Tier.objects.create(slug="novichok", name="Новичок", position=1)
    Tier.objects.create(
        slug="guru", name="Гуру", position=4, min_orders=10, privileges=["early_access"]
    )
    page = staff_page(staff(Role.MARKETER), language="en", locale="en-GB")
    page.goto(f"{live_server.url}/community/early-access/")
    form = page.locator("#early-access-form")
    form.locator("input[name=name]").fill("Осенняя коллекция")
    form.locator("input[name=collection]").fill("Осень")
    form.locator("select[name=tier]").select_option(label="Новичок")
    form.locator("input[name=starts_at]").fill("2026-10-01T10:00")
    form.locator("input[name=public_at]").fill("2026-09-01T10:00")
    form.locator("button[type=submit]").click()
    # Open to everyone before the tier: refused, nothing saved.
    expect(page.locator("body")).to_contain_text("Everyone gets it after the tier does.")
    assert not EarlyAccess.objects.exists()
    form = page.locator("#early-access-form")
    form.locator("select[name=tier]").select_option(label="Гуру")
    form.locator("input[name=public_at]").fill("2026-10-08T10:00")
    form.locator("button[type=submit]").click()
    expect(page.locator("#early-access-windows")).to_contain_text("Осенняя коллекция")
    window = EarlyAccess.objects.get()
    assert (window.collection, window.tier.slug) == ("Осень", "guru")
    assert window.public_at - window.starts_at == dt.timedelta(days=7)
