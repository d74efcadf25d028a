"""The visual journey builder in a real browser (Debian's Chromium), in Russian.

A marketer builds "first order → wait 3 days → email → wait 7 days → Telegram" on the canvas
with clicks, drags and pickers (no JSON typed), saves it, starts it; then time moves on
through `lifelong simulate`'s own days (`demo_simulate`): a customer's first order brings the
email three days later and the Telegram message seven days after that, both through the
sandbox. The journey's page draws the same canvas read-only, with its counts; a send step
whose template vanished shows how often it could not send.

Set LIFELONG_SCREENSHOTS=docs/img to write the canvas's screenshot for the docs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.commerce.models import Product
from lifelong.commerce.services import order_upsert
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.demo.reactions import demo_simulate
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.jobs import sweeps
from lifelong.journeys.models import Enrollment, EnrollmentStatus, Journey, JourneyStatus
from lifelong.journeys.services import journey_create, journey_launch, journey_version_save
from lifelong.messaging.models import DONE_STATUSES, ChannelConfig, Message, Template

pytestmark = pytest.mark.browser

EMPTY: dict[str, Any] = {"trigger": {"kind": "manual"}, "start": None, "nodes": []}


def _shop() -> tuple[Journey, Client]:
    marketer = UserFactory.create(username="masha", role=Role.MARKETER, password=None)
    for channel in ("email", "telegram"):
        ChannelConfig.objects.create(channel=channel, transport="sandbox")
    Template.objects.create(
        slug="first-thanks",
        name="Спасибо за первый заказ",
        channel="email",
        subject="Спасибо!",
        body_text="Спасибо, что выбрали нас.",
    )
    Template.objects.create(
        slug="how-is-it",
        name="Как вам покупка?",
        channel="telegram",
        messenger_text="Как вам покупка? Ответьте прямо здесь.",
    )
    journey = journey_create(name="Первый заказ", slug="first-order", definition=EMPTY)
    client = Client()
    client.force_login(marketer)
    return journey, client


def _page(browser, live_server, client: Client, language: str = "ru") -> tuple[Page, list[str]]:
    """A page signed in as the client's user, and the script errors and console errors on it."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=language)
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            },
            {"name": "django_language", "value": language, "url": live_server.url},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    # A fresh live server's first page imports every view: seconds on a loaded machine.
    page.set_default_navigation_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return page, errors


def _clock_to(*, hour: int) -> None:
    """Move simulated time on to the next `hour`:00 UTC."""
    now = clock.now()
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    clock.advance(target - now)


def _card(page: Page, node_type: str, n: int = 0):
    return page.locator(f"#jc-root .jc-node[data-type={node_type}]").nth(n)


