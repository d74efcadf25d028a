"""Journey pages: list with results, the flow diagram, the editor, status buttons."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.factories import CustomerFactory
from lifelong.journeys.definition import definition_parse
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import Enrollment, EnrollmentStatus, Journey, JourneyStatus, StepRun
from lifelong.journeys.results import journeys_results
from lifelong.journeys.selectors import journey_list_stats, node_stats
from lifelong.journeys.services import (
    enrollment_start,
    journey_create,
    journey_status_set,
    journey_version_save,
)
from lifelong.journeys.uplift import Results, uplift_interval
from lifelong.loyalty.models import Programme
from lifelong.messaging.models import Message, Template
from lifelong.segments.models import Segment
from lifelong.web.journey_diagram import END, JUMP, LOOP, NODE, diagram_build
from lifelong.web.tests.conftest import staff

FLOW: dict[str, Any] = {
    "trigger": {"kind": "manual"},
    "start": "tag_new",
    "nodes": [
        {"id": "tag_new", "type": "tag", "tag": "welcomed", "next": "pause"},
        {"id": "pause", "type": "wait", "days": 3, "next": "ab"},
        {
            "id": "ab",
            "type": "split",
            "branches": [
                {"weight": 1, "next": "bonus", "label": "A"},
                {"weight": 1, "next": "stop", "label": "B"},
            ],
        },
        {"id": "bonus", "type": "award_points", "points": 100, "reason": "welcome"},
        {"id": "stop", "type": "exit"},
    ],
    "goal": {"event": "order_placed", "within_days": 10},
}


@pytest.fixture(autouse=True)
def _english():
    # The pages are asserted in English; the default language is Russian.
    with translation.override("en"):
        yield


def logged_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


HELLO = {"id": "hello", "type": "send", "template": "thanks", "channel": "email", "next": "tag_new"}
WITH_SEND = {**FLOW, "start": "hello", "nodes": [HELLO, *FLOW["nodes"]]}


def flow(**changes: Any) -> dict[str, Any]:
    return {**FLOW, **changes}


def make_journey(slug: str = "welcome", definition: dict[str, Any] | None = None) -> Journey:
    journey = journey_create(name=f"Journey {slug}", slug=slug, definition=definition or FLOW)
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def enroll(journey: Journey, count: int) -> list[Enrollment]:
    """At least `count` enrollments; with a holdout, enough that both groups have someone.

    The holdout draw hashes ids, and on PostgreSQL ids run on from earlier tests, so a fixed
    count left one group empty in a few runs out of a hundred.
    """
    journey.refresh_from_db()
    assert journey.current_version is not None
    holdout = journey.current_version.parsed().holdout_percent
    enrollments: list[Enrollment] = []
    while len(enrollments) < count or (holdout and len({e.holdout for e in enrollments}) < 2):
        enrollment = enrollment_start(journey=journey, customer=CustomerFactory.create())
        assert enrollment is not None
        enrollments.append(enrollment)
    return enrollments


# --- the uplift interval -------------------------------------------------------------------


def test_uplift_interval_matches_newcombes_worked_examples():
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10.
    diff, low, high = uplift_interval(56, 70, 48, 80)
    assert round(diff, 4) == 0.2
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert tuple(round(v, 4) for v in uplift_interval(9, 10, 3, 10)[1:]) == (0.1705, 0.8090)
    assert tuple(round(v, 4) for v in uplift_interval(5, 56, 0, 29)[1:]) == (-0.0381, 0.1926)


def test_uplift_interval_stays_within_bounds_and_needs_both_groups():
    diff, low, high = uplift_interval(10, 10, 0, 10)
    assert diff == 1 and -1 <= low <= high <= 1
    with pytest.raises(ValueError, match="both groups"):
        uplift_interval(1, 0, 1, 5)


# --- the diagram ---------------------------------------------------------------------------


def test_diagram_lays_out_branches_side_by_side():
    definition = definition_parse(WITH_SEND)
    tree = diagram_build(definition, {}, {"thanks": "Спасибо за покупку"})
    assert [b.node_id for b in tree.boxes] == ["hello", "tag_new", "pause", "ab"]
    assert tree.boxes[0].title == "Send «Спасибо за покупку» by Email"
    assert tree.boxes[2].title == "Wait 3 days"
    split = tree.boxes[-1]
    assert [lane.label for lane in split.lanes] == ["A · 50 %", "B · 50 %"]
    a, b = split.lanes
    assert [(x.kind, x.node_id) for x in a.boxes] == [(NODE, "bonus"), (END, "")]
    assert [(x.kind, x.node_id) for x in b.boxes] == [(NODE, "stop")]
    assert tree.unreachable == []


def test_diagram_turns_loops_and_joins_into_leaves():
    definition = definition_parse(
        {
            "trigger": {"kind": "manual"},
            "start": "mail",
            "nodes": [
                {"id": "mail", "type": "tag", "tag": "x", "next": "seen", "label": "Письмо"},
                {
                    "id": "seen",
                    "type": "wait_event",
                    "events": ["message_opened"],
                    "timeout_hours": 168,
                    "on_event": "done",
                    "on_timeout": "vip",
                },
                {
                    "id": "vip",
                    "type": "condition",
                    "rule": {
                        "op": "and",
                        "rules": [
                            {"kind": "summary", "field": "orders_count", "op": "gte", "value": 3}
                        ],
                    },
                    "yes": "mail",
                    "no": "done",
                },
                {"id": "done", "type": "tag", "tag": "done"},
                {"id": "orphan", "type": "exit"},
            ],
        }
    )
    tree = diagram_build(definition)
    seen = tree.boxes[1]
    assert seen.title == "Wait up to 7 days for: opened the message"
    assert [lane.label for lane in seen.lanes] == ["opened", "not opened"]
    opened, not_opened = seen.lanes
    assert [(b.kind, b.node_id) for b in opened.boxes] == [(NODE, "done"), (END, "")]
    vip = not_opened.boxes[0]
    assert vip.node_id == "vip" and vip.title.startswith("Check:")
    yes, no = vip.lanes
    assert (yes.label, no.label) == ("yes", "no")
    assert [(b.kind, b.title) for b in yes.boxes] == [(LOOP, "↩ back to Письмо")]
    assert [(b.kind, b.node_id) for b in no.boxes] == [(JUMP, "done")]
    # Leaves name a step without a label by what it does, never by its internal id.
    assert no.boxes[0].title == "→ continue at Add the tag «done»"
    assert [[b.node_id for b in column] for column in tree.unreachable] == [["orphan"]]


# --- selectors -----------------------------------------------------------------------------


@pytest.fixture
def running(db, frozen_time):
    journey = make_journey(definition=flow(holdout_percent=50))
    enrollments = enroll(journey, 12)
    advance_due()
    return journey, enrollments


def test_node_stats_count_waiting_passed_converted_and_messages(running):
    journey, enrollments = running
    treated = [e for e in enrollments if not e.holdout]
    assert treated and len(treated) < len(enrollments)
    Enrollment.objects.filter(pk=treated[0].pk).update(
        goal_met_at=dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    )
    Message.objects.create(
        customer_id=treated[0].customer_id,
        dedupe_key="m1",
        channel="email",
        purpose="marketing",
        journey_id=journey.pk,
        node_id="tag_new",
        sent_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
        opened_at=dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC),
    )
    counts = node_stats(journey)
    assert counts["tag_new"].passed == len(treated)
    assert counts["tag_new"].converted == 1
    assert (counts["tag_new"].sent, counts["tag_new"].opened, counts["tag_new"].clicked) == (
        1,
        1,
        0,
    )
    assert counts["pause"].waiting == len(treated)
    assert "ab" not in counts


def journey_results(journey: Journey) -> Results:
    return journeys_results([journey.pk], clock.now())[journey.pk]


def test_results_compare_treated_and_holdout_once_the_window_closed(running, frozen_time):
    journey, enrollments = running
    assert journey_results(journey).treated.n == 0  # the goal window is still open
    treated = [e for e in enrollments if not e.holdout]
    holdout = [e for e in enrollments if e.holdout]
    Enrollment.objects.filter(pk=treated[0].pk).update(
        goal_met_at=dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    )
    results = journey_results(journey)
    # An early converter waits for its window like everybody else: no 100 % of 1.
    assert (results.treated.n, results.treated.converted) == (0, 0)
    assert (results.treated_open, results.holdout_open) == (len(treated), len(holdout))
    assert results.uplift is None
    frozen_time.shift(dt.timedelta(days=11))
    results = journey_results(journey)
    assert (results.treated.n, results.treated.converted) == (len(treated), 1)
    assert (results.holdout.n, results.holdout.converted) == (len(holdout), 0)
    assert results.in_progress == 0
    assert results.uplift is not None
    expected = uplift_interval(1, len(treated), 0, len(holdout))
    assert (results.uplift.diff, results.uplift.low, results.uplift.high) == expected
    [row] = journey_list_stats()
    assert row.results == results
    assert (row.active, row.waiting, row.holdout_total) == (
        len(treated),
        len(treated),
        len(holdout),
    )
    assert row.converted == 1  # reaching the goal counts, whatever the status says


# --- pages ---------------------------------------------------------------------------------


def test_journey_list_shows_counts_and_uplift_in_fixed_queries(db, frozen_time):
    user = staff(Role.OWNER)
    owner = logged_in(user)
    make_journey("one", flow(holdout_percent=50))
    enroll(Journey.objects.get(slug="one"), 6)
    advance_due()
    with CaptureQueriesContext(connection) as few:
        response = owner.get(reverse("web:journeys"))
    assert response.status_code == 200
    for n in range(2, 6):
        journey = make_journey(f"j{n}", flow(holdout_percent=20))
        enroll(journey, 3)
    journey_create(
        name="Draft", slug="draft", definition={"trigger": {"kind": "manual"}, "start": None}
    )
    advance_due()
    frozen_time.shift(dt.timedelta(days=11))
    owner.force_login(user)  # eleven idle days end a staff session
    with CaptureQueriesContext(connection) as many:
        response = owner.get(reverse("web:journeys"))
    assert len(many) == len(few)
    html = response.content.decode()
    assert "Journey j5" in html and "Draft" in html
    assert " pp" in html  # an uplift with its interval


def test_journey_page_draws_the_flow_with_counts_in_fixed_queries(db, frozen_time):
    user = staff(Role.OWNER)
    owner = logged_in(user)
    Template.objects.create(
        slug="thanks", name="Спасибо за покупку", channel="email", body_text="x"
    )
    definition = {**WITH_SEND, "holdout_percent": 30}
    journey = journey_create(name="Welcome", slug="welcome", definition=definition)
    url = reverse("web:journey", kwargs={"pk": journey.pk})
    with CaptureQueriesContext(connection) as empty:
        response = owner.get(url)
    assert response.status_code == 200
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    enrollments = enroll(journey, 8)
    for e in enrollments:
        if not e.holdout:
            Message.objects.create(
                customer_id=e.customer_id,
                dedupe_key=f"m{e.pk}",
                channel="email",
                purpose="marketing",
                journey_id=journey.pk,
                node_id="hello",
                sent_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
            )
        StepRun.objects.create(enrollment=e, node_id="hello", visit=1)
    Enrollment.objects.filter(pk=enrollments[0].pk).update(
        goal_met_at=dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    )
    frozen_time.shift(dt.timedelta(days=11))
    owner.force_login(user)  # eleven idle days end a staff session
    with CaptureQueriesContext(connection) as full:
        response = owner.get(url)
    assert len(full) == len(empty)
    html = response.content.decode()
    assert "Send «Спасибо за покупку» by Email" in html
    assert "Wait 3 days" in html
    assert "A · 50 %" in html
    assert "Only when staff add a customer by hand" in html
    assert "The customer placed an order within 10 days of entering" in html
    assert 'id="journey-results"' in html
    assert "chart.umd.min.js" in html


def test_editor_rejects_a_bad_definition_readably_and_saves_a_good_one_as_version_2(db):
    marketer = logged_in(staff(Role.MARKETER))
    journey = journey_create(name="Welcome", slug="welcome", definition=FLOW)
    url = reverse("web:journey_edit", kwargs={"pk": journey.pk})
    page = marketer.get(url)
    assert page.status_code == 200
    assert "Saving creates version 2" in page.content.decode()
    form = {
        "trigger_kind": "manual",
        "reentry_policy": "once",
        "holdout_percent": "10",
        "goal_enabled": "on",
        "goal_event": "order_placed",
        "goal_within_days": "14",
    }
    bad_nodes = [
        {"id": "hello", "type": "send", "channel": "email", "next": "gone"},
        {"id": "later", "type": "wait"},
    ]
    response = marketer.post(url, {**form, "nodes": json.dumps(bad_nodes)})
    assert response.status_code == 400
    html = response.content.decode()
    assert "nothing was saved" in html
    assert "node «hello» (send) › template" in html
    assert "Field required" in html
    assert "node «later» (wait)" in html and "a wait needs a duration" in html
    assert journey.versions.count() == 1

    response = marketer.post(url, {**form, "nodes": "[{"})
    assert response.status_code == 400
    assert "Not valid JSON" in response.content.decode()

    good_nodes = [
        {"id": "later", "type": "wait", "days": 2, "next": "bye"},
        {"id": "bye", "type": "exit"},
    ]
    response = marketer.post(url, {**form, "nodes": json.dumps(good_nodes)}, follow=True)
    assert response.status_code == 200
    journey.refresh_from_db()
    assert journey.current_version.number == 2
    saved = journey.current_version.parsed()
    assert saved.start == "later"  # the first node when the field is left empty
    assert saved.holdout_percent == 10 and saved.goal.within_days == 14
    assert "Saved as version 2" in response.content.decode()


def test_editor_says_running_customers_stay_on_their_version(db, frozen_time):
    owner = logged_in(staff(Role.OWNER))
    journey = make_journey()
    enroll(journey, 1)
    url = reverse("web:journey_edit", kwargs={"pk": journey.pk})
    initial = owner.get(url).context["form"].initial
    data = {k: v for k, v in initial.items() if v is not None and v is not False}
    response = owner.post(url, data, follow=True)
    assert "Customers already in the journey stay on version 1" in response.content.decode()


def test_create_then_start_pause_resume_archive(db):
    marketer = logged_in(staff(Role.MARKETER))
    response = marketer.post(
        reverse("web:journey_new"), {"name": "Возврат", "slug": "winback", "description": ""}
    )
    journey = Journey.objects.get(slug="winback")
    assert response["Location"] == reverse("web:journey_edit", kwargs={"pk": journey.pk})
    assert (
        marketer.post(reverse("web:journey_new"), {"name": "X", "slug": "winback"}).status_code
        == 400
    )
    status_url = reverse("web:journey_status", kwargs={"pk": journey.pk})
    marketer.post(status_url, {"action": "activate"})
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.DRAFT  # no steps yet
    journey_version_save(journey=journey, definition=FLOW)
    # FLOW awards points, and a launch checks the loyalty programme is on.
    Programme.objects.update_or_create(pk=1, defaults={"enabled": True})
    for action, status in [
        ("activate", JourneyStatus.ACTIVE),
        ("pause", JourneyStatus.PAUSED),
        ("resume", JourneyStatus.ACTIVE),
        ("archive", JourneyStatus.ARCHIVED),
    ]:
        marketer.post(status_url, {"action": action})
        journey.refresh_from_db()
        assert journey.status == status
    marketer.post(status_url, {"action": "resume"})
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ARCHIVED
    assert marketer.get(reverse("web:journey_edit", kwargs={"pk": journey.pk})).status_code == 302


def test_enrollments_cancelled_by_archive_leave_the_counts(running):
    journey, _enrollments = running
    journey_status_set(journey=journey, status=JourneyStatus.ARCHIVED)
    assert not Enrollment.objects.filter(journey=journey, status=EnrollmentStatus.ACTIVE).exists()
    [row] = journey_list_stats()
    assert row.active == 0 and row.cancelled > 0


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ANALYST])
def test_readers_see_journeys_but_not_the_editor(db, role):
    client = logged_in(staff(role))
    journey = journey_create(name="Welcome", slug="welcome", definition=FLOW)
    assert client.get(reverse("web:journey", kwargs={"pk": journey.pk})).status_code == 200
    assert client.get(reverse("web:journey_edit", kwargs={"pk": journey.pk})).status_code == 403
    html = client.get(reverse("web:journeys")).content.decode()
    assert reverse("web:journey_new") not in html


def test_editor_picks_a_segment_for_a_segment_trigger(db):
    owner = logged_in(staff(Role.OWNER))
    segment = Segment.objects.create(name="Спящие", rules={"op": "and", "rules": []})
    journey = journey_create(name="Welcome", slug="welcome", definition=FLOW)
    url = reverse("web:journey_edit", kwargs={"pk": journey.pk})
    form = {
        "trigger_kind": "segment_entered",
        "reentry_policy": "once",
        "holdout_percent": "0",
        "nodes": json.dumps(FLOW["nodes"]),
    }
    response = owner.post(url, form)
    assert response.status_code == 400
    assert "a segment trigger needs a segment" in response.content.decode()
    owner.post(url, {**form, "trigger_segment": str(segment.pk)})
    journey.refresh_from_db()
    assert journey.current_version.parsed().trigger.segment_id == segment.pk
    page = owner.get(reverse("web:journey", kwargs={"pk": journey.pk})).content.decode()
    assert "When a customer enters the segment «Спящие»" in page


def test_journey_page_reads_in_russian(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.force_login(staff(Role.ANALYST))
    journey = journey_create(name="Welcome", slug="welcome", definition=WITH_SEND)
    with translation.override("ru"):
        response = client.get(reverse("web:journey", kwargs={"pk": journey.pk}))
    assert response.status_code == 200
    assert '<html lang="ru"' in response.content.decode()


def test_editor_saves_where_a_29_february_birthday_falls_in_other_years(db):
    marketer = logged_in(staff(Role.MARKETER))
    journey = journey_create(name="Birthday", slug="birthday", definition=FLOW)
    url = reverse("web:journey_edit", kwargs={"pk": journey.pk})
    assert "29 February" in marketer.get(url).content.decode()
    nodes = [{"id": "bye", "type": "exit"}]
    form = {"trigger_kind": "birthday", "reentry_policy": "once", "holdout_percent": "0"}
    response = marketer.post(url, {**form, "trigger_leap_day": "mar1", "nodes": json.dumps(nodes)})
    assert response.status_code == 302
    journey.refresh_from_db()
    assert journey.current_version.parsed().trigger.leap_day == "mar1"
