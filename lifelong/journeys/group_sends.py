"""Message nodes (send, club invitation, survey) run for a whole group of enrollments at once.

The node's set-up (template, channel, club, survey) is looked up once for the group; a set-up
that keeps the step from doing its work is a PROBLEM outcome for every enrollment (effects.py
says why they move on all the same). The customers' channels are chosen for the group in a
few queries (`reach.channels_choose`), and the messages are rendered and stored by one
`outbox.messages_enqueue_many` call, each keyed by its step, so a re-run queues nothing twice.
A render that fails for one customer fails the call and with it the group's attempt: the
engine halves the group until that enrollment stands alone, retries it later, and moves the
others on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lifelong.community.models import Club, InviteSource
from lifelong.community.services import club_invite_context
from lifelong.customers.models import Customer
from lifelong.feedback.models import Survey
from lifelong.feedback.sending import survey_send_many
from lifelong.journeys.definition import ClubInviteSend, Send, SurveySend
from lifelong.journeys.effects import PROBLEM
from lifelong.journeys.group_effects import step_key
from lifelong.journeys.models import Enrollment
from lifelong.journeys.problems import PREFERRED, template_sends_on
from lifelong.messaging.models import ChannelConfig, Template
from lifelong.messaging.outbox import Outgoing, messages_enqueue_many
from lifelong.messaging.reach import channels_choose

SendNode = Send | ClubInviteSend | SurveySend


def sends(
    node: SendNode,
    group: Sequence[Enrollment],
    visits: Sequence[int],
    customers: Mapping[int, Customer],
) -> list[str]:
    """The node's messages for the group; the outcome of each enrollment's step, in order."""
    if isinstance(node, SurveySend):
        return _surveys(node, group, visits, customers)
    if isinstance(node, ClubInviteSend):
        return _club_invites(node, group, visits, customers)
    template, problem = _set_up(node.template, node.channel)
    if template is None:
        return [PROBLEM + problem] * len(group)
    return _messages(node, template, group, visits, customers, extras={})


def _set_up(slug: str, channel: str) -> tuple[Template | None, str]:
    """The node's template, or None and why the node cannot send (missing, channel off)."""
    template = Template.objects.filter(slug=slug).first()
    if template is None:
        return None, "template missing"
    if (
        channel != PREFERRED
        and not ChannelConfig.objects.filter(channel=channel, active=True).exists()
    ):
        return None, f"channel {channel} not set up"
    return template, ""


def _channels(
    channel: str, customers: Sequence[Customer], template: Template
) -> dict[int, str | None]:
    """The node's channel, or for "preferred" the first that reaches the customer and that the
    template has words for. A customer reached only where the template has none gets that
    channel back, so the step records the missing text as a problem instead of a quiet skip."""
    if channel != PREFERRED:
        return {c.pk: channel for c in customers}
    unique = list({c.pk: c for c in customers}.values())
    chosen = channels_choose(unique, purpose=template.purpose, template=template)
    unreached = [c for c in unique if chosen[c.pk] is None]
    if unreached:
        chosen.update(channels_choose(unreached, purpose=template.purpose))
    return chosen


def _speaks(template: Template) -> Callable[[str, str], bool]:
    """Whether the template has words for (channel, language): asked once per pair."""
    known: dict[tuple[str, str], bool] = {}

    def speaks(channel: str, language: str) -> bool:
        if (channel, language) not in known:
            known[channel, language] = template_sends_on(template, channel, language=language)
        return known[channel, language]

    return speaks