def test_a_marketer_builds_a_first_order_journey_on_the_canvas_and_it_runs(
    browser, live_server, transactional_db
):
    journey, client = _shop()
    page, errors = _page(browser, live_server, client)
    page.goto(f"{live_server.url}/journeys/{journey.pk}/edit/")

    # The trigger's panel is open first, with only the fields its kind uses.
    expect(page.locator(".jc-panel select[name=trigger_kind]")).to_be_visible()
    expect(page.locator("input[name=trigger_day]")).to_be_hidden()
    page.locator("select[name=trigger_kind]").select_option("first_order")
    expect(_card(page, "trigger")).to_contain_text("Оформлен первый заказ")

    # Wait 3 days: added under the trigger, its length from a preset.
    page.locator(".jc-palette [data-add=wait]").click()
    page.locator(".jc-panel .jc-presets button", has_text="3 дня").click()
    expect(_card(page, "wait")).to_contain_text("Ждать 3 дня")

    # The email: added after the selected wait; until a template is chosen, the node says so.
    page.locator(".jc-palette [data-add=send]").click()
    expect(_card(page, "send")).to_contain_text("Выберите шаблон.")
    page.locator(".jc-panel select[name=jc-template]").select_option(
        label="Спасибо за первый заказ · Email"
    )
    expect(page.locator(".jc-panel select[name=jc-channel]")).to_have_value("email")
    expect(_card(page, "send")).not_to_contain_text("Выберите шаблон.")

    page.locator(".jc-palette [data-add=wait]").click()
    page.locator(".jc-panel .jc-presets button", has_text="7 дней").click()

    # The Telegram step is dragged from the palette onto an empty spot: it lands loose, so
    # nothing leads to it until a wire is dragged from the second wait's port onto it.
    page.locator(".jc-palette [data-add=send]").drag_to(
        page.locator("#jc-root .jc-stage"), target_position={"x": 620, "y": 260}
    )
    page.locator(".jc-panel select[name=jc-template]").select_option(
        label="Как вам покупка? · Telegram"
    )
    expect(_card(page, "send", 1)).to_contain_text("Ни один шаг не ведёт сюда.")
    second_wait = _card(page, "wait", 1).get_attribute("data-node")
    page.locator(f".jc-port[data-node={second_wait}]").drag_to(_card(page, "send", 1))
    expect(_card(page, "send", 1)).not_to_contain_text("Ни один шаг не ведёт сюда.")

    # Moving a card by dragging it (under the second wait) keeps its place in the saved version.
    telegram, wait = _card(page, "send", 1), _card(page, "wait", 1).bounding_box()
    before = telegram.bounding_box()
    assert before is not None and wait is not None
    page.mouse.move(before["x"] + 40, before["y"] + 20)
    page.mouse.down()
    page.mouse.move(wait["x"] + 40, wait["y"] + wait["height"] + 72, steps=8)
    page.mouse.up()
    after = telegram.bounding_box()
    assert after is not None
    assert abs(after["x"] - wait["x"]) < 3 and after["y"] > wait["y"] + wait["height"]
    telegram_id = telegram.get_attribute("data-node")
    assert telegram_id

    page.locator(".save-bar button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Сохранено как версия 2.")
    definition = Journey.objects.get(pk=journey.pk).current_version.parsed()
    assert definition.trigger.kind == "first_order"
    chain = []
    node_id = definition.start
    while node_id:
        node = definition.node(node_id)
        chain.append(
            (
                node.type,
                getattr(node, "days", None),
                getattr(node, "template", None),
                getattr(node, "channel", None),
            )
        )
        node_id = getattr(node, "next", None)
    assert chain == [
        ("wait", 3, None, None),
        ("send", None, "first-thanks", "email"),
        ("wait", 7, None, None),
        ("send", None, "how-is-it", "telegram"),
    ]
    second_wait_at, telegram_at = definition.layout[second_wait], definition.layout[telegram_id]
    assert telegram_at.x == second_wait_at.x and telegram_at.y > second_wait_at.y

    # The journey's page draws the same flow, read-only, and starts it.
    expect(page.locator("#jc-root.jc-view .jc-node")).to_have_count(5)
    expect(page.locator(".jc-fallback")).to_be_hidden()
    expect(page.locator("#jc-root .jc-port")).to_have_count(0)
    page.locator(".actions form button[type=submit]", has_text="Запустить").click()
    expect(page.locator("body")).to_contain_text("Сценарий запущен")
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.ACTIVE

    # Simulated time, moved on by what `lifelong simulate` runs for each day (every sweep,
    # the journeys' and the dispatcher's passes, the customers' reactions), from 07:00 UTC
    # so the days' passes fall at the same moments whenever the test runs.
    try:
        _clock_to(hour=7)
        sweeps.run_all()  # the reactor starts at the end of the event log
        customer = CustomerFactory.create(first_name="Оля", telegram_chat_id="700100")
        for channel in ("email", "telegram"):
            consent_record(
                customer=customer,
                channel=channel,
                purpose=Purpose.MARKETING,
                granted=True,
                source="t",
            )
        order_upsert(
            external_id="F-1", customer=customer, total=Decimal("2400"), placed_at=clock.now()
        )
        sweeps.run_all()
        enrollment = Enrollment.objects.get(journey=journey, customer=customer)
        assert enrollment.current_node == definition.start and enrollment.waiting
        assert not Message.objects.filter(customer=customer).exists()

        demo_simulate(days=3)
        enrollment.refresh_from_db()
        second_wait_id = definition.node(definition.node(definition.start).next).next
        assert enrollment.current_node == second_wait_id
        email = Message.objects.get(customer=customer)
        assert (email.template.slug, email.channel) == ("first-thanks", "email")

        demo_simulate(days=7)
        enrollment.refresh_from_db()
        assert enrollment.status == EnrollmentStatus.COMPLETED
        telegram_message = Message.objects.get(customer=customer, channel="telegram")
        assert telegram_message.template.slug == "how-is-it"
        assert telegram_message.node_id == telegram_id
        assert telegram_message.to == "700100"
        # Dispatched by the simulated days' sweeps, through the sandbox: in the sandbox inbox.
        assert telegram_message.status in DONE_STATUSES
        assert telegram_message.transport == "sandbox"
        assert telegram_message.body_text == "Как вам покупка? Ответьте прямо здесь."
    finally:
        clock.reset()

    page.reload()
    expect(_card(page, "send")).to_contain_text("1 прошёл")
    expect(_card(page, "send", 1)).to_contain_text("1 прошёл")
    shots = os.environ.get("LIFELONG_SCREENSHOTS")
    if shots:
        page.goto(f"{live_server.url}/journeys/{journey.pk}/edit/")
        _card(page, "send").click()
        page.locator(".jc-palette").evaluate("bar => window.scrollTo(0, bar.offsetTop - 8)")
        page.screenshot(path=str(Path(shots) / "journey-canvas.png"))
    assert errors == []


