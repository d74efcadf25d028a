"""How a message's outbox row is built and stored, for one message (`services.message_enqueue`)
or for a group of one template (a journey's send node: `messages_enqueue_many`).

A group is stored in a fixed number of statements whatever its size: one look-up of its
dedupe keys, the contexts one query per kind of data (see templating/context_bulk.py), one
insert of the messages, one of their tracked links, one update of the bodies those rewrite.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from lifelong import clock
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.lib.bulk import bulk_insert, unsaved
from lifelong.lib.errors import DomainError
from lifelong.lib.pg_array import in_values
from lifelong.messaging import tracking
from lifelong.messaging.models import WEBHOOK, Message, SendingPolicy, Template
from lifelong.messaging.templating import Rendered, TemplateRenderError, variant_render
from lifelong.messaging.templating.context import no_variant_text
from lifelong.messaging.templating.context_bulk import (
    managers_of,
    message_contexts,
    template_names,
)
from lifelong.messaging.variants import Variant, buttons_delivery, variant_for


class MessagingError(DomainError):
    """A message that cannot be queued as asked."""


@dataclass(frozen=True)
class Outgoing:
    """One customer's message of a grouped send: who, under which dedupe key, by which channel."""

    customer: Customer
    dedupe_key: str
    channel: str
    context: Mapping[str, Any] = field(default_factory=dict)
    enrollment_id: int | None = None
    not_before: dt.datetime | None = None  # a campaign's slot for this customer


@dataclass(frozen=True)
class Content:
    """What a message says: subject, bodies, transport payload, topic."""

    subject: str = ""
    text: str = ""
    html: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    topic: str = ""


# Makes one item's message of its rendered template (see `messages_build`).
Compose = Callable[[Outgoing, Rendered], Content]


def message_check(*, channel: str, purpose: str) -> None:
    if channel != WEBHOOK and channel not in Channel.values:
        raise MessagingError(f"unknown channel {channel!r}", field="channel")
    if purpose not in Purpose.values:
        raise MessagingError(f"unknown purpose {purpose!r}", field="purpose")


def template_content(
    template: Template,
    *,
    channel: str,
    rendered: Rendered,
    payload: Mapping[str, Any] | None,
    topic: str,
    manager_name: str,
) -> Content:
    """A rendered template as a message: its buttons in the payload as the channel takes
    them, the template's topic unless the producer gave one, and (for a template sent in
    the personal manager's name by email) the manager's name, decided now like the text:
    the email transport puts it in From."""
    text, keyboard = buttons_delivery(channel, rendered.text, rendered.buttons)
    if keyboard:
        payload = {**keyboard, **(payload or {})}
    if template.sender_manager and channel == Channel.EMAIL and manager_name:
        payload = {**(payload or {}), "from_name": manager_name}
    return Content(
        subject=rendered.subject,
        text=text,
        html=rendered.html,
        payload=payload or {},
        topic=topic or template.topic,
    )


def message_build(
    *,
    customer: Customer | None,
    dedupe_key: str,
    channel: str,
    purpose: str,
    template: Template | None,
    content: Content,
    to: str,
    not_before: dt.datetime | None,
    now: dt.datetime,
    policy: SendingPolicy,
    journey_id: int | None,
    enrollment_id: int | None,
    node_id: str,
) -> Message:
    """The unsaved outbox row of one message. A marketing message expires after the policy's
    hours: sent late, it would only annoy."""
    due = max(not_before or now, now)
    return unsaved(
        Message,
        customer=customer,
        dedupe_key=dedupe_key,
        channel=channel,
        purpose=purpose,
        topic=content.topic,
        template=template,
        subject=content.subject,
        body_text=content.text,
        body_html=content.html,
        payload=dict(content.payload),
        to="" if customer is not None else to,
        next_attempt_at=due,
        expires_at=(
            due + dt.timedelta(hours=policy.expire_hours) if purpose == Purpose.MARKETING else None
        ),
        created_at=now,
        journey_id=journey_id,
        enrollment_id=enrollment_id,
        node_id=node_id,
    )


def messages_insert(messages: Sequence[Message], *, policy: SendingPolicy) -> None:
    """Store built messages and their tracked links (raises IntegrityError on a dedupe key
    already taken: the caller decides, under its own savepoint)."""
    bulk_insert(messages)
    tracking.links_track(messages, open_pixel=policy.open_pixel)