def _addressed(
    node: SendNode,
    template: Template,
    group: Sequence[Enrollment],
    visits: Sequence[int],
    customers: Mapping[int, Customer],
    *,
    key: Callable[[Enrollment, int], str],
    extras: Mapping[int, Mapping[str, Any]],
) -> tuple[list[str], dict[int, Outgoing]]:
    """Each enrollment's message (by position in the group, keyed by `key(enrollment,
    visit)`, `extras`: more context per enrollment id) and, for those that get none, the
    outcome of their step (for the others "", to be filled in by the caller)."""
    channels = _channels(node.channel, [customers[e.customer_id] for e in group], template)
    speaks = _speaks(template)
    outcomes: list[str] = []
    items: dict[int, Outgoing] = {}
    for position, (enrollment, visit) in enumerate(zip(group, visits, strict=True)):
        customer = customers[enrollment.customer_id]
        channel = channels[customer.pk]
        if channel is None:
            outcomes.append("skipped: no channel reaches the customer")
        elif not speaks(channel, customer.language):
            outcomes.append(PROBLEM + f"template has nothing for {channel}")
        else:
            items[position] = Outgoing(
                customer=customer,
                dedupe_key=key(enrollment, visit),
                channel=channel,
                context={"journey": enrollment.context, **extras.get(enrollment.pk, {})},
                enrollment_id=enrollment.pk,
            )
            outcomes.append("")
    return outcomes, items


def _messages(
    node: Send | ClubInviteSend,
    template: Template,
    group: Sequence[Enrollment],
    visits: Sequence[int],
    customers: Mapping[int, Customer],
    *,
    extras: Mapping[int, Mapping[str, Any]],
) -> list[str]:
    """Queue the template for every enrollment of the group in one call (`extras`: more
    context per enrollment id)."""
    outcomes, items = _addressed(
        node,
        template,
        group,
        visits,
        customers,
        key=lambda enrollment, visit: step_key(enrollment, node.id, visit),
        extras=extras,
    )
    if items:
        messages_enqueue_many(
            list(items.values()), template=template, journey_id=group[0].journey_id, node_id=node.id
        )
    for position, item in items.items():
        outcomes[position] = f"queued on {item.channel}"
    return outcomes


def _club_invites(
    node: ClubInviteSend,
    group: Sequence[Enrollment],
    visits: Sequence[int],
    customers: Mapping[int, Customer],
) -> list[str]:
    """The invitation goes only to customers the club admits now; the message carries our join
    address, and the Telegram link behind it is made when the customer opens it."""
    club = Club.objects.filter(pk=node.club).first()
    if club is None or not club.active:
        return [PROBLEM + ("club missing" if club is None else "club switched off")] * len(group)
    template, problem = _set_up(node.template, node.channel)
    if template is None:
        return [PROBLEM + problem] * len(group)
    # One invite row per customer, claimed (or found again on a re-run) before the message.
    invitations = {
        e.pk: club_invite_context(
            club=club, customer=customers[e.customer_id], source=InviteSource.JOURNEY
        )
        for e in group
    }
    invited = [i for i, e in enumerate(group) if invitations[e.pk] is not None]
    outcomes = ["skipped: not admitted to the club or already in it"] * len(group)
    sent = _messages(
        node,
        template,
        [group[i] for i in invited],
        [visits[i] for i in invited],
        customers,
        extras={pk: extra for pk, extra in invitations.items() if extra is not None},
    )
    for i, outcome in zip(invited, sent, strict=True):
        outcomes[i] = outcome
    return outcomes


def _surveys(
    node: SurveySend,
    group: Sequence[Enrollment],
    visits: Sequence[int],
    customers: Mapping[int, Customer],
) -> list[str]:
    survey = Survey.objects.filter(pk=node.survey).first()
    if survey is None:
        return [PROBLEM + "survey missing"] * len(group)
    template, problem = _set_up(node.template, node.channel)
    if template is None:
        return [PROBLEM + problem] * len(group)
    # The invite's key is the step's: one invite and one message per visit, however often
    # the step runs.
    outcomes, asks = _addressed(
        node,
        template,
        group,
        visits,
        customers,
        key=lambda enrollment, visit: f"journey:{step_key(enrollment, node.id, visit)}",
        extras={},
    )
    answers = survey_send_many(
        list(asks.values()),
        survey=survey,
        template=template,
        journey_id=group[0].journey_id,
        node_id=node.id,
    )
    for position, answer in zip(asks, answers, strict=True):
        outcomes[position] = answer
    return outcomes
