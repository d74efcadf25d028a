"""Closing the loop: "you told us, we fixed it".

Staff mark a theme fixed with a note (`fix_announce`); every customer whose survey response
or conversation item carried the theme (optionally only feedback within a date range) is
affected. A holdout share of them, drawn from a hash of the fix's salt and the customer's
external id (`holdout_draw`), gets nothing, so `fix_results` can compare. The others get one
personal message through the outbox, keyed `fix:<fix>:<customer>`.

Staff may also pick items in the inbox and mark them fixed (`fix_announce(items=...)`): then
the affected are exactly those items' customers. The message is a template (fix_messages.py):
a theme keeps its own, the fix form starts from it.

The message goes as **marketing**: it is not something the customer asked for just now, and
telling them what the shop improved is close enough to advertising that only customers with a
marketing consent on some channel get it; the outbox's gates check the consent again at send
time (a withdrawal in between cancels it), and caps, quiet hours and unsubscribe links apply.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Iterator, Sequence

from django.db import transaction
from django.db.models import Q, QuerySet

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Customer, Purpose
from lifelong.feedback.fix_messages import fix_message, told_by
from lifelong.feedback.models import Fix, FixRecipient, FixStatus, Item, Response, Theme
from lifelong.messaging.reach import channels_choose
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.templating import TemplateRenderError

BATCH = 500
log = logging.getLogger(__name__)


def holdout_key(customer: Customer) -> str:
    """What the holdout draw knows a customer by: the shop's own id for them, which a rebuild,
    a restore or another database keeps (row ids are not); the row id only for a customer who
    has none (say, one who first wrote in from an unknown address)."""
    if customer.external_id:
        return f"ext:{customer.external_id}"
    return f"pk:{customer.pk}"


def holdout_draw(*, salt: str, key: str, percent: int) -> bool:
    """Whether the customer (`holdout_key`) is kept back from the fix (`Fix.holdout_salt`):
    the same answer every time, and about `percent` in 100 customers (a 64-bit slice of
    SHA-256, in 10,000 buckets)."""
    digest = hashlib.sha256(f"fix:{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def affected_customers(
    *, theme: Theme, since: dt.date | None = None, until: dt.date | None = None
) -> QuerySet[Customer]:
    """Customers whose survey responses or inbox items carried the theme: one query.

    The themes are JSON lists of codes; matching the quoted code works on SQLite and
    PostgreSQL alike. Merged duplicates are left out (their feedback moved to the survivor).
    """
    marker = f'"{theme.slug}"'
    responses = Response.objects.filter(themes__icontains=marker)
    items = Item.objects.filter(themes__icontains=marker, conversation__customer__isnull=False)
    if since is not None:
        responses = responses.filter(submitted_at__date__gte=since)
        items = items.filter(received_at__date__gte=since)
    if until is not None:
        responses = responses.filter(submitted_at__date__lte=until)
        items = items.filter(received_at__date__lte=until)
    return Customer.objects.filter(
        Q(pk__in=responses.values("customer_id"))
        | Q(pk__in=items.values("conversation__customer_id")),
        merged_into__isnull=True,
    )


def item_customers(items: Sequence[Item] | QuerySet[Item]) -> QuerySet[Customer]:
    """The customers of these inbox items: exactly them, one query. Items from someone we do
    not know (a review without a customer) affect no one; merged duplicates are left out."""
    ids = [item.pk for item in items] if isinstance(items, Sequence) else items.values("pk")
    return Customer.objects.filter(
        pk__in=Item.objects.filter(pk__in=ids).values("conversation__customer_id"),
        merged_into__isnull=True,
    )


def fix_customers(fix: Fix) -> QuerySet[Customer]:
    """Whom the fix is about: its items' customers when staff picked items, else the
    customers whose feedback carried its theme."""
    if fix.items.exists():
        return item_customers(fix.items.all())
    assert fix.theme is not None, "a fix names a theme or items"
    return affected_customers(theme=fix.theme, since=fix.feedback_since, until=fix.feedback_until)


def _batches(customers: QuerySet[Customer]) -> Iterator[list[Customer]]:
    """The customers in batches by primary key (keyset pagination: no OFFSET, no big list)."""
    last = 0
    while True:
        batch = list(customers.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def marketing_channels(customers: list[Customer]) -> dict[int, str]:
    """The channel a marketing message takes to each customer of the batch (`channels_choose`);
    customers no channel reaches are left out."""
    chosen = channels_choose(customers, purpose=Purpose.MARKETING)
    return {pk: channel for pk, channel in chosen.items() if channel is not None}


@dataclasses.dataclass
class Preview:
    affected: int = 0
    reachable: int = 0
    unreachable: int = 0  # no consent, no address or no channel set up


def fix_preview(
    *,
    theme: Theme | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    items: Sequence[Item] | None = None,
) -> Preview:
    """How many customers a fix would reach, before it is announced: of the `items` when
    given, else of the theme."""
    preview = Preview()
    if items is not None:
        customers = item_customers(items)
    else:
        assert theme is not None, "a fix names a theme or items"
        customers = affected_customers(theme=theme, since=since, until=until)
    for batch in _batches(customers):
        reachable = len(marketing_channels(batch))
        preview.affected += len(batch)
        preview.reachable += reachable
        preview.unreachable += len(batch) - reachable
    return preview


@transaction.atomic
def fix_announce(
    *,
    theme: Theme | None,
    note: str,
    subject: str,
    text: str,
    holdout_percent: int,
    items: Sequence[Item] = (),
    subject_en: str = "",
    text_en: str = "",
    actor: User | None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    holdout_salt: str | None = None,
) -> Fix:
    """Record the fix, audit it, and send it (`fix_send`). The holdout's salt is random unless
    given (the demo gives one from its seed, so a rebuild draws the same holdout)."""
    fix = Fix(
        theme=theme,
        note=note,
        subject=subject,
        text=text,
        subject_en=subject_en,
        text_en=text_en,
        holdout_percent=holdout_percent,
        feedback_since=since,
        feedback_until=until,
        staff=actor,
    )
    if holdout_salt is not None:
        fix.holdout_salt = holdout_salt
    fix.save()
    if not theme and not items:
        raise ValueError("a fix names a theme or items")
    fix.items.set(items)
    audit_record(
        actor=actor,
        action="feedback.fix.announce",
        obj=fix,
        changes={
            "theme": theme.slug if theme else None,
            "items": sorted(item.pk for item in items),
            "note": note,
            "holdout_percent": holdout_percent,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
    )
    fix_send(fix=fix)
    return fix


def fix_send(*, fix: Fix) -> int:
    """Add the fix's affected customers not yet recorded and queue their messages, batch by
    batch. Running it again adds customers whose feedback came since and sends nobody twice
    (one recipient row per customer, one outbox message per dedupe key). Returns the number
    of messages queued by this run."""
    queued = 0
    customers = fix_customers(fix).exclude(
        pk__in=FixRecipient.objects.filter(fix=fix).values("customer_id")
    )
    for batch in _batches(customers):
        with transaction.atomic():
            now = clock.now()
            rows = []
            channels = marketing_channels(batch)
            told = told_by(fix, [c.pk for c in batch if c.pk in channels])
            for customer in batch:
                channel = channels.get(customer.pk, "")
                holdout = holdout_draw(
                    salt=fix.holdout_salt, key=holdout_key(customer), percent=fix.holdout_percent
                )
                row = FixRecipient(
                    fix=fix, customer=customer, holdout=holdout, channel=channel, created_at=now
                )
                if channel and not holdout:
                    try:
                        subject, text = fix_message(
                            fix=fix, customer=customer, told=told.get(customer.pk, "")
                        )
                    except TemplateRenderError:
                        # Checked on a sample when staff wrote it; a customer's own data can
                        # still break a limit. They are recorded, and get nothing.
                        log.exception("fix %s: the message for customer %s", fix.pk, customer.pk)
                        rows.append(row)
                        continue
                    row.message, created = message_enqueue(
                        customer=customer,
                        dedupe_key=f"fix:{fix.pk}:{customer.pk}",
                        channel=channel,
                        purpose=Purpose.MARKETING,
                        subject=subject,
                        text=text,
                    )
                    queued += created
                rows.append(row)
            FixRecipient.objects.bulk_create(rows, ignore_conflicts=True)
    Fix.objects.filter(pk=fix.pk).update(status=FixStatus.SENT)
    fix.status = FixStatus.SENT
    return queued
