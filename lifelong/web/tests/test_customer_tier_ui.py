"""A tier set by hand until a date from the customer's tier section (owner and marketer)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse
from playwright.sync_api import expect

from lifelong import clock
from lifelong.accounts.models import AuditLog, Role
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.loyalty.models import CustomerTier, Tier
from lifelong.web.tests.conftest import staff

FROZEN = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


@pytest.fixture
def ladder(db) -> dict[str, Tier]:
    return {
        "novichok": Tier.objects.create(slug="novichok", name="Новичок", position=1),
        "znatok": Tier.objects.create(slug="znatok", name="Знаток", position=2, min_orders=2),
        "guru": Tier.objects.create(slug="guru", name="Гуру", position=3, invitation_only=True),
    }


def _client(role: str = Role.MARKETER) -> Client:
    client = Client()
    client.force_login(staff(role))
    return client


def test_a_tier_is_set_until_a_date_then_ended_audited_and_announced(ladder, time_machine):
    time_machine.move_to(FROZEN, tick=False)
    anna = CustomerFactory.create()
    client = _client()
    url = reverse("web:customer_tier", args=[anna.pk])
    response = client.post(
        url, {"tier": ladder["guru"].pk, "until": "2026-04-30", "reason": "Амбассадор клуба"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("web:customer", args=[anna.pk]) + "#tier"
    row = CustomerTier.objects.get(customer=anna)
    assert row.manual_tier == ladder["guru"] and row.shown == "guru"
    # Valid through the chosen day in the shop's zone (Moscow): ends at its midnight.
    assert row.manual_until == dt.datetime(2026, 4, 30, 21, tzinfo=dt.UTC)
    events = Event.objects.filter(type="tier_changed", customer=anna)
    assert [e.properties for e in events] == [
        {"from": "novichok", "to": "guru", "direction": "manual"}
    ]
    page = client.get(url).content.decode()
    assert "Гуру" in page and "Амбассадор клуба" in page

    response = client.post(url, {"tier": "", "reason": "Программа закончилась"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.manual_tier is None and row.shown == "novichok"
    assert AuditLog.objects.filter(action="loyalty.tier_manual").count() == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"until": "2026-04-30", "reason": ""}, "reason"),
        ({"until": "", "reason": "Просто так"}, "until"),
        ({"until": "2026-03-01", "reason": "Вчера"}, "until"),
        ({"until": "2027-06-01", "reason": "Навсегда"}, "until"),
    ],
)
def test_a_manual_tier_needs_a_reason_and_a_date_ahead(ladder, time_machine, fields, field):
    time_machine.move_to(FROZEN, tick=False)
    anna = CustomerFactory.create()
    response = _client().post(
        reverse("web:customer_tier", args=[anna.pk]), {"tier": ladder["guru"].pk, **fields}
    )
    assert response.status_code == 400
    assert field in response.context["tier_form"].errors
    assert not CustomerTier.objects.filter(customer=anna, manual_tier__isnull=False).exists()


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ANALYST])
def test_other_roles_see_the_tier_but_cannot_set_it(ladder, role):
    anna = CustomerFactory.create()
    client = _client(role)
    url = reverse("web:customer_tier", args=[anna.pk])
    page = client.get(url)
    assert page.status_code == 200 and "tier-manual" not in page.content.decode()
    response = client.post(
        url, {"tier": ladder["guru"].pk, "until": "2026-04-30", "reason": "Попробую"}
    )
    assert response.status_code == 403
    assert not CustomerTier.objects.exists()


def test_the_card_can_include_the_section_with_one_tag(ladder):
    anna = CustomerFactory.create()
    request = RequestFactory().get("/")
    request.user = staff(Role.OWNER)
    html = Template("{% load tiers %}{% customer_tier customer %}").render(
        Context({"customer": anna, "request": request})
    )
    assert 'id="tier"' in html and "Новичок" in html and 'id="tier-manual"' in html


@pytest.mark.browser
def test_a_marketer_sets_a_tier_by_hand_in_the_browser(browser, live_server, transactional_db):
    Tier.objects.create(slug="novichok", name="Новичок", position=1)
    guru = Tier.objects.create(slug="guru", name="Гуру", position=3, invitation_only=True)
    anna = CustomerFactory.create(first_name="Анна")
    marketer = staff(Role.MARKETER, "masha")
    client = Client()
    client.force_login(marketer)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    cookies = [("sessionid", client.cookies["sessionid"].value), ("django_language", "ru")]
    context.add_cookies([{"name": n, "value": v, "url": live_server.url} for n, v in cookies])
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/customers/{anna.pk}/tier/")
    expect(page.locator("#tier-now")).to_contain_text("Новичок")
    page.locator("#tier-manual summary").click()
    page.locator("select[name=tier]").select_option(str(guru.pk))
    until = clock.now().date() + dt.timedelta(days=30)
    page.fill("input[name=until]", until.isoformat())
    page.fill("input[name=reason]", "Амбассадор клуба")
    page.get_by_role("button", name="Сохранить уровень").click()
    expect(page.locator("body")).to_contain_text("Гуру")
    row = CustomerTier.objects.get(customer=anna)
    assert row.manual_tier_id == guru.pk and row.manual_by == marketer
    context.close()
