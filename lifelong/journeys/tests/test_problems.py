"""Journey problems: every reference a definition makes is checked before launch, and a send
step whose template or channel vanished is recorded as a problem step, never a silent pass."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Survey, SurveyKind
from lifelong.journeys.definition import definition_parse
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import EnrollmentStatus, Journey, JourneyStatus, StepRun
from lifelong.journeys.problems import Problem, definition_problems, definitions_problems
from lifelong.journeys.selectors import journey_list_stats, node_stats
from lifelong.journeys.services import (
    JourneyProblems,
    enrollment_start,
    journey_create,
    journey_launch,
    journey_status_set,
)
from lifelong.loyalty.models import Programme
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.segments.models import Segment

pytestmark = pytest.mark.django_db

SEND = {"id": "hello", "type": "send", "template": "thanks", "channel": "email"}
PAUSE = {"id": "pause", "type": "wait", "days": 1}


def definition(*nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "trigger": {"kind": "manual"},
        "start": nodes[0]["id"] if nodes else None,
        "nodes": list(nodes),
        **extra,
    }


def problems_of(data: dict[str, Any]) -> list[Problem]:
    with translation.override("en"):
        return definition_problems(definition_parse(data))


@pytest.fixture
def shop(db) -> None:
    """Email set up and a template that has an email text (and nothing else)."""
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    Template.objects.create(
        slug="thanks", name="Thank you", channel="email", subject="Thanks", body_text="Thanks!"
    )


def test_a_journey_whose_references_all_hold_has_no_problems(shop, django_assert_max_num_queries):
    Programme.objects.update_or_create(pk=1, defaults={"enabled": True})
    segment = Segment.objects.create(name="Regulars", rules={"op": "and", "rules": []})
    survey = Survey.objects.create(name="NPS", kind=SurveyKind.NPS)
    data = definition(
        {**SEND, "next": "vip"},
        {"id": "vip", "type": "condition", "in_segment": segment.pk, "yes": "ask", "no": "opened"},
        {"id": "ask", "type": "survey", "survey": survey.pk, "template": "thanks", "next": "gift"},
        {"id": "gift", "type": "award_points", "points": 10, "next": "opened"},
        {
            "id": "opened",
            "type": "wait_event",
            "events": ["message_opened"],
            "timeout_hours": 24,
            "on_timeout": "crm",
        },
        {"id": "crm", "type": "webhook", "url": "https://93.184.216.34/hook"},
        goal={"event": "order_placed", "within_days": 30},
    )
    # A fixed handful of reads, whatever the number of nodes.
    with django_assert_max_num_queries(6):
        assert problems_of(data) == []


def test_a_missing_template_is_named(shop):
    assert problems_of(definition({**SEND, "template": "gone"})) == [
        Problem("hello", 'There is no template with the code "gone".')
    ]


def test_a_template_without_text_for_the_nodes_channel(shop):
    ChannelConfig.objects.create(channel="telegram", transport="sandbox")
    assert problems_of(definition({**SEND, "channel": "telegram"})) == [
        Problem("hello", 'The template "Thank you" has no text for Telegram.')
    ]
    # Its messenger text (or a short text) is what a Telegram step needs.
    Template.objects.filter(slug="thanks").update(messenger_text="Спасибо!")
    assert problems_of(definition({**SEND, "channel": "telegram"})) == []


def test_the_preferred_channel_needs_one_set_up_channel_the_template_can_send_on(shop):
    preferred = definition({**SEND, "channel": "preferred"})
    assert problems_of(preferred) == []
    ChannelConfig.objects.filter(channel="email").update(active=False)
    ChannelConfig.objects.create(channel="sms", transport="sandbox")
    assert problems_of(preferred) == [
        Problem(
            "hello",
            'The template "Thank you" has nothing to send on any channel that is set up and on.',
        )
    ]
    Template.objects.filter(slug="thanks").update(short_text="Спасибо!")
    assert problems_of(preferred) == []


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ("sms", "The SMS channel is not set up or is switched off."),
        ("fax", 'There is no channel called "fax".'),
    ],
    ids=["not-set-up", "no-such-channel"],
)
def test_a_channel_not_set_up_or_unknown(shop, channel, message):
    assert problems_of(definition({**SEND, "channel": channel})) == [Problem("hello", message)]


def test_a_switched_off_channel(shop):
    ChannelConfig.objects.filter(channel="email").update(active=False)
    assert problems_of(definition(SEND)) == [
        Problem("hello", "The Email channel is not set up or is switched off.")
    ]


def test_missing_segments_in_the_trigger_and_in_a_condition(shop):
    data = definition(
        {"id": "vip", "type": "condition", "in_segment": 404, "yes": "hello"},
        SEND,
        trigger={"kind": "segment_entered", "segment_id": 405},
    )
    assert problems_of(data) == [
        Problem(None, "There is no segment number 405."),
        Problem("vip", "There is no segment number 404."),
    ]


def test_unknown_event_types_in_the_trigger_the_goal_and_a_wait(shop):
    data = definition(
        {
            "id": "opened",
            "type": "wait_event",
            "events": ["message_opened", "mesage_clicked"],
            "timeout_hours": 24,
        },
        trigger={"kind": "event", "event_type": "webinar_joined"},
        goal={"event": "order_place", "within_days": 30},
    )
    assert problems_of(data) == [
        Problem(None, 'No event "webinar_joined" has ever been recorded in this shop.'),
        Problem(None, 'The goal waits for the event "order_place", which this shop never records.'),
        Problem("opened", 'No event "mesage_clicked" has ever been recorded in this shop.'),
    ]
    # A shop's own event type is known once one has arrived.
    event_record(customer=CustomerFactory.create(), type="webinar_joined", properties={})
    assert Problem(
        None, 'No event "webinar_joined" has ever been recorded in this shop.'
    ) not in problems_of(data)


def test_a_missing_survey(shop):
    node = {"id": "ask", "type": "survey", "survey": 77, "template": "thanks", "channel": "email"}
    assert problems_of(definition(node)) == [Problem("ask", "There is no survey number 77.")]


def test_awarding_points_needs_the_loyalty_programme_on(shop):
    data = definition({"id": "gift", "type": "award_points", "points": 100})
    assert problems_of(data) == [
        Problem("gift", "Points are awarded only while the loyalty programme is on.")
    ]
    Programme.objects.update_or_create(pk=1, defaults={"enabled": True})
    assert problems_of(data) == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest"],
    ids=["loopback", "private", "metadata"],
)
def test_a_webhook_to_a_private_address(shop, url):
    assert problems_of(definition({"id": "crm", "type": "webhook", "url": url})) == [
        Problem(
            "crm", f"The webhook address {url} is inside a private network; it will not be called."
        )
    ]


def test_a_journey_without_steps(shop):
    assert problems_of(definition()) == [
        Problem(None, "Add at least one step before starting the journey.")
    ]


def test_many_definitions_read_the_shop_once_and_find_what_each_finds_alone(
    shop, django_assert_max_num_queries
):
    Programme.objects.update_or_create(pk=1, defaults={"enabled": True})
    many = [
        definition_parse(data)
        for data in (
            definition({**SEND, "template": "gone"}),
            definition({"id": "vip", "type": "condition", "in_segment": 404}),
            definition({"id": "gift", "type": "award_points", "points": 1}),
            definition(SEND, goal={"event": "order_place", "within_days": 30}),
            definition(),
        )
    ]
    with translation.override("en"):
        alone = [definition_problems(d) for d in many]
        with django_assert_max_num_queries(6):
            together = definitions_problems(many)
    assert together == alone
    assert [len(found) for found in together] == [1, 1, 0, 1, 1]


def test_problems_read_in_russian(shop):
    with translation.override("ru"):
        found = definition_problems(definition_parse(definition({**SEND, "template": "gone"})))
    assert found == [Problem("hello", "Шаблона с кодом «gone» нет.")]


# --- launching ---------------------------------------------------------------------------


def test_launch_refuses_with_the_list_and_changes_nothing(shop):
    journey = journey_create(
        name="Welcome",
        slug="welcome",
        definition=definition({**SEND, "template": "gone", "next": "pause"}, PAUSE),
    )
    with translation.override("en"), pytest.raises(JourneyProblems) as refused:
        journey_launch(journey=journey)
    assert refused.value.problems == [
        Problem("hello", 'There is no template with the code "gone".')
    ]
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.DRAFT
    Template.objects.create(slug="gone", name="Back", channel="email", body_text="Hi")
    journey_launch(journey=journey)
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.ACTIVE


def test_resuming_is_checked_again(shop):
    journey = journey_create(
        name="Welcome", slug="welcome", definition=definition({**SEND, "next": "pause"}, PAUSE)
    )
    journey_launch(journey=journey)
    journey_status_set(journey=journey, status=JourneyStatus.PAUSED)
    Template.objects.filter(slug="thanks").delete()
    with pytest.raises(JourneyProblems):
        journey_launch(journey=journey)
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.PAUSED


# --- at run time -------------------------------------------------------------------------


def _running(data: dict[str, Any], customers: int = 2) -> Journey:
    journey = journey_create(name="Welcome", slug="welcome", definition=data)
    journey_launch(journey=journey)
    journey.refresh_from_db()
    for _ in range(customers):
        customer = CustomerFactory.create(email="c@example.com", preferred_channel="email")
        consent_record(
            customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
        )
        enrollment_start(journey=journey, customer=customer)
    return journey


@pytest.mark.parametrize(
    ("vanish", "outcome"),
    [
        (lambda: Template.objects.filter(slug="thanks").delete(), "problem: template missing"),
        (
            lambda: ChannelConfig.objects.filter(channel="email").update(active=False),
            "problem: channel email not set up",
        ),
        (
            lambda: Template.objects.filter(slug="thanks").update(body_text="", body_html=""),
            "problem: template has nothing for email",
        ),
    ],
    ids=["template-deleted", "channel-off", "template-emptied"],
)
def test_a_send_step_whose_template_or_channel_vanished_is_a_problem_step(
    shop, frozen_time, vanish, outcome
):
    journey = _running(definition({**SEND, "next": "pause"}, PAUSE))
    vanish()
    advance_due()
    steps = StepRun.objects.filter(node_id="hello")
    assert [(s.problem, s.outcome) for s in steps] == [(True, outcome)] * 2
    assert not Message.objects.exists()
    # The customers move on (the module docstring of effects says why) with the problem kept.
    assert set(journey.enrollments.values_list("current_node", flat=True)) == {"pause"}
    counts = node_stats(journey)["hello"]
    assert (counts.problems, counts.passed) == (2, 0)
    [listed] = journey_list_stats()
    assert listed.problems == 2


def test_a_preferred_channel_without_the_templates_text_gives_way_to_one_with_it(shop, frozen_time):
    ChannelConfig.objects.create(channel="telegram", transport="sandbox")
    journey = _running(
        definition({**SEND, "channel": "preferred", "next": "pause"}, PAUSE), customers=1
    )
    customer = journey.enrollments.get().customer
    customer.preferred_channel = "telegram"
    customer.telegram_chat_id = "42"
    customer.save()
    consent_record(
        customer=customer, channel="telegram", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    advance_due()
    step = StepRun.objects.get(node_id="hello")
    assert (step.problem, step.outcome) == (False, "queued on email")
    assert Message.objects.get().channel == "email"


def test_a_customer_reached_only_where_the_template_is_silent_is_a_problem_step(shop, frozen_time):
    ChannelConfig.objects.create(channel="telegram", transport="sandbox")
    journey = _running(
        definition({**SEND, "channel": "preferred", "next": "pause"}, PAUSE), customers=1
    )
    customer = journey.enrollments.get().customer
    customer.preferred_channel = "telegram"
    customer.telegram_chat_id = "42"
    customer.email = ""
    customer.save()
    consent_record(
        customer=customer, channel="telegram", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    advance_due()
    assert (
        StepRun.objects.get(node_id="hello").outcome == "problem: template has nothing for telegram"
    )
    assert not Message.objects.exists()


def test_a_step_that_sends_is_not_a_problem(shop, frozen_time):
    journey = _running(definition({**SEND, "next": "pause"}, PAUSE), customers=1)
    advance_due()
    step = StepRun.objects.get(node_id="hello")
    assert not step.problem and step.outcome == "queued on email"
    assert node_stats(journey)["hello"].passed == 1
    assert journey_list_stats()[0].problems == 0
    assert journey.enrollments.get().status == EnrollmentStatus.ACTIVE


@pytest.mark.parametrize(
    ("vanish", "outcome"),
    [
        (lambda survey: survey.delete(), "problem: survey missing"),
        (
            lambda survey: Template.objects.filter(slug="thanks").update(body_text=""),
            "problem: template has nothing for email",
        ),
    ],
    ids=["survey-deleted", "template-emptied"],
)
def test_a_survey_step_whose_survey_or_text_vanished_is_a_problem_step(
    shop, frozen_time, vanish, outcome
):
    survey = Survey.objects.create(name="NPS", kind=SurveyKind.NPS)
    node = {"id": "ask", "type": "survey", "survey": survey.pk, "template": "thanks"}
    journey = _running(definition({**node, "next": "pause"}, PAUSE), customers=1)
    vanish(survey)
    advance_due()
    step = StepRun.objects.get(node_id="ask")
    assert (step.problem, step.outcome) == (True, outcome)
    assert node_stats(journey)["ask"].problems == 1
