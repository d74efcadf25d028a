"""The segment builder's loyalty conditions: tier is, has a privilege, points balance."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from lifelong.accounts.models import Role
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import CustomerTier, Tier
from lifelong.loyalty.services import points_award
from lifelong.segments.models import Segment
from lifelong.segments.services import segment_create
from lifelong.web.tests.conftest import staff
from lifelong.web.tests.test_segments_ui import form_fields

LOYALTY_RULES = {
    "kind": "group",
    "op": "and",
    "negate": False,
    "rules": [
        {"kind": "tier", "tiers": ["znatok", "guru"], "negate": False},
        {"kind": "privilege", "privilege": "early_access", "negate": False},
        {"kind": "points", "op": "gte", "value": 100, "negate": True},
    ],
}


@pytest.fixture
def tiers(db):
    Tier.objects.create(slug="novichok", name="Новичок", position=1)
    Tier.objects.create(
        slug="znatok", name="Знаток", position=2, min_orders=2, privileges=["early_access"]
    )
    Tier.objects.create(slug="guru", name="Гуру", position=3, invitation_only=True)


def _client() -> Client:
    client = Client()
    client.force_login(staff(Role.MARKETER))
    return client


def test_stored_loyalty_rules_survive_the_builder_and_read_as_sentences(tiers, settings):
    settings.LANGUAGE_CODE = "en"
    client = _client()
    segment = segment_create(name="Знатоки", rules=LOYALTY_RULES)
    page = client.get(reverse("web:segment_edit", args=[segment.pk]))
    data = form_fields(page.content.decode())
    assert data["r_0.values"] == ["znatok", "guru"]
    response = client.post(reverse("web:segment_edit", args=[segment.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    before = segment.rules
    segment.refresh_from_db()
    assert segment.rules == before
    detail = client.get(reverse("web:segment", args=[segment.pk])).content.decode()
    assert "tier is one of «Знаток», «Гуру»" in detail
    assert "tier opens the privilege «Early access»" in detail
    assert "not: points balance is at least 100" in detail


def test_switching_a_condition_to_tier_offers_the_tiers(tiers):
    client = _client()
    url = reverse("web:segment_builder")
    html = client.post(
        url, {"r.kind": "group", "r.op": "and", "r_0.kind": "tier", "action": "refresh"}
    ).content.decode()
    assert 'name="r_0.values" value="znatok"' in html and "Гуру" in html
    html = client.post(
        url, {"r.kind": "group", "r.op": "and", "r_0.kind": "privilege", "action": "refresh"}
    ).content.decode()
    assert 'name="r_0.privilege"' in html and 'value="personal_manager"' in html


def test_a_tier_condition_with_no_tier_ticked_is_refused_at_its_node(tiers):
    client = _client()
    response = client.post(
        reverse("web:segment_create"),
        {
            "name": "Пусто",
            "r.kind": "group",
            "r.op": "and",
            "r_0.kind": "tier",
            "r_0.shown": "tier",
        },
    )
    assert response.status_code == 400
    assert not Segment.objects.exists()


def test_the_live_count_counts_a_points_condition(tiers):
    rich, _poor = CustomerFactory.create_batch(2)
    points_award(customer_id=rich.pk, points=500, key="gift")
    client = _client()
    response = client.post(
        reverse("web:segment_count"),
        {
            "r.kind": "group",
            "r.op": "and",
            "r_0.kind": "points",
            "r_0.shown": "points",
            "r_0.op": "gte",
            "r_0.value": "500",
        },
    )
    assert response.status_code == 200
    assert response.context["count"] == 1


@pytest.mark.browser
def test_a_marketer_builds_a_tier_segment_in_the_browser(browser, live_server, transactional_db):
    Tier.objects.create(slug="novichok", name="Новичок", position=1)
    Tier.objects.create(slug="znatok", name="Знаток", position=2, min_orders=2)
    first, second, _third = CustomerFactory.create_batch(3)
    for customer in (first, second):
        CustomerTier.objects.create(customer=customer, shown="znatok")
    client = Client()
    client.force_login(staff(Role.MARKETER, "masha"))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    cookies = [("sessionid", client.cookies["sessionid"].value), ("django_language", "ru")]
    context.add_cookies([{"name": n, "value": v, "url": live_server.url} for n, v in cookies])
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/segments/new/")
    page.fill("input[name=name]", "Знатоки")
    page.locator("select[name='r_0.kind']").select_option("tier")
    page.locator("input[name='r_0.values'][value=znatok]").check()
    expect(page.locator("#live-count .live-number")).to_have_text("2")
    page.locator(".save-bar button[type=submit]").click()
    expect(page.locator("h1")).to_contain_text("Знатоки")
    segment = Segment.objects.get(name="Знатоки")
    assert segment.rules["rules"][0]["tiers"] == ["znatok"]
    context.close()
