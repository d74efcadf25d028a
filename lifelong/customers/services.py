"""Writes to the customer database. Each is atomic and leaves an event on the timeline."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.commerce.models import Order
from lifelong.commerce.services import (
    customer_spend,
    customer_summaries_refresh,
    spend_fits,
    spend_refusal,
)
from lifelong.customers.models import Channel, Consent, Customer, Fact, Gender, Note, Purpose, Tag
from lifelong.customers.selectors import customers_by_external_id
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.followups.models import Task
from lifelong.journeys.models import Enrollment, EnrollmentStatus
from lifelong.lib.errors import DomainError
from lifelong.lib.phones import normalize_phone
from lifelong.messaging.models import Message, PushSubscription, TopicOptOut
from lifelong.messaging.services import messages_cancel_marketing

# Fields an integration or import may set directly on a customer.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "patronymic",
    "gender",
    "birthday",
    "email",
    "phone",
    "telegram_chat_id",
    "vk_id",
    "language",
    "time_zone",
    "source",
)


class CustomerDataError(DomainError):
    """Bad input for a customer."""


def clean_profile(data: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise profile fields (phone to E.164, email lower-case); raise CustomerDataError."""
    clean: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if name not in data or data[name] is None:
            continue
        value = data[name]
        if name == "phone":
            try:
                value = normalize_phone(str(value))
            except ValueError as exc:
                raise CustomerDataError(str(exc), field="phone") from exc
        elif name == "email":
            value = str(value).strip().lower()
            if value and ("@" not in value or " " in value):
                raise CustomerDataError(f"not an email address: {value!r}", field="email")
        elif name == "gender":
            value = str(value).strip().lower()
            if value not in Gender.values:
                raise CustomerDataError(
                    f"gender must be one of m, f or empty: {value!r}", field="gender"
                )
        elif name == "time_zone":
            value = str(value).strip()
            if value not in _time_zones():
                raise CustomerDataError(f"unknown time zone: {value!r}", field="time_zone")
        elif name == "birthday":
            if not isinstance(value, dt.date):
                raise CustomerDataError("birthday must be a date", field="birthday")
        elif isinstance(value, str):
            value = value.strip()
        clean[name] = value
    return clean


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def customer_upsert(
    *,
    external_id: str | None,
    data: Mapping[str, Any],
    attributes: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    source: str = "api",
    actor: User | None = None,
) -> tuple[Customer, bool]:
    """Create or update a customer found by external id. Returns (customer, created).

    Only the fields given change; a replay with the same data changes nothing
    (no update, no event).
    """
    try:
        with transaction.atomic():
            return _customer_upsert(
                external_id=external_id,
                data=data,
                attributes=attributes,
                tags=tags,
                source=source,
                actor=actor,
            )
    except IntegrityError:
        # A concurrent request created the same external id first: now it is an update.
        with transaction.atomic():
            return _customer_upsert(
                external_id=external_id,
                data=data,
                attributes=attributes,
                tags=tags,
                source=source,
                actor=actor,
            )


def _customer_upsert(
    *,
    external_id: str | None,
    data: Mapping[str, Any],
    attributes: Mapping[str, Any] | None,
    tags: Iterable[str] | None,
    source: str,
    actor: User | None,
) -> tuple[Customer, bool]:
    profile = clean_profile(data)
    customer = None
    if external_id:
        found = customers_by_external_id([external_id], for_update=True)
        customer = found.get(external_id)
    created = customer is None
    if customer is None:
        customer = Customer(external_id=external_id or None, source=profile.pop("source", source))
    changes = customer.profile_apply(profile, attributes)
    if created:
        customer.save()
    elif changes:
        customer.updated_at = clock.now()
        customer.save(update_fields=[*changes.keys(), "updated_at"])
    if tags is not None:
        added = customer_tags_add(customer=customer, names=tags)
        if added:
            changes["tags"] = added
    if created or changes:
        event_record(
            customer=customer,
            type="customer_created" if created else "customer_updated",
            properties={"changes": changes_as_json(changes)},
            source=source,
        )
        if actor is not None:
            audit_record(
                actor=actor,
                action="customer.create" if created else "customer.update",
                obj=customer,
                changes=changes_as_json(changes),
            )
    return customer, created


