"""The community's edit pages in a real browser (Debian's Chromium): the owner changes a club
and turns off keeping message texts (the kept texts go, the counts stay), reschedules a club
post, and moves an early-access window; each time the database and the page agree."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.community.models import (
    Club,
    ClubActivity,
    ClubKind,
    ClubMember,
    ClubPost,
    ClubText,
    EarlyAccess,
    EntryRule,
    MemberStatus,
    PostSchedule,
)
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import Tier
from lifelong.messaging.models import Template
from lifelong.web.tests.conftest import staff

pytestmark = pytest.mark.browser


@pytest.fixture
def owner_page(staff_page) -> Page:
    return staff_page(staff(Role.OWNER))


def _club(**values) -> Club:
    return Club.objects.create(
        title="Клуб «Праны»",
        kind=ClubKind.TELEGRAM_GROUP,
        chat_id="-1001987654321",
        entry=EntryRule.STAFF,
        **values,
    )


def test_the_owner_edits_a_club_and_turns_off_kept_texts(owner_page, live_server):
    club = _club(keep_texts=True, grace_days=14)
    anna = CustomerFactory.create(first_name="Анна", last_name="Лебедева")
    member = ClubMember.objects.create(
        club=club, customer=anna, user_id=7, status=MemberStatus.JOINED, joined_at=clock.now()
    )
    ClubText.objects.create(
        club=club, member=member, message_id=101, text="Спасибо за коврик!", sent_at=clock.now()
    )
    ClubActivity.objects.create(
        club=club, member=member, day=clock.now().date(), messages=1, last_at=clock.now()
    )
    page = owner_page
    page.goto(f"{live_server.url}/community/clubs/{club.pk}/edit/")
    form = page.locator("#club-form")
    expect(form.locator("input[name=keep_texts]")).to_be_checked()
    form.locator("input[name=title]").fill("Клуб знатоков")
    form.locator("input[name=grace_days]").fill("30")
    form.locator("input[name=keep_texts]").uncheck()
    form.locator("button[type=submit]").click()

    expect(page.get_by_role("heading", name="Клуб знатоков")).to_be_visible()
    expect(page.locator("body")).to_contain_text("Клуб сохранён.")
    club.refresh_from_db()
    assert (club.title, club.grace_days, club.keep_texts) == ("Клуб знатоков", 30, False)
    # The texts are gone; what was counted stays.
    assert not ClubText.objects.exists()
    assert ClubActivity.objects.get(member=member).messages == 1

    page.goto(f"{live_server.url}/community/clubs/{club.pk}/edit/")
    form = page.locator("#club-form")
    expect(form.locator("input[name=title]")).to_have_value("Клуб знатоков")
    expect(form.locator("input[name=grace_days]")).to_have_value("30")
    expect(form.locator("input[name=keep_texts]")).not_to_be_checked()


def test_the_owner_reschedules_a_club_post(owner_page, live_server):
    club = _club()
    Template.objects.create(
        slug="tip", name="Совет недели", channel="telegram", short_text="Совет для {{ club.name }}"
    )
    template = Template.objects.create(
        slug="news", name="Новинки", channel="telegram", short_text="Новинки для {{ club.name }}"
    )
    post = ClubPost.objects.create(
        club=club,
        template=Template.objects.get(slug="tip"),
        schedule=PostSchedule.WEEKLY,
        weekday=0,
        time=dt.time(9, 0),
        next_run_at=clock.now() + dt.timedelta(days=1),
    )
    page = owner_page
    page.goto(f"{live_server.url}/community/posts/{post.pk}/")
    form = page.locator("#post-form")
    expect(form.locator("select[name=weekday]")).to_have_value("0")
    form.locator("select[name=template]").select_option(label="Новинки")
    form.locator("select[name=weekday]").select_option("4")
    form.locator("input[name=time]").fill("18:15")
    form.locator("button[type=submit]").click()

    expect(page.locator("body")).to_contain_text("Публикация сохранена.")
    row = page.locator("#club-posts tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Новинки")
    expect(row).to_contain_text("18:15")
    post.refresh_from_db()
    assert (post.template_id, post.weekday, post.time) == (template.pk, 4, dt.time(18, 15))
    assert post.next_run_at is not None and post.next_run_at > clock.now()
    assert ClubPost.objects.count() == 1


def test_the_owner_moves_an_early_access_window(owner_page, live_server):
    guru = Tier.objects.create(
        slug="guru", name="Гуру", position=4, min_orders=10, privileges=["early_access"]
    )
    start = clock.now() + dt.timedelta(days=10)
    window = EarlyAccess.objects.create(
        name="Осенняя коллекция",
        collection="Осень",
        tier=guru,
        starts_at=start,
        public_at=start + dt.timedelta(days=7),
    )
    page = owner_page
    page.goto(f"{live_server.url}/community/early-access/{window.pk}/")
    form = page.locator("#early-access-form")
    expect(form.locator("input[name=name]")).to_have_value("Осенняя коллекция")
    form.locator("input[name=name]").fill("Зимняя коллекция")
    form.locator("input[name=collection]").fill("Зима")
    # Opening to everyone before the tier is refused and changes nothing.
    form.locator("input[name=public_at]").fill("2020-01-01T10:00")
    form.locator("button[type=submit]").click()
    expect(page.locator("#early-access-form")).to_contain_text("Для всех — позже, чем для уровня.")
    window.refresh_from_db()
    assert window.name == "Осенняя коллекция"

    form = page.locator("#early-access-form")
    # Two weeks after the tier's day, on the shop's clock as the form shows it.
    opens = dt.datetime.fromisoformat(form.locator("input[name=starts_at]").input_value())
    form.locator("input[name=public_at]").fill(
        (opens + dt.timedelta(days=14)).strftime("%Y-%m-%dT%H:%M")
    )
    form.locator("button[type=submit]").click()
    rows = page.locator("#early-access-windows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Зимняя коллекция")
    expect(page.locator("body")).to_contain_text("Ранний доступ сохранён.")
    window.refresh_from_db()
    assert (window.name, window.collection) == ("Зимняя коллекция", "Зима")
    assert window.public_at - window.starts_at == dt.timedelta(days=14)
    assert EarlyAccess.objects.count() == 1
