"""Plans to rows, in bulk, with the Event rows the services would have written beside them.

The services do one row at a time (too slow for thousands of customers); these writers
produce the same rows and the same events, with the same idempotency keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, TypeVar

from django.db import models

from lifelong.accounts.models import User
from lifelong.commerce.models import Order, OrderLine, Product, Refund
from lifelong.customers.models import Consent, Customer, Fact, Note, Tag
from lifelong.demo.catalogue import ITEMS
from lifelong.demo.consents import ConsentPlan
from lifelong.demo.people import Person
from lifelong.demo.purchases import PlannedOrder
from lifelong.demo.staff_work import StaffWork
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.followups.models import Task, TaskSource, TaskStatus

BATCH = 2000
M = TypeVar("M", bound=models.Model)
SOURCE = "api"  # the shop's integration pushed customers and orders as they happened
# Profile fields as customers.services.customer_upsert reports them in customer_created.
_PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "patronymic",
    "gender",
    "birthday",
    "email",
    "phone",
    "telegram_chat_id",
    "language",
    "time_zone",
)


def _bulk(model: type[M], rows: list[M]) -> list[M]:
    return model._default_manager.bulk_create(rows, batch_size=BATCH)


def _event(
    customer_id: int,
    type: str,
    properties: dict[str, Any],
    at: dt.datetime,
    *,
    source: str = SOURCE,
    key: str | None = None,
) -> Event:
    # Events arrived as things happened, so received equals occurred.
    return Event(
        customer_id=customer_id,
        type=type,
        properties=properties,
        occurred_at=at,
        received_at=at,
        source=source,
        idempotency_key=key,
    )


def products_write() -> dict[str, Product]:
    rows = [
        Product(
            sku=i.sku,
            name=i.name,
            category=i.category.name,
            price=i.price,
            replenishment_days=i.replenishment_days,
        )
        for i in ITEMS
    ]
    return {p.sku: p for p in _bulk(Product, rows)}


def customers_write(people: list[Person]) -> dict[int, int]:
    """Customers, their tags and customer_created events; returns person index -> customer id."""
    rows = [
        Customer(
            external_id=p.external_id,
            first_name=p.first_name,
            last_name=p.last_name,
            patronymic=p.patronymic,
            gender=p.gender,
            birthday=p.birthday,
            email=p.email,
            phone=p.phone,
            telegram_chat_id=p.telegram_chat_id,
            time_zone=p.city.time_zone,
            attributes=p.attributes,
            source=p.source,
            created_at=p.created_at,
            updated_at=p.created_at,
        )
        for p in people
    ]
    ids = {p.index: c.pk for p, c in zip(people, _bulk(Customer, rows), strict=True)}
    tag_names = sorted({t for p in people for t in p.tags})
    Tag.objects.bulk_create([Tag(name=n) for n in tag_names], ignore_conflicts=True)
    tag_ids = dict(Tag.objects.filter(name__in=tag_names).values_list("name", "pk"))
    through = Customer.tags.through
    _bulk(
        through,
        [through(customer_id=ids[p.index], tag_id=tag_ids[t]) for p in people for t in p.tags],
    )
    blank = Customer()
    defaults = {f: getattr(blank, f) for f in _PROFILE_FIELDS}
    events = []
    for person, row in zip(people, rows, strict=True):
        changes: dict[str, Any] = {
            f: getattr(row, f) for f in _PROFILE_FIELDS if getattr(row, f) != defaults[f]
        }
        if person.birthday:
            changes["birthday"] = person.birthday.isoformat()
        changes["attributes"] = person.attributes
        if person.tags:
            changes["tags"] = list(person.tags)
        events.append(_event(row.pk, "customer_created", {"changes": changes}, person.created_at))
    events_record(events)
    return ids


def orders_write(
    orders: list[PlannedOrder], *, customer_ids: dict[int, int], products: dict[str, Product]
) -> list[Event]:
    """Orders with lines and refunds; returns the events of each status they went through,
    unsaved: the loyalty history (demo/loyalty.py) records them in time order as it replays
    the programme, so that the earning sweep reads them as a live shop's log."""
    rows = _bulk(
        Order,
        [
            Order(
                external_id=o.external_id,
                customer_id=customer_ids[o.person.index],
                status=o.status,
                placed_at=o.placed_at,
                paid_at=o.paid_at,
                delivered_at=o.delivered_at,
                total=o.total,
                refunded_total=o.refunded_total,
                discount=o.discount,
                coupon=o.coupon,
                channel=o.channel,
                created_at=o.placed_at,
                updated_at=o.updated_at,
            )
            for o in orders
        ],
    )
    _bulk(
        OrderLine,
        [
            OrderLine(
                order_id=row.pk,
                product_id=products[ln.item.sku].pk,
                sku=ln.item.sku,
                name=ln.item.name,
                quantity=ln.quantity,
                price=ln.item.price,
            )
            for o, row in zip(orders, rows, strict=True)
            for ln in o.lines
        ],
    )
    _bulk(
        Refund,
        [
            Refund(
                external_id=o.refund.external_id,
                order_id=row.pk,
                amount=o.refund.amount,
                reason=o.refund.reason,
                is_return=o.refund.is_return,
                created_at=o.refund.at,
            )
            for o, row in zip(orders, rows, strict=True)
            if o.refund is not None
        ],
    )
    return [
        e
        for o, row in zip(orders, rows, strict=True)
        for e in _order_events(o, row.pk, customer_ids)
    ]