WELCOME = {
    "trigger": {"kind": "first_order"},
    "goal": {"event": "order_placed", "within_days": 30},
    "start": "hello",
    "nodes": [
        {"id": "hello", "type": "send", "template": "first-thanks", "channel": "email"},
    ],
}


def test_a_send_step_that_could_not_send_shows_how_often_on_the_canvas(
    browser, live_server, transactional_db
):
    """The issue's «7 прошли» on a step that sent nothing: a running journey's template is
    deleted, and the step's card counts the runs that could not send, in the problem colour."""
    # Daytime on the customers' clock: in quiet hours the dispatcher holds the emails back.
    _clock_to(hour=7)
    try:
        journey, client = _shop()
        journey_version_save(journey=journey, definition=WELCOME)
        journey_launch(journey=journey)
        sweeps.run_all()  # the reactor starts at the end of the event log

        def first_order(n: int) -> None:
            customer = CustomerFactory.create(email=f"c{n}@example.com")
            consent_record(
                customer=customer,
                channel="email",
                purpose=Purpose.MARKETING,
                granted=True,
                source="t",
            )
            order_upsert(
                external_id=f"W-{n}", customer=customer, total=Decimal("900"), placed_at=clock.now()
            )

        for n in range(3):
            first_order(n)
        sweeps.run_all()
        assert Message.objects.filter(journey_id=journey.pk, node_id="hello").count() == 3
        Template.objects.filter(slug="first-thanks").delete()
        for n in range(3, 5):
            first_order(n)
        # One of the first three comes back: the journey's goal.
        order_upsert(
            external_id="W-0-2",
            customer=Customer.objects.get(email="c0@example.com"),
            total=Decimal("1200"),
            placed_at=clock.now(),
        )
        sweeps.run_all()

        page, errors = _page(browser, live_server, client)
        page.goto(f"{live_server.url}/journeys/{journey.pk}/")
        send = page.locator("#jc-root #node-hello")
        expect(send).to_have_class(re.compile(r"\bjc-has-problems\b"))
        expect(send.locator(".jc-counts li")).to_have_text(
            [
                "3 прошли",
                "2 не отправлено: проблема",
                "1 достиг цели",
                "3 отправлено",
                "0 открыто",
                "0 с переходом",
                "0 с ответом",
            ]
        )
        expect(send.locator(".jc-count-problem")).to_have_css("color", "rgb(127, 29, 29)")
        # The template is still gone: what to fix is on the card too.
        expect(send.locator(".jc-problems")).to_contain_text("Шаблона с кодом «first-thanks» нет.")
        assert errors == []

    finally:
        clock.reset()


BROKEN = {
    "trigger": {"kind": "order_placed"},
    "start": "pause",
    "nodes": [
        {"id": "pause", "type": "wait", "days": 1, "next": "hello"},
        {"id": "hello", "type": "send", "template": "gone", "channel": "email", "next": "bye"},
        {"id": "bye", "type": "exit"},
    ],
}