def messages_enqueue_many(
    items: Sequence[Outgoing],
    *,
    template: Template,
    purpose: str = "",
    topic: str = "",
    journey_id: int | None = None,
    node_id: str = "",
    compose: Compose | None = None,
) -> list[bool]:
    """What `services.message_enqueue` does for each item with `template` (its purpose
    unless `purpose` is given, the item's context as extra): per item, in order, whether its
    message was created (False: its dedupe key was already in the outbox, or earlier in
    `items`). `compose`: see `messages_build`.

    Raises what the single call raises (TemplateRenderError, MessagingError); the caller
    isolates a failing item itself (one bad item fails the whole call, which writes nothing).
    """
    taken = set(
        Message.objects.filter(
            in_values("dedupe_key", {i.dedupe_key for i in items}, sql_type="text")
        ).values_list("dedupe_key", flat=True)
        if items
        else ()
    )
    fresh: list[int] = []  # positions of the first item of each key not yet taken
    for position, item in enumerate(items):
        if item.dedupe_key not in taken:
            taken.add(item.dedupe_key)
            fresh.append(position)
    policy = SendingPolicy.current()
    messages = messages_build(
        [items[p] for p in fresh],
        template=template,
        purpose=purpose or template.purpose,
        policy=policy,
        journey_id=journey_id,
        node_id=node_id,
        topic=topic,
        compose=compose,
    )
    created = _insert_new(messages, policy=policy)
    first = set(fresh)
    return [p in first and item.dedupe_key in created for p, item in enumerate(items)]


def messages_build(
    items: Sequence[Outgoing],
    *,
    template: Template,
    purpose: str,
    policy: SendingPolicy,
    journey_id: int | None,
    node_id: str,
    payload: Mapping[str, Any] | None = None,
    topic: str = "",
    not_before: dt.datetime | None = None,
    compose: Compose | None = None,
) -> list[Message]:
    """The unsaved outbox rows of `template` for these items, in order: each rendered on
    its customer's context, the contexts read for the whole group, only the names the
    template reads (see templating/context_bulk.py). `compose` makes an item's message of
    its rendered template instead of `template_content` (a survey puts its question in)."""
    now = clock.now()
    by_channel: dict[str, list[int]] = defaultdict(list)
    for position, item in enumerate(items):
        by_channel[item.channel].append(position)
    built: dict[int, Message] = {}
    for channel, positions in by_channel.items():
        message_check(channel=channel, purpose=purpose)
        group = [items[p] for p in positions]
        customers = [i.customer for i in group]
        variants = _variants(template, channel, {c.language for c in customers})
        names: frozenset[str] | None = frozenset()
        for variant in variants.values():
            found = template_names(variant)
            names = None if names is None or found is None else names | found
        contexts = message_contexts(
            customers, channel=channel, extras=[i.context for i in group], names=names
        )
        # Decided now, like the text (see template_content).
        managers = (
            managers_of(customers) if template.sender_manager and channel == Channel.EMAIL else {}
        )
        for position, item, context in zip(positions, group, contexts, strict=True):
            rendered = variant_render(variants[item.customer.language], context)
            content = (
                compose(item, rendered)
                if compose is not None
                else template_content(
                    template,
                    channel=channel,
                    rendered=rendered,
                    payload=payload,
                    topic=topic,
                    manager_name=managers.get(item.customer.pk, {}).get("name", ""),
                )
            )
            built[position] = message_build(
                customer=item.customer,
                dedupe_key=item.dedupe_key,
                channel=channel,
                purpose=purpose,
                template=template,
                content=content,
                to="",
                not_before=item.not_before or not_before,
                now=now,
                policy=policy,
                journey_id=journey_id,
                enrollment_id=item.enrollment_id,
                node_id=node_id,
            )
    return [built[p] for p in range(len(items))]


def _variants(template: Template, channel: str, languages: set[str]) -> dict[str, Variant]:
    """The template's variant for each language on `channel`; raises as `message_render`
    does when it has none."""
    variants = {}
    for language in languages:
        variant = variant_for(template, channel, language=language)
        if variant is None:
            raise TemplateRenderError(no_variant_text(template, channel), field="channel")
        variants[language] = variant
    return variants


def _insert_new(messages: list[Message], *, policy: SendingPolicy) -> set[str]:
    """Insert the messages whose keys are still free; the dedupe keys inserted. A concurrent
    producer may take some keys between the look-up and the insert: those are left out."""
    while messages:
        try:
            with transaction.atomic():
                messages_insert(messages, policy=policy)
            return {m.dedupe_key for m in messages}
        except IntegrityError:
            won = set(
                Message.objects.filter(
                    in_values("dedupe_key", [m.dedupe_key for m in messages], sql_type="text")
                ).values_list("dedupe_key", flat=True)
            )
            if not won:
                raise  # not a dedupe key: a real error
            messages = [m for m in messages if m.dedupe_key not in won]
            for message in messages:  # rolled back: insert afresh
                message.pk = None
                message._state.adding = True
    return set()