def _order_events(
    order: PlannedOrder, order_id: int, customer_ids: dict[int, int]
) -> Iterable[Event]:
    """What commerce.services.order_upsert and refund_record record along the order's life."""
    customer_id = customer_ids[order.person.index]
    skus = [ln.item.sku for ln in order.lines]
    steps = [("placed", order.placed_at), ("paid", order.paid_at)]
    steps += [("delivered", order.delivered_at), ("cancelled", order.cancelled_at)]
    for status, at in steps:
        if at is None:
            continue
        properties = {
            "order_id": order_id,
            "external_id": order.external_id,
            "total": str(order.total),
            "currency": "RUB",
            "status": status,
            "skus": skus,
        }
        key = f"order:{order.external_id}:{status}"
        yield _event(customer_id, f"order_{status}", properties, at, key=key)
    refund = order.refund
    if refund is not None:
        properties = {
            "order_id": order_id,
            "external_id": order.external_id,
            "refund_id": refund.external_id,
            "amount": str(refund.amount),
            "reason": refund.reason,
        }
        kind = "order_returned" if refund.is_return else "order_refund"
        yield _event(customer_id, kind, properties, refund.at, key=f"refund:{refund.external_id}")


def consents_write(plans: list[ConsentPlan], *, customer_ids: dict[int, int]) -> None:
    """Consent rows and the consent_granted / consent_withdrawn events of consent_record."""
    rows = [
        Consent(
            customer_id=customer_ids[c.person.index],
            channel=c.channel,
            purpose=c.purpose,
            granted=c.granted,
            at=c.at,
            source=c.source,
            ip=c.ip,
            form=c.form,
            text_version=c.text_version,
        )
        for c in plans
    ]
    _bulk(Consent, rows)
    events_record(
        _event(
            c.customer_id,
            "consent_granted" if c.granted else "consent_withdrawn",
            {"channel": c.channel, "purpose": c.purpose, "source": c.source},
            c.at,
            source=c.source,
        )
        for c in rows
    )


def staff_work_write(
    work: StaffWork, *, customer_ids: dict[int, int], staff: dict[str, User]
) -> None:
    """Notes, facts and tasks with the events note_add, fact_add and the task services record."""
    support = staff["support"]
    notes = _bulk(
        Note,
        [
            Note(
                customer_id=customer_ids[n.person.index],
                author=staff[n.author],
                text=n.text,
                created_at=n.at,
            )
            for n in work.notes
        ],
    )
    facts = _bulk(
        Fact,
        [
            Fact(
                customer_id=customer_ids[f.person.index],
                author=support,
                text=f.text,
                category=f.category,
                created_at=f.at,
            )
            for f in work.facts
        ],
    )
    tasks = _bulk(
        Task,
        [
            Task(
                customer_id=customer_ids[t.person.index],
                title=t.title,
                kind=t.kind,
                assignee=support,
                due_at=t.due_at,
                created_by=staff[t.created_by],
                created_at=t.created_at,
                outcome=t.outcome,
                completed_at=t.completed_at,
                status=TaskStatus.DONE if t.completed_at else TaskStatus.OPEN,
            )
            for t in work.tasks
        ],
    )
    events = [
        _event(
            n.customer_id,
            "note_added",
            {"note_id": n.pk, "text": n.text[:500], "author": staff[plan.author].get_username()},
            n.created_at,
            source="staff",
        )
        for plan, n in zip(work.notes, notes, strict=True)
    ]
    events += [
        _event(
            f.customer_id,
            "fact_added",
            {"fact_id": f.pk, "text": f.text, "category": f.category},
            f.created_at,
            source="staff",
        )
        for f in facts
    ]
    for t in tasks:
        created = {"task_id": t.pk, "title": t.title, "source": TaskSource.MANUAL.value}
        events.append(_event(t.customer_id, "task_created", created, t.created_at, source="staff"))
        if t.completed_at:
            done = {"task_id": t.pk, "title": t.title, "outcome": t.outcome}
            events.append(_event(t.customer_id, "task_done", done, t.completed_at, source="staff"))
    events_record(events)