def test_a_problem_shows_on_its_step_and_deleting_the_step_joins_its_neighbours(
    browser, live_server, transactional_db
):
    marketer = UserFactory.create(username="kate", role=Role.MARKETER, password=None)
    Product.objects.create(sku="MAT-PRO", name="Yoga mat Pro")
    journey = journey_create(name="After an order", slug="after", definition=BROKEN)
    client = Client()
    client.force_login(marketer)
    page, errors = _page(browser, live_server, client, "en")
    # On the journey's page a link to the step with a problem lands on its card of the canvas.
    page.goto(f"{live_server.url}/journeys/{journey.pk}/")
    page.locator("a[href='#node-hello']").first.click()
    expect(page.locator("#jc-root .jc-node:target")).to_have_attribute("data-node", "hello")
    expect(page.locator("#node-hello")).to_be_in_viewport()

    page.goto(f"{live_server.url}/journeys/{journey.pk}/edit/")

    # The template "gone" does not exist: the server's finding is on the send card, not elsewhere.
    expect(page.locator(".jc-palette [data-add=send]")).to_have_text("Send a message")
    send = _card(page, "send")
    expect(send).to_have_class(re.compile(r"\bjc-has-problems\b"))
    expect(send.locator(".jc-problems li")).not_to_have_count(0)
    expect(_card(page, "wait")).not_to_have_class(re.compile(r"\bjc-has-problems\b"))
    # No internal id is shown: the cards read as what they do.
    expect(_card(page, "wait")).to_have_text(re.compile("Wait 1 day"))
    expect(page.locator("#jc-root .jc-stage")).not_to_contain_text("hello")

    # The JSON view and the canvas are the same graph: JSON typed there is drawn here.
    page.locator("#jc-advanced > summary").click()
    nodes = [dict(node) for node in BROKEN["nodes"]]
    nodes[0]["days"] = 2
    page.locator("textarea[name=nodes]").fill(json.dumps(nodes))
    page.locator("textarea[name=nodes]").dispatch_event("change")
    expect(_card(page, "wait")).to_have_text(re.compile("Wait 2 days"))

    # The trigger's product filter is picked by name.
    page.locator("#jc-product").select_option(label="Yoga mat Pro · MAT-PRO")
    expect(page.locator("input[name=trigger_skus]")).to_have_value("MAT-PRO")

    send.click()
    page.keyboard.press("Delete")
    expect(page.locator("#jc-root .jc-node")).to_have_count(3)
    _card(page, "wait").click()
    expect(page.locator(".jc-panel select[name=jc-exit-next]")).to_have_value("bye")

    # A check goes between them: the wait's exit is freed, the check added after it and set
    # up with its quick pickers, and its "yes" pointed at the exit.
    page.locator(".jc-panel select[name=jc-exit-next]").select_option("")
    page.locator(".jc-palette [data-add=condition]").click()
    page.locator(".jc-panel select[name=jc-quick]").select_option("bought")
    page.locator(".jc-panel select[name=jc-quick-value]").select_option("MAT-PRO")
    expect(_card(page, "condition")).to_contain_text("Check: bought the product — Yoga mat Pro")
    page.locator(".jc-panel select[name=jc-exit-yes]").select_option("bye")

    page.locator(".save-bar button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Saved as version 2.")
    saved = Journey.objects.get(pk=journey.pk).current_version.parsed()
    assert [n.id for n in saved.nodes] == ["pause", "bye", "condition_1"]
    check = saved.node("condition_1")
    assert saved.node("pause").next == "condition_1"
    assert (check.yes, check.no) == ("bye", None)
    assert check.rule.model_dump(mode="json")["rules"][0] == {
        "kind": "bought",
        "sku": "MAT-PRO",
        "category": None,
        "within_days": None,
        "negate": False,
    }
    assert saved.trigger.skus == ["MAT-PRO"]
    assert errors == []


def test_without_javascript_an_expert_saves_the_steps_as_json(
    browser, live_server, transactional_db
):
    marketer = UserFactory.create(username="expert", role=Role.MARKETER, password=None)
    journey = journey_create(name="Первый заказ", slug="first-order", definition=EMPTY)
    client = Client()
    client.force_login(marketer)
    context = browser.new_context(java_script_enabled=False, locale="ru-RU")
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.set_default_navigation_timeout(60_000)
    page.goto(f"{live_server.url}/journeys/{journey.pk}/edit/")
    expect(page.locator("#jc-root .jc-stage")).to_have_count(0)  # no canvas without script
    page.locator("select[name=trigger_kind]").select_option("first_order")
    page.locator("textarea[name=nodes]").fill(
        '[{"id": "pause", "type": "wait", "days": 3, "next": "bye"}, {"id": "bye", "type": "exit"}]'
    )
    page.locator(".save-bar button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Сохранено как версия 2.")
    saved = Journey.objects.get(pk=journey.pk).current_version.parsed()
    assert saved.trigger.kind == "first_order"
    assert saved.start == "pause" and saved.node("pause").days == 3
    assert saved.layout == {}  # laid out by the canvas when it next opens
    context.close()
