"""Writes to the customer database. Each is atomic and leaves an event on the timeline."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q

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
from lifelong.events.field_limits import birthday_check, email_check, refused_as
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

# The shop's clock and ours may disagree by a few minutes. A consent dated further ahead
# than this is a wrong date, not skew; decisions dated closer together than this are
# ordered by when they were recorded, whatever their dates say.
CONSENT_CLOCK_TOLERANCE = dt.timedelta(minutes=5)


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
            if value:  # empty clears the address
                with refused_as(CustomerDataError, "email"):
                    email_check(value)
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
            with refused_as(CustomerDataError, "birthday"):
                birthday_check(value, today=clock.today())
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
def customer_manager_set(*, customer: Customer, manager: User | None, actor: User) -> bool:
    """Assign (or, with None, remove) the customer's personal manager; audited.

    Returns False when nothing changed. Only an active staff member can be assigned.
    """
    if manager is not None and not manager.is_active:
        raise CustomerDataError("the personal manager must be an active staff member")
    before = customer.personal_manager_id
    after = manager.pk if manager is not None else None
    if before == after:
        return False
    customer.personal_manager = manager
    customer.updated_at = clock.now()
    customer.save(update_fields=["personal_manager", "updated_at"])
    audit_record(
        actor=actor,
        action="customer.personal_manager",
        obj=customer,
        changes={"from": before, "to": after},
    )
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
    """Append a grant or withdrawal. Older rows stay: they are the legal evidence.

    The row recorded last is the current state (`Consent.objects.newest_first()`), so a
    withdrawal always wins over the grants recorded before it. `at` (when the customer
    decided; now when not given) never outranks that order; rows where it would matter are
    refused with a CustomerDataError on `at` instead of being stored:
    - any `at` more than CONSENT_CLOCK_TOLERANCE ahead of now;
    - a grant dated more than CONSENT_CLOCK_TOLERANCE before the customer's latest
      withdrawal on that channel and purpose: a backdated grant (say, an import of old
      sign-ups) must not undo a later "no". A grant without `at` is never refused.
    """
    if channel not in Channel.values:
        raise CustomerDataError(f"unknown channel {channel!r}", field="channel")
    if purpose not in Purpose.values:
        raise CustomerDataError(f"unknown purpose {purpose!r}", field="purpose")
    now = clock.now()
    at = at or now
    if at > now + CONSENT_CLOCK_TOLERANCE:
        raise CustomerDataError(
            f"consent dated {at:%Y-%m-%d %H:%M} UTC is in the future: send the time the "
            "customer decided, or leave it out for now",
            field="at",
        )
    if not granted and purpose == Purpose.MARKETING:
        # Withdrawal stops queued marketing at once, not at the next dispatch. Done before
        # the customer's row is locked: dispatch locks messages, then customers.
        messages_cancel_marketing(
            customer=customer, channels=[channel], reason=f"consent withdrawn ({source})"
        )
    # One decision about a customer at a time, so a grant is checked against every
    # withdrawal recorded before it.
    Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).exists()
    if granted:
        said_no = _latest_withdrawal_at(customer=customer, channel=channel, purpose=purpose)
        if said_no is not None and _grant_predates(at, said_no, now=now):
            raise CustomerDataError(
                f"a grant dated {at:%Y-%m-%d %H:%M} UTC cannot undo the withdrawal of "
                f"{said_no:%Y-%m-%d %H:%M} UTC: send the time the customer agreed again",
                field="at",
            )
    consent = Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        granted=granted,
        at=at,
        source=source,
        ip=ip,
        form=form,
        text_version=text_version,
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


def _latest_withdrawal_at(*, customer: Customer, channel: str, purpose: str) -> dt.datetime | None:
    withdrawals = Consent.objects.filter(
        customer=customer, channel=channel, purpose=purpose, granted=False
    )
    latest: dt.datetime | None = withdrawals.aggregate(latest=Max("at"))["latest"]
    return latest


def _grant_predates(
    granted_at: dt.datetime, withdrawn_at: dt.datetime, *, now: dt.datetime
) -> bool:
    """Whether a grant dated `granted_at` is older than a withdrawal dated `withdrawn_at`.

    A withdrawal dated ahead of now (skew, or a row stored before such dates were refused)
    counts as dated now, so it cannot keep refusing grants made today.
    """
    return granted_at < min(withdrawn_at, now) - CONSENT_CLOCK_TOLERANCE


def _withdrawals_restate(*, customer: Customer) -> int:
    """After a merge, record again each withdrawal that a backdated grant would undo.

    The two records' rows interleave by recording order, so the grant one of them recorded
    last may be older than a "no" on the other, a grant `consent_record` would have refused
    on the merged customer. The withdrawal is recorded again (source "merge"), dated as the
    original, and stays the current state. Returns how many were recorded.
    """
    now = clock.now()
    newest: dict[tuple[str, str], Consent] = {}
    latest_no: dict[tuple[str, str], Consent] = {}
    for consent in Consent.objects.filter(customer=customer).newest_first():
        key = (consent.channel, consent.purpose)
        newest.setdefault(key, consent)
        if not consent.granted and (key not in latest_no or consent.at > latest_no[key].at):
            latest_no[key] = consent
    restated = [
        no
        for key, no in sorted(latest_no.items())
        if newest[key].granted and _grant_predates(newest[key].at, no.at, now=now)
    ]
    for no in restated:
        consent_record(
            customer=customer,
            channel=no.channel,
            purpose=no.purpose,
            granted=False,
            source="merge",
            at=min(no.at, now),
            ip=no.ip,
            form=f"withdrawal #{no.pk} kept on merge",
            text_version=no.text_version,
        )
    return len(restated)


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
    keeps resolving. Tombstones that pointed at the duplicate now point at the
    primary too: a tombstone always points at a live customer, so resolving an
    old id takes one hop (`customers.selectors`).
    """
    if primary.pk == duplicate.pk:
        raise CustomerDataError("cannot merge a customer into itself", field="duplicate")
    # Locked in id order (two merges of the same pair in opposite directions wait instead
    # of deadlocking), and checked once locked: a concurrent merge may have just folded one.
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=[primary.pk, duplicate.pk])
        .order_by("pk")
    }
    primary, duplicate = locked[primary.pk], locked[duplicate.pk]
    if duplicate.merged_into_id is not None or primary.merged_into_id is not None:
        raise CustomerDataError("one of these customers was already merged", field="duplicate")
    if not spend_fits(
        customer_spend(customer_id=primary.pk) + customer_spend(customer_id=duplicate.pk)
    ):
        raise CustomerDataError(spend_refusal(), field="duplicate")
    filled = []
    for name in (*PROFILE_FIELDS, "birthday"):
        if not getattr(primary, name) and getattr(duplicate, name):
            setattr(primary, name, getattr(duplicate, name))
            filled.append(name)
    if primary.personal_manager_id is None and duplicate.personal_manager_id is not None:
        primary.personal_manager_id = duplicate.personal_manager_id
        filled.append("personal_manager")
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
    moved["withdrawals_restated"] = _withdrawals_restate(customer=primary)
    primary.tags.add(*duplicate.tags.all())
    duplicate.tags.clear()
    moved["tombstones"] = (
        Customer.objects.filter(Q(pk=duplicate.pk) | Q(merged_into=duplicate)).update(
            merged_into=primary, updated_at=clock.now()
        )
        - 1
    )
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