def changes_as_json(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Changed fields as a customer_created/customer_updated event records them."""
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in changes.items()}


def customer_tags_add(*, customer: Customer, names: Iterable[str]) -> list[str]:
    """Attach tags by name (created on first use); returns the ones newly attached."""
    wanted = {n.strip() for n in names if n and n.strip()}
    if not wanted:
        return []
    # Three queries when the tags exist (the usual case in journeys): their ids, the
    # customer's links among them, and one insert of the missing links.
    ids = dict(Tag.objects.filter(name__in=wanted).values_list("name", "pk"))
    if len(ids) < len(wanted):
        Tag.objects.bulk_create([Tag(name=n) for n in wanted - ids.keys()], ignore_conflicts=True)
        ids = dict(Tag.objects.filter(name__in=wanted).values_list("name", "pk"))
    link = Customer.tags.through
    linked = set(
        link.objects.filter(customer_id=customer.pk, tag_id__in=ids.values()).values_list(
            "tag_id", flat=True
        )
    )
    new = sorted(name for name, pk in ids.items() if pk not in linked)
    link.objects.bulk_create(
        [link(customer_id=customer.pk, tag_id=ids[name]) for name in new], ignore_conflicts=True
    )
    return new


@transaction.atomic
def customer_tag_add(*, customer: Customer, name: str, actor: User | None = None) -> bool:
    """Attach one tag by hand; returns False when the customer already had it."""
    if not customer_tags_add(customer=customer, names=[name]):
        return False
    event_record(
        customer=customer, type="tag_added", properties={"tag": name.strip()}, source="staff"
    )
    if actor is not None:
        audit_record(actor=actor, action="customer.tag_add", obj=customer, changes={"tag": name})
    return True


@transaction.atomic
def customer_tag_remove(*, customer: Customer, name: str, actor: User | None = None) -> None:
    tag = Tag.objects.filter(name=name).first()
    if tag is None:
        return
    customer.tags.remove(tag)
    event_record(customer=customer, type="tag_removed", properties={"tag": name}, source="staff")
    if actor is not None:
        audit_record(actor=actor, action="customer.tag_remove", obj=customer, changes={"tag": name})


@transaction.atomic
def consent_record(
    *,
    customer: Customer,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    at: dt.datetime | None = None,
    ip: str | None = None,
    form: str = "",
    text_version: str = "",
    actor: User | None = None,
) -> Consent:
    """Append a grant or withdrawal. Older rows stay: they are the legal evidence."""
    if channel not in Channel.values:
        raise CustomerDataError(f"unknown channel {channel!r}", field="channel")
    if purpose not in Purpose.values:
        raise CustomerDataError(f"unknown purpose {purpose!r}", field="purpose")
    consent = Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        granted=granted,
        at=at or clock.now(),
        source=source,
        ip=ip,
        form=form,
        text_version=text_version,
    )
    if not granted and purpose == Purpose.MARKETING:
        # Withdrawal stops queued marketing at once, not at the next dispatch.
        messages_cancel_marketing(
            customer=customer, channels=[channel], reason=f"consent withdrawn ({source})"
        )
    event_record(
        customer=customer,
        type="consent_granted" if granted else "consent_withdrawn",
        properties={"channel": channel, "purpose": purpose, "source": source},
        occurred_at=consent.at,
        source=source,
    )
    if actor is not None:
        audit_record(
            actor=actor,
            action="consent.record",
            obj=customer,
            changes={"channel": channel, "purpose": purpose, "granted": granted},
        )
    return consent


@transaction.atomic
def note_add(*, customer: Customer, author: User | None, text: str) -> Note:
    text = text.strip()
    if not text:
        raise CustomerDataError("a note cannot be empty", field="text")
    note = Note.objects.create(customer=customer, author=author, text=text)
    event_record(
        customer=customer,
        type="note_added",
        properties={"note_id": note.pk, "text": text[:500], "author": _username(author)},
        source="staff",
    )
    return note


@transaction.atomic
def fact_add(*, customer: Customer, author: User | None, text: str, category: str = "") -> Fact:
    text = text.strip()
    if not text:
        raise CustomerDataError("a fact cannot be empty", field="text")
    fact = Fact.objects.create(
        customer=customer, author=author, text=text, category=category.strip()
    )
    event_record(
        customer=customer,
        type="fact_added",
        properties={"fact_id": fact.pk, "text": text, "category": fact.category},
        source="staff",
    )
    return fact


def _username(user: User | None) -> str:
    return user.get_username() if user else ""


def _messaging_merge(*, primary: Customer, duplicate: Customer) -> dict[str, int]:
    """Messages, push subscriptions, topic opt-outs and journeys follow the person.

    An opt-out of either record holds for the merged one. A journey both were in stays
    with the primary; the duplicate's running copy of it is cancelled.
    """
    have = set(TopicOptOut.objects.filter(customer=primary).values_list("topic_id", flat=True))
    TopicOptOut.objects.filter(customer=duplicate, topic_id__in=have).delete()
    taken = set(Enrollment.objects.filter(customer=primary).values_list("journey_id", "key"))
    clashing = [
        pk
        for pk, journey_id, key in Enrollment.objects.filter(customer=duplicate).values_list(
            "pk", "journey_id", "key"
        )
        if (journey_id, key) in taken
    ]
    Enrollment.objects.filter(pk__in=clashing, status=EnrollmentStatus.ACTIVE).update(
        status=EnrollmentStatus.CANCELLED,
        next_run_at=None,
        ended_at=clock.now(),
        exit_reason="merged into another customer in this journey",
    )
    return {
        "messages": Message.objects.filter(customer=duplicate).update(customer=primary),
        "push_subscriptions": PushSubscription.objects.filter(customer=duplicate).update(
            customer=primary
        ),
        "topic_opt_outs": TopicOptOut.objects.filter(customer=duplicate).update(customer=primary),
        "enrollments": Enrollment.objects.filter(customer=duplicate)
        .exclude(pk__in=clashing)
        .update(customer=primary),
    }


@transaction.atomic
def customer_merge(*, primary: Customer, duplicate: Customer, actor: User | None) -> Customer:
    """Fold `duplicate` into `primary`, keeping every order, event, consent, note, fact, task,
    message and journey enrollment.

    Empty profile fields on the primary are filled from the duplicate; the
    duplicate stays as a tombstone pointing at the primary, so its external id
    keeps resolving.
    """
    if primary.pk == duplicate.pk:
        raise CustomerDataError("cannot merge a customer into itself", field="duplicate")
    if duplicate.merged_into_id is not None or primary.merged_into_id is not None:
        raise CustomerDataError("one of these customers was already merged", field="duplicate")
    primary, duplicate = (
        Customer.objects.select_for_update().get(pk=primary.pk),
        Customer.objects.select_for_update().get(pk=duplicate.pk),
    )
    if not spend_fits(
        customer_spend(customer_id=primary.pk) + customer_spend(customer_id=duplicate.pk)
    ):
        raise CustomerDataError(spend_refusal(), field="duplicate")
    filled = []
    for name in (*PROFILE_FIELDS, "birthday"):
        if not getattr(primary, name) and getattr(duplicate, name):
            setattr(primary, name, getattr(duplicate, name))
            filled.append(name)
    primary.attributes = {**duplicate.attributes, **primary.attributes}
    primary.created_at = min(primary.created_at, duplicate.created_at)
    primary.updated_at = clock.now()
    primary.save()
    moved = {
        "orders": Order.objects.filter(customer=duplicate).update(customer=primary),
        "events": Event.objects.filter(customer=duplicate).update(customer=primary),
        "consents": Consent.objects.filter(customer=duplicate).update(customer=primary),
        "notes": Note.objects.filter(customer=duplicate).update(customer=primary),
        "facts": Fact.objects.filter(customer=duplicate).update(customer=primary),
        "tasks": Task.objects.filter(customer=duplicate).update(customer=primary),
    }
    moved |= _messaging_merge(primary=primary, duplicate=duplicate)
    primary.tags.add(*duplicate.tags.all())
    duplicate.tags.clear()
    Customer.objects.filter(pk=duplicate.pk).update(merged_into=primary, updated_at=clock.now())
    customer_summaries_refresh([primary.pk, duplicate.pk])
    event_record(
        customer=primary,
        type="customer_merged",
        properties={"duplicate_id": duplicate.pk, "filled": filled, "moved": moved},
        source="staff",
    )
    audit_record(
        actor=actor,
        action="customer.merge",
        obj=primary,
        changes={"duplicate_id": duplicate.pk, "filled": filled, "moved": moved},
    )
    primary.refresh_from_db()
    return primary
