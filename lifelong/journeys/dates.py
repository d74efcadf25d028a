"""Date triggers: birthdays, first-order anniversaries, sleeping customers, replenishment.

A sweep, not an event: each run looks back `LOOKBACK_DAYS` so a day the scheduler missed
is caught up, and the enrollment key (one per year, per last order, per purchase) keeps it
from enrolling anyone twice.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Max, Q, QuerySet

from lifelong import clock
from lifelong.commerce.models import OrderLine, Product
from lifelong.commerce.services import UNCOUNTED_STATUSES
from lifelong.customers.models import Customer
from lifelong.journeys.definition import DATE_TRIGGERS, Definition
from lifelong.journeys.models import Journey, JourneyStatus
from lifelong.journeys.services import enrollment_start

LOOKBACK_DAYS = 3
CHUNK = 2000


def journeys_enroll_by_date() -> int:
    """Enroll everyone whose date trigger fell in the last few days; returns enrollments made."""
    today = clock.now().astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).date()
    made = 0
    for journey in Journey.objects.filter(
        status=JourneyStatus.ACTIVE, current_version__isnull=False
    ).select_related("current_version"):
        assert journey.current_version is not None
        definition = journey.current_version.parsed()
        if definition.trigger.kind not in DATE_TRIGGERS:
            continue
        for customer, key, context in _due(definition, today):
            made += bool(
                enrollment_start(
                    journey=journey,
                    customer=customer,
                    key=key,
                    context=context,
                    definition=definition,
                )
            )
    return made


def _days(today: dt.date) -> list[dt.date]:
    return [today - dt.timedelta(days=n) for n in range(LOOKBACK_DAYS)]


def _live() -> Q:
    return Q(merged_into__isnull=True)


def _due(definition: Definition, today: dt.date) -> Iterator[tuple[Customer, str, dict[str, str]]]:
    trigger = definition.trigger
    if trigger.kind == "birthday":
        # `days` before the birthday, so a gift can arrive in time.
        for day in _days(today + dt.timedelta(days=trigger.days)):
            query = Customer.objects.filter(
                _live(), birthday__month=day.month, birthday__day=day.day
            )
            for customer in _chunks(query):
                yield customer, f"birthday:{day.year}", {"date": day.isoformat()}
    elif trigger.kind == "first_order_anniversary":
        for day in _days(today):
            query = Customer.objects.filter(
                _live(),
                first_order_at__month=day.month,
                first_order_at__day=day.day,
                first_order_at__year__lt=day.year,
            )
            for customer in _chunks(query):
                assert customer.first_order_at is not None
                years = day.year - customer.first_order_at.year
                yield customer, f"anniversary:{day.year}", {"years": str(years)}
    elif trigger.kind == "days_since_last_order":
        for day in _days(today):
            last = day - dt.timedelta(days=trigger.days)
            query = Customer.objects.filter(_live(), **_on_day("last_order_at", last))
            for customer in _chunks(query):
                yield customer, f"sleep:{last.isoformat()}", {"days": str(trigger.days)}
    elif trigger.kind == "replenishment_due":
        yield from _replenishment(definition, today)


def _replenishment(
    definition: Definition, today: dt.date
) -> Iterator[tuple[Customer, str, dict[str, str]]]:
    """Customers whose last purchase of a product is one replenishment cycle old."""
    products = Product.objects.filter(replenishment_days__isnull=False)
    if definition.trigger.skus:
        products = products.filter(sku__in=definition.trigger.skus)
    for product in products:
        assert product.replenishment_days is not None
        for day in _days(today):
            bought = day - dt.timedelta(days=product.replenishment_days)
            last = (
                OrderLine.objects.filter(product=product)
                .exclude(order__status__in=UNCOUNTED_STATUSES)
                .values("order__customer_id")
                .annotate(last=Max("order__placed_at"))
                .filter(**_on_day("last", bought))
                .values_list("order__customer_id", flat=True)
            )
            for customer in _chunks(Customer.objects.filter(_live(), pk__in=last)):
                yield (
                    customer,
                    f"replenish:{product.sku}:{bought.isoformat()}",
                    {"sku": product.sku, "product": product.name},
                )


def _on_day(field: str, day: dt.date) -> dict[str, dt.datetime]:
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    return {f"{field}__gte": start, f"{field}__lt": start + dt.timedelta(days=1)}


def _chunks(query: QuerySet[Customer]) -> Iterator[Customer]:
    yield from query.order_by("pk").iterator(chunk_size=CHUNK)
