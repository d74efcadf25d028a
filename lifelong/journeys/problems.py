"""What stops a journey's definition from working in this shop, found before it runs.

`definition.py` checks the graph's shape; this checks what the graph names against the
database: templates, channels, segments, surveys, clubs, event types, the loyalty programme
and webhook addresses. A journey with problems may be saved (a draft is work in progress) but
not launched (`services.journey_launch` refuses).

Every check reads in bulk: a fixed handful of queries whatever the number of nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from lifelong.community.models import Club
from lifelong.customers.models import Channel
from lifelong.events.catalogue import event_types_unknown
from lifelong.feedback.models import Survey
from lifelong.journeys.definition import (
    AwardPoints,
    CallWebhook,
    ClubInviteSend,
    Condition,
    Definition,
    Send,
    SurveySend,
    WaitEvent,
)
from lifelong.lib.outbound import OutboundRefused, url_check
from lifelong.loyalty.models import Programme
from lifelong.messaging.models import ChannelConfig, Template
from lifelong.messaging.variants import variant_for
from lifelong.segments.models import Segment

PREFERRED = "preferred"


@dataclass(frozen=True)
class Problem:
    node_id: str | None  # None: the journey as a whole (trigger, goal)
    message: str  # translated, human, names things as the marketer sees them


def template_sends_on(template: Template, channel: str, *, language: str = "") -> bool:
    """True when the template has something to send on this channel (its own variant or
    the short text; never the email body on a messenger)."""
    return variant_for(template, channel, language=language) is not None


def channel_name(channel: str) -> str:
    return str(dict(Channel.choices).get(channel, channel))


@dataclass(frozen=True)
class _Shop:
    """What the definition names, as it is in the database now."""

    templates: dict[str, Template]
    channels: frozenset[str]  # configured and active
    segments: frozenset[int]
    surveys: frozenset[int]
    clubs: frozenset[int]  # active ones
    loyalty_on: bool
    unknown_events: frozenset[str]


def _shop_load(definitions: Sequence[Definition]) -> _Shop:
    nodes = [node for definition in definitions for node in definition.nodes]
    slugs = {n.template for n in nodes if isinstance(n, Send | SurveySend | ClubInviteSend)}
    segment_ids = {n.in_segment for n in nodes if isinstance(n, Condition)}
    segment_ids |= {d.trigger.segment_id for d in definitions}
    segment_ids.discard(None)
    survey_ids = {n.survey for n in nodes if isinstance(n, SurveySend)}
    club_ids = {n.club for n in nodes if isinstance(n, ClubInviteSend)}
    return _Shop(
        templates=({t.slug: t for t in Template.objects.filter(slug__in=slugs)} if slugs else {}),
        channels=frozenset(
            ChannelConfig.objects.filter(active=True).values_list("channel", flat=True)
        ),
        segments=(
            frozenset(Segment.objects.filter(pk__in=segment_ids).values_list("pk", flat=True))
            if segment_ids
            else frozenset()
        ),
        surveys=(
            frozenset(Survey.objects.filter(pk__in=survey_ids).values_list("pk", flat=True))
            if survey_ids
            else frozenset()
        ),
        clubs=(
            frozenset(
                Club.objects.filter(pk__in=club_ids, active=True).values_list("pk", flat=True)
            )
            if club_ids
            else frozenset()
        ),
        loyalty_on=any(isinstance(n, AwardPoints) for n in nodes) and Programme.read().enabled,
        unknown_events=frozenset(
            event_types_unknown(set().union(*(_event_types(d) for d in definitions)))
        ),
    )


def _event_types(definition: Definition) -> set[str]:
    types: set[str] = set()
    if definition.trigger.kind == "event" and definition.trigger.event_type:
        types.add(definition.trigger.event_type)
    if definition.goal is not None:
        types.add(definition.goal.event)
    for node in definition.nodes:
        if isinstance(node, WaitEvent):
            types.update(node.events)
    return types


def definition_problems(definition: Definition) -> list[Problem]:
    """Every reference the definition makes that this shop cannot honour, in node order."""
    return definitions_problems([definition])[0]


def definitions_problems(definitions: Sequence[Definition]) -> list[list[Problem]]:
    """`definition_problems` for each definition, reading the shop once for all (a list page)."""
    if not definitions:
        return []
    shop = _shop_load(definitions)
    found = []
    for definition in definitions:
        problems = _journey_problems(definition, shop)
        for node in definition.nodes:
            problems += [Problem(node.id, message) for message in _node_problems(node, shop)]
        found.append(problems)
    return found


def _journey_problems(definition: Definition, shop: _Shop) -> list[Problem]:
    problems: list[Problem] = []
    if definition.start is None:
        problems.append(Problem(None, _("Add at least one step before starting the journey.")))
    trigger = definition.trigger
    if trigger.kind == "event" and trigger.event_type in shop.unknown_events:
        problems.append(Problem(None, _event_unknown(trigger.event_type or "")))
    if trigger.segment_id is not None and trigger.segment_id not in shop.segments:
        problems.append(Problem(None, _segment_missing(trigger.segment_id)))
    if definition.goal is not None and definition.goal.event in shop.unknown_events:
        problems.append(
            Problem(
                None,
                _('The goal waits for the event "%(event)s", which this shop never records.')
                % {"event": definition.goal.event},
            )
        )
    return problems


def _node_problems(node: Any, shop: _Shop) -> list[str]:
    if isinstance(node, Send | SurveySend | ClubInviteSend):
        problems = _send_problems(node, shop)
        if isinstance(node, SurveySend) and node.survey not in shop.surveys:
            problems.append(_("There is no survey number %(id)d.") % {"id": node.survey})
        if isinstance(node, ClubInviteSend) and node.club not in shop.clubs:
            problems.append(
                _("There is no club number %(id)d, or it is switched off.") % {"id": node.club}
            )
        return problems
    if isinstance(node, WaitEvent):
        return [_event_unknown(event) for event in node.events if event in shop.unknown_events]
    if isinstance(node, Condition):
        if node.in_segment is not None and node.in_segment not in shop.segments:
            return [_segment_missing(node.in_segment)]
        return []
    if isinstance(node, AwardPoints) and not shop.loyalty_on:
        return [_("Points are awarded only while the loyalty programme is on.")]
    if isinstance(node, CallWebhook):
        return _webhook_problems(str(node.url))
    return []


def _send_problems(node: Send | SurveySend | ClubInviteSend, shop: _Shop) -> list[str]:
    template = shop.templates.get(node.template)
    if node.channel != PREFERRED and node.channel not in Channel.values:
        return [_('There is no channel called "%(channel)s".') % {"channel": node.channel}]
    if node.channel != PREFERRED and node.channel not in shop.channels:
        return [
            _("The %(channel)s channel is not set up or is switched off.")
            % {"channel": channel_name(node.channel)}
        ]
    if template is None:
        return [_('There is no template with the code "%(code)s".') % {"code": node.template}]
    if node.channel == PREFERRED:
        if not any(template_sends_on(template, channel) for channel in shop.channels):
            return [
                _(
                    'The template "%(template)s" has nothing to send on any channel that is '
                    "set up and on."
                )
                % {"template": template.name}
            ]
        return []
    if not template_sends_on(template, node.channel):
        return [
            _('The template "%(template)s" has no text for %(channel)s.')
            % {"template": template.name, "channel": channel_name(node.channel)}
        ]
    return []


def _webhook_problems(url: str) -> list[str]:
    try:
        url_check(url)
    except OutboundRefused:
        return [
            _("The webhook address %(url)s is inside a private network; it will not be called.")
            % {"url": url}
        ]
    return []


def _event_unknown(event: str) -> str:
    return _('No event "%(event)s" has ever been recorded in this shop.') % {"event": event}


def _segment_missing(segment_id: int) -> str:
    return _("There is no segment number %(id)d.") % {"id": segment_id}
