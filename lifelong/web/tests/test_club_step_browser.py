"""The journey builder's "Invite to a club" step in a real browser (Debian's Chromium), in
Russian: added from the palette, it asks for its club and template, names both on its card,
and is saved as a club_invite node."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from lifelong.accounts.models import Role
from lifelong.community.tests.clubs_setup import club_make, ladder_make
from lifelong.factories import UserFactory
from lifelong.journeys.models import Journey
from lifelong.journeys.services import journey_create
from lifelong.messaging.models import ChannelConfig, Template

pytestmark = pytest.mark.browser

EMPTY: dict[str, Any] = {"trigger": {"kind": "manual"}, "start": None, "nodes": []}


@pytest.fixture
def marketer_page(staff_page) -> Page:
    marketer = UserFactory.create(username="masha", role=Role.MARKETER, password=None)
    page = staff_page(marketer, viewport=(1366, 900))
    page.set_default_navigation_timeout(60_000)
    return page


def test_a_marketer_adds_a_club_invitation_to_a_journey(marketer_page, live_server):
    club = club_make(ladder_make()["guru"])
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    Template.objects.create(
        slug="club-welcome",
        name="Приглашение в клуб",
        channel="email",
        subject="Приглашаем в клуб",
        body_text="Ждём вас: {{ club_invite_url }}",
    )
    journey = journey_create(name="Клуб", slug="club", definition=EMPTY)
    page = marketer_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/journeys/{journey.pk}/edit/")

    page.locator(".jc-palette [data-add=club_invite]").click()
    card = page.locator("#jc-root .jc-node[data-type=club_invite]")
    expect(card).to_contain_text("Выберите клуб.")
    expect(card).to_contain_text("Выберите шаблон.")
    page.locator(".jc-panel select[name=jc-club]").select_option(label="Клуб Гуру")
    page.locator(".jc-panel select[name=jc-template]").select_option(
        label="Приглашение в клуб · Email"
    )
    expect(card).to_contain_text("Пригласить в «Клуб Гуру» шаблоном «Приглашение в клуб»")
    expect(card).not_to_contain_text("Выберите клуб.")

    page.locator(".save-bar button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Сохранено как версия 2.")
    (node,) = Journey.objects.get(pk=journey.pk).current_version.parsed().nodes
    assert (node.type, node.club, node.template, node.channel) == (
        "club_invite",
        club.pk,
        "club-welcome",
        "email",  # the template's own channel, as the picker sets it for every message step
    )
    assert errors == []
