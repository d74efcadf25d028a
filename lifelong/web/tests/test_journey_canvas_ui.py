"""The journey builder's server side: the canvas's data (pickers, titles, problems by node,
counts), node positions kept in the definition, and what the engine makes of them."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.accounts.models import Role
from lifelong.commerce.models import Product
from lifelong.journeys.definition import definition_parse
from lifelong.journeys.models import Journey
from lifelong.journeys.services import journey_create
from lifelong.messaging.models import ChannelConfig, Template
from lifelong.segments.models import Segment
from lifelong.web.forms_journeys import DefinitionForm
from lifelong.web.tests.conftest import staff

pytestmark = pytest.mark.django_db

FLOW: dict[str, Any] = {
    "trigger": {"kind": "first_order"},
    "start": "pause",
    "nodes": [
        {"id": "pause", "type": "wait", "days": 3, "next": "thanks"},
        {"id": "thanks", "type": "send", "template": "thanks", "channel": "email"},
    ],
}
FORM = {"trigger_kind": "first_order", "reentry_policy": "once", "holdout_percent": "0"}


def _marketer(language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(staff(Role.MARKETER, f"masha-{language}"))
    return client


def _canvas(response: Any) -> dict[str, Any]:
    """The canvas's data as the page's script reads it: from the json_script block."""
    html = response.content.decode()
    start = html.index('<script id="journey-canvas-data" type="application/json">')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(body)


def _templates(n: int) -> None:
    Template.objects.bulk_create(
        Template(slug=f"t{i}", name=f"Шаблон {i}", channel="email", body_text="Привет")
        for i in range(n)
    )


def test_the_editor_gives_the_canvas_its_pickers_in_a_fixed_number_of_queries():
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    Template.objects.create(slug="thanks", name="Спасибо", channel="email", body_text="Спасибо!")
    Template.objects.create(
        slug="tg", name="Как дела?", channel="telegram", messenger_text="Как вы?"
    )
    segment = Segment.objects.create(name="Постоянные", rules={"op": "and", "rules": []})
    Product.objects.create(sku="MAT-1", name="Коврик")
    journey = journey_create(name="Первый заказ", slug="first", definition=FLOW)
    url = reverse("web:journey_edit", kwargs={"pk": journey.pk})
    client = _marketer()
    client.get(url)  # the session and the user are cached after the first request

    with CaptureQueriesContext(connection) as few:
        canvas = _canvas(client.get(url))
    pickers = canvas["pickers"]
    assert [(t["name"], t["channel"], t["sends_on"]) for t in pickers["templates"]] == [
        ("Как дела?", "telegram", ["telegram", "vk", "max", "whatsapp"]),
        ("Спасибо", "email", ["email"]),
    ]
    assert [segment.pk, "Постоянные"] in pickers["segments"]
    assert pickers["products"] == [["MAT-1", "Коврик"]]
    assert ["order_placed", "placed an order"] in pickers["events"]
    assert [p["label"] for p in pickers["wait_presets"]] == ["1 hour", "1 day", "3 days", "7 days"]
    assert canvas["titles"] == {"pause": "Wait 3 days", "thanks": "Send «Спасибо» by Email"}
    assert canvas["problems"] == [] and canvas["readonly"] is False

    _templates(20)
    Product.objects.bulk_create(Product(sku=f"S{i}", name=f"Товар {i}") for i in range(20))
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


def test_the_shops_problems_are_shown_on_the_node_they_are_about():
    journey = journey_create(name="Первый заказ", slug="first", definition=FLOW)
    url = reverse("web:journey_edit", kwargs={"pk": journey.pk})
    problems = _canvas(_marketer().get(url))["problems"]
    about = {node_id for node_id, _message in problems}
    assert "thanks" in about  # the template "thanks" does not exist
    assert "pause" not in about


def test_a_rejected_graph_puts_each_error_on_its_node_and_saves_nothing():
    journey = journey_create(name="Первый заказ", slug="first", definition=FLOW)
    url = reverse("web:journey_edit", kwargs={"pk": journey.pk})
    nodes = [
        {"id": "pause", "type": "wait", "next": "hello"},
        {"id": "hello", "type": "send", "channel": "email"},
    ]
    response = _marketer().post(url, {**FORM, "nodes": json.dumps(nodes)})
    assert response.status_code == 400
    problems = _canvas(response)["problems"]
    assert ["hello", "Fill in: Template."] in problems
    assert ["pause", "Set how long to wait."] in problems
    assert journey.versions.count() == 1

    # In Russian, and a loop without a wait marks each of its steps (by what they are).
    loop = [
        {"id": "a", "type": "tag", "tag": "x", "next": "b"},
        {"id": "b", "type": "award_points", "points": 0, "next": "a"},
    ]
    response = _marketer("ru").post(url, {**FORM, "nodes": json.dumps(loop)})
    problems = _canvas(response)["problems"]
    assert ["b", "Баллы: больше 0."] in problems
    response = _marketer("ru").post(
        url, {**FORM, "nodes": json.dumps([loop[0], {**loop[1], "points": 5}])}
    )
    problems = _canvas(response)["problems"]
    stuck = "В этой петле нет ожидания: клиенты проходили бы её по кругу без остановки."
    assert problems == [["a", stuck], ["b", stuck]]


def test_positions_are_saved_for_the_nodes_that_exist_only():
    journey = journey_create(name="Первый заказ", slug="first", definition=FLOW)
    url = reverse("web:journey_edit", kwargs={"pk": journey.pk})
    layout = {"pause": {"x": 24, "y": 160}, "thanks": {"x": 24, "y": 300}, "gone": {"x": 1, "y": 1}}
    data = {**FORM, "nodes": json.dumps(FLOW["nodes"]), "layout": json.dumps(layout)}
    assert _marketer().post(url, data).status_code == 302
    saved = Journey.objects.get(pk=journey.pk).current_version
    assert saved.definition["layout"] == {
        "pause": {"x": 24, "y": 160},
        "thanks": {"x": 24, "y": 300},
    }
    # The editor gives them back to the canvas through its hidden field.
    form = _marketer().get(url).context["form"]
    assert json.loads(form.initial["layout"]) == saved.definition["layout"]

    # Unreadable positions are dropped (the canvas lays the nodes out anew), not an error.
    data["layout"] = "{not json"
    assert _marketer().post(url, data).status_code == 302
    assert Journey.objects.get(pk=journey.pk).current_version.definition["layout"] == {}


def test_definitions_stored_before_positions_existed_still_parse():
    assert definition_parse(FLOW).layout == {}
    with pytest.raises(pydantic.ValidationError, match=r"layout\.pause\.x"):
        definition_parse({**FLOW, "layout": {"pause": {"x": "left", "y": 0}}})


def test_the_journey_page_draws_the_canvas_read_only_with_counts():
    Template.objects.create(slug="thanks", name="Спасибо", channel="email", body_text="Спасибо!")
    journey = journey_create(name="Первый заказ", slug="first", definition=FLOW)
    response = _marketer().get(reverse("web:journey", kwargs={"pk": journey.pk}))
    canvas = _canvas(response)
    assert canvas["readonly"] is True
    assert canvas["definition"]["start"] == "pause"
    assert canvas["trigger"] == "When a customer places their first order"
    assert canvas["titles"]["thanks"] == "Send «Спасибо» by Email"
    assert canvas["counts"] == {}  # nobody has entered yet
    assert canvas["texts"]["types"]["send"] == "Send a message"
    html = response.content.decode()
    assert "journey_canvas.js" in html and 'class="jc-fallback"' in html
    assert "<script>" not in html  # data only; the policy allows no inline script


def test_the_canvas_speaks_russian_with_russian_plurals():
    journey = journey_create(name="Первый заказ", slug="first", definition=FLOW)
    canvas = _canvas(_marketer("ru").get(reverse("web:journey_edit", kwargs={"pk": journey.pk})))
    texts = canvas["texts"]
    assert canvas["language"] == "ru"
    assert texts["days"] == ["%(n)d день", "%(n)d дня", "%(n)d дней"]
    assert texts["types"]["wait_event"] == "Ждать действия"
    assert texts["no_template"] == "Выберите шаблон."
    # The counts' words for 1, 2 and 5, as the list drawn without script has them.
    assert texts["passed"] == ["прошёл", "прошли", "прошли"]
    assert texts["converted"] == ["достиг цели", "достигли цели", "достигли цели"]
    assert canvas["titles"]["pause"] == "Ждать 3 дня"
    assert [p["label"] for p in canvas["pickers"]["wait_presets"]] == [
        "1 час",
        "1 день",
        "3 дня",
        "7 дней",
    ]


POINT = st.integers(min_value=-10_000, max_value=100_000)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    positions=st.dictionaries(
        st.sampled_from(["pause", "thanks", "gone", "other"]),
        st.fixed_dictionaries({"x": POINT, "y": POINT}),
    )
)
def test_the_editor_round_trips_a_definition_with_any_positions(positions):
    """What the editor shows, saved as shown, is the same definition: positions of the nodes
    that exist kept exactly, the others dropped."""
    stored = definition_parse({**FLOW, "layout": positions_known(positions)}).model_dump(
        mode="json"
    )
    initial = DefinitionForm.initial_from({**stored, "layout": positions})
    form = DefinitionForm(data={k: "" if v is None else str(v) for k, v in initial.items()})
    assert form.is_valid(), form.errors
    assert form.definition is not None
    assert form.definition.model_dump(mode="json") == stored


def positions_known(positions: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in positions.items() if k in {"pause", "thanks"}}
