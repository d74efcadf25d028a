"""Customers from a CSV: customer_upsert semantics, a batch at a time.

Only the fields a row gives change, tags are added and never removed, and every created
or changed customer gets a customer_created / customer_updated event with the changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from lifelong.customers.models import Customer, Tag
from lifelong.customers.selectors import customers_by_external_id
from lifelong.customers.services import CustomerDataError, changes_as_json, clean_profile
from lifelong.events.csv_import.cells import checked
from lifelong.events.csv_import.layout import GENDERS, Layout, word
from lifelong.events.csv_import.tally import Context, Group, RowError, Tally
from lifelong.events.field_limits import FieldLimitError, text_limit
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.lib.bulk import bulk_insert
from lifelong.lib.csv_files import parse_date

SOURCE = "csv"
_TAG_SPLIT_RE = re.compile(r"[,;|]")
_TEXT_FIELDS = ("first_name", "last_name", "patronymic", "email", "phone", "source")


@dataclass
class CustomerRow:
    profile: dict[str, Any]
    attributes: dict[str, str]
    tags: list[str]


def _customer_row(cells: list[str], layout: Layout) -> CustomerRow:
    data: dict[str, Any] = {}
    for name in ("first_name", "last_name", "patronymic", "email", "phone", "source"):
        value = layout.cell(cells, name)
        if value:
            data[name] = value
    full_name = layout.cell(cells, "full_name").split()
    for name, part in zip(("last_name", "first_name", "patronymic"), full_name, strict=False):
        data.setdefault(name, part)
    gender = layout.cell(cells, "gender")
    if gender:
        if word(gender) not in GENDERS:
            raise RowError(
                layout.label("gender"),
                _("unknown gender %(value)r: use м/ж or m/f") % {"value": gender},
            )
        data["gender"] = GENDERS[word(gender)]
    birthday = layout.cell(cells, "birthday")
    if birthday:
        try:
            data["birthday"] = parse_date(birthday)
        except ValueError:
            raise RowError(
                layout.label("birthday"), _("not a date: %(value)r") % {"value": birthday}
            ) from None
    try:
        # The email and the birthday's range are checked there, as for the API.
        profile = clean_profile(data)
    except CustomerDataError as exc:
        field = exc.field or ""
        if field == "phone":
            reason = _("not a valid phone number: %(value)r") % {"value": data.get(field)}
        else:  # the service's message as it is: it may hold a % from the value
            reason = str(exc)
        raise RowError(layout.label(field), reason) from None
    for name in _TEXT_FIELDS:
        if name in profile:
            # Names split from a full name are checked under its column.
            column = layout.label(name if name in layout.index else "full_name")
            checked(text_limit(Customer, name), profile[name], column)
    attributes = {name: cells[position] for position, name in layout.extra if cells[position]}
    tags = [t.strip() for t in _TAG_SPLIT_RE.split(layout.cell(cells, "tags")) if t.strip()]
    for tag in tags:
        checked(text_limit(Tag, "name"), tag, layout.label("tags"))
    return CustomerRow(profile=profile, attributes=attributes, tags=tags)


ParsedGroups = list[tuple[str, list[tuple[int, CustomerRow]]]]


@dataclass
class ParsedCustomers:
    groups: ParsedGroups  # good groups: key and parsed rows
    rejected: Tally


class CustomersBatch:
    """The batch handler for one customers file."""

    def __init__(self, layout: Layout, tz: ZoneInfo) -> None:
        self.layout = layout
        self.key_limit = text_limit(Customer, "external_id")

    def prepare(self, groups: list[Group]) -> ParsedCustomers:
        """Parse and check a batch; no database access, so it may run in a reading thread."""
        layout = self.layout
        parsed = ParsedCustomers(groups=[], rejected=Tally())
        for key, rows in groups:
            if not key:
                parsed.rejected.reject_keyless(layout, rows, "external_id", _("the ID is empty"))
                continue
            try:
                self.key_limit.check(key)
            except FieldLimitError as exc:
                parsed.rejected.reject_keyless(layout, rows, "external_id", str(exc))
                continue
            good: list[tuple[int, CustomerRow]] = []
            failures: dict[int, RowError] = {}
            for number, cells in rows:
                try:
                    good.append((number, _customer_row(cells, layout)))
                except RowError as exc:
                    failures[number] = exc
            if failures:
                parsed.rejected.reject_group(layout, rows, failures)
            else:
                parsed.groups.append((key, good))
        return parsed

    def write(self, prepared: ParsedCustomers, ctx: Context) -> Tally:
        """customer_upsert semantics for a batch: only given fields change, tags are added."""
        tally = Tally()
        tally.add(prepared.rejected)
        _customers_write(prepared.groups, ctx, tally)
        return tally


def _customers_write(parsed: ParsedGroups, ctx: Context, tally: Tally) -> None:
    """Apply the parsed rows, counting them in `tally`: one query per table to read, bulk writes."""
    by_key: dict[str, Customer] = customers_by_external_id(key for key, _rows in parsed)
    through = Customer.tags.through
    tags_of: dict[int, set[str]] = {}
    for customer_id, name in through.objects.filter(
        customer_id__in=[c.pk for c in by_key.values()]
    ).values_list("customer_id", "tag__name"):
        tags_of.setdefault(customer_id, set()).add(name)

    new: list[Customer] = []
    dirty: dict[int, Customer] = {}
    dirty_fields: set[str] = set()
    links: list[tuple[Customer, list[str]]] = []
    events: list[tuple[Customer, str, dict[str, Any]]] = []
    new_tags: dict[int, set[str]] = {}
    for key, good in parsed:
        for _number, row in good:
            customer = by_key.get(key)
            created = customer is None
            profile = dict(row.profile)
            if customer is None:
                customer = Customer(external_id=key, source=profile.pop("source", SOURCE))
                by_key[key] = customer
                new.append(customer)
            current_tags = (
                new_tags.setdefault(id(customer), set())
                if customer.pk is None
                else tags_of.setdefault(customer.pk, set())
            )
            changes = customer.profile_apply(profile, row.attributes)
            if changes and customer.pk is not None:
                customer.updated_at = ctx.now
                dirty[customer.pk] = customer
                dirty_fields.update(changes)
            added = sorted(set(row.tags) - current_tags)
            if added:
                current_tags.update(added)
                changes["tags"] = added
                links.append((customer, added))
            if created:
                tally.created += 1
            elif changes:
                tally.updated += 1
            else:
                tally.unchanged += 1
            if created or changes:
                event_type = "customer_created" if created else "customer_updated"
                events.append((customer, event_type, {"changes": changes_as_json(changes)}))

    if ctx.dry_run:
        return
    bulk_insert(new)
    if dirty:
        Customer.objects.bulk_update(list(dirty.values()), [*sorted(dirty_fields), "updated_at"])
    if links:
        names = {n for _customer, added in links for n in added}
        Tag.objects.bulk_create([Tag(name=n) for n in sorted(names)], ignore_conflicts=True)
        tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
        through.objects.bulk_create(
            [through(customer_id=c.pk, tag_id=tag_ids[n]) for c, added in links for n in added],
            ignore_conflicts=True,
        )
    events_record(
        [
            Event(
                customer_id=c.pk,
                type=event_type,
                properties=properties,
                occurred_at=ctx.now,
                received_at=ctx.now,
                source=SOURCE,
            )
            for c, event_type, properties in events
        ]
    )
