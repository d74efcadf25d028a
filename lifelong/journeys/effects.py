"""What action nodes do. Every effect is a database row written in the step's transaction,
keyed by (enrollment, node, visit), so a re-run after a crash finds it already there.

A message step whose template, survey or channel is gone (or whose template has nothing for
the channel) did not do its work because of how the journey is set up, not because of the
customer: its outcome starts with PROBLEM, the engine records it as a problem step, and the
journey pages count it on the node and on the journeys list. The enrollment then moves on
as after any step: holding customers until someone fixes the template would send the
message late, out of step with the waits around it ("thanks for your order" a month on),
and would hold back the rest of the journey too. The problem is fixed for the customers
who enter after the fix; launching refuses a journey with such problems in the first place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lifelong import clock
from lifelong.community.models import Club, InviteSource
from lifelong.community.services import club_invite_context
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import customer_tag_remove, customer_tags_add
from lifelong.feedback.models import Survey
from lifelong.feedback.sending import survey_send
from lifelong.followups.models import TaskSource
from lifelong.followups.services import task_create
from lifelong.journeys.definition import (
    CallWebhook,
    ClubInviteSend,
    CreateTask,
    Send,
    SetAttribute,
    SurveySend,
    TagChange,
)
from lifelong.journeys.models import Enrollment
from lifelong.journeys.problems import PREFERRED, template_sends_on
from lifelong.messaging.models import WEBHOOK, ChannelConfig, Template
from lifelong.messaging.services import channel_choose, message_enqueue

# The outcome of a step that could not do its work (see the module docstring).
PROBLEM = "problem: "


def node_effect(
    node: Any,
    *,
    enrollment: Enrollment,
    customer: Customer,
    key: str,
    shared: dict[Any, Any] | None = None,
) -> str:
    """Apply an action node; returns a short outcome for the step record.

    `shared` holds what the node's lookups found (template, channel set-up, club) for the
    other enrollments of the same group: the engine makes a new one for each attempt at a
    group, so nothing found in a rolled-back attempt is used after it.
    """
    shared = {} if shared is None else shared
    if isinstance(node, Send):
        return _send(node, enrollment=enrollment, customer=customer, key=key, shared=shared)
    if isinstance(node, SurveySend):
        problem = _survey_problem(node, customer, shared)
        if problem:
            return PROBLEM + problem
        # The invite's key is the step's (enrollment, node, visit): one invite and one
        # message per visit, however often the step runs.
        return survey_send(
            survey_id=node.survey,
            template_slug=node.template,
            channel=node.channel,
            customer=customer,
            key=f"journey:{key}",
            context={"journey": enrollment.context},
            journey_id=enrollment.journey_id,
            enrollment_id=enrollment.pk,
            node_id=node.id,
        )
    if isinstance(node, ClubInviteSend):
        return _club_invite(node, enrollment=enrollment, customer=customer, key=key, shared=shared)
    if isinstance(node, CreateTask):
        task_create(
            customer=customer,
            title=node.title,
            due_at=clock.now() + dt.timedelta(hours=node.due_hours),
            source=TaskSource.JOURNEY,
            source_ref=key,
        )
        return "task created"
    if isinstance(node, TagChange):
        if node.action == "add":
            customer_tags_add(customer=customer, names=[node.tag])
        else:
            customer_tag_remove(customer=customer, name=node.tag)
        return f"tag {node.action}"
    if isinstance(node, SetAttribute):
        Customer.objects.filter(pk=customer.pk).update(
            attributes={**customer.attributes, node.key: node.value}
        )
        customer.attributes = {**customer.attributes, node.key: node.value}
        return "attribute set"
    if isinstance(node, CallWebhook):
        message_enqueue(
            customer=customer,
            dedupe_key=key,
            channel=WEBHOOK,
            purpose=Purpose.TRANSACTIONAL,
            payload={
                "url": str(node.url),
                "type": "journey.step",
                "journey_id": enrollment.journey_id,
                "node_id": node.id,
                "customer": {"id": customer.pk, "external_id": customer.external_id},
                "context": enrollment.context,
            },
            journey_id=enrollment.journey_id,
            enrollment_id=enrollment.pk,
            node_id=node.id,
        )
        return "webhook queued"
    raise ValueError(f"no effect for node type {node.type!r}")


def _once(shared: dict[Any, Any], key: tuple[Any, ...], find: Any) -> Any:
    """What `find()` returns, looked up once per group attempt (see node_effect)."""
    if key not in shared:
        shared[key] = find()
    return shared[key]


def _template(slug: str, shared: dict[Any, Any]) -> Template | None:
    found: Template | None = _once(
        shared, ("template", slug), lambda: Template.objects.filter(slug=slug).first()
    )
    return found


def _channel_off(channel: str, shared: dict[Any, Any]) -> bool:
    if channel == PREFERRED:
        return False
    active: bool = _once(
        shared,
        ("channel", channel),
        lambda: ChannelConfig.objects.filter(channel=channel, active=True).exists(),
    )
    return not active


def _survey_problem(node: SurveySend, customer: Customer, shared: dict[Any, Any]) -> str:
    """Why the survey step cannot ask this customer, as a problem; "" when it can."""
    survey = _once(shared, ("survey", node.survey), Survey.objects.filter(pk=node.survey).exists)
    if not survey:
        return "survey missing"
    template = _template(node.template, shared)
    if template is None:
        return "template missing"
    if _channel_off(node.channel, shared):
        return f"channel {node.channel} not set up"
    # The channel survey_send will choose (the same choice, made on the same rows).
    channel = _channel_for(node.channel, customer=customer, template=template)
    if channel is not None and not template_sends_on(template, channel, language=customer.language):
        return f"template has nothing for {channel}"
    return ""


def _channel_for(channel: str, *, customer: Customer, template: Template) -> str | None:
    """The node's channel, or for "preferred" the first that reaches the customer and that the
    template has words for. A customer reached only where the template has none gets that
    channel back, so the step records the missing text as a problem instead of a quiet skip."""
    if channel != PREFERRED:
        return channel
    chosen = channel_choose(customer=customer, purpose=template.purpose, template=template)
    return chosen or channel_choose(customer=customer, purpose=template.purpose)


def _send(
    node: Send | ClubInviteSend,
    *,
    enrollment: Enrollment,
    customer: Customer,
    key: str,
    shared: dict[Any, Any],
    extra: dict[str, Any] | None = None,
) -> str:
    template = _template(node.template, shared)
    if template is None:
        return PROBLEM + "template missing"
    if _channel_off(node.channel, shared):
        return PROBLEM + f"channel {node.channel} not set up"
    channel = _channel_for(node.channel, customer=customer, template=template)
    if channel is None:
        return "skipped: no channel reaches the customer"
    if not template_sends_on(template, channel, language=customer.language):
        return PROBLEM + f"template has nothing for {channel}"
    message_enqueue(
        customer=customer,
        dedupe_key=key,
        channel=channel,
        purpose=template.purpose,
        template=template,
        context={"journey": enrollment.context, **(extra or {})},
        journey_id=enrollment.journey_id,
        enrollment_id=enrollment.pk,
        node_id=node.id,
    )
    return f"queued on {channel}"


def _club_invite(
    node: ClubInviteSend,
    *,
    enrollment: Enrollment,
    customer: Customer,
    key: str,
    shared: dict[Any, Any],
) -> str:
    """The invitation goes only to customers the club admits now; the message carries our join
    address, and the Telegram link behind it is made when the customer opens it."""
    club = _once(shared, ("club", node.club), Club.objects.filter(pk=node.club).first)
    if club is None:
        return PROBLEM + "club missing"
    if not club.active:
        return PROBLEM + "club switched off"
    if _template(node.template, shared) is None:
        return PROBLEM + "template missing"
    if _channel_off(node.channel, shared):
        return PROBLEM + f"channel {node.channel} not set up"
    invitation = club_invite_context(club=club, customer=customer, source=InviteSource.JOURNEY)
    if invitation is None:
        return "skipped: not admitted to the club or already in it"
    return _send(
        node, enrollment=enrollment, customer=customer, key=key, shared=shared, extra=invitation
    )
