"""Date triggers: birthdays, first-order anniversaries, calendar dates, sleeping customers,
replenishment.

A sweep, not an event: each run looks back `LOOKBACK_DAYS` so a day the scheduler missed
is caught up, and the enrollment key (one per year, per last order, per purchase) keeps it
from enrolling anyone twice.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Max, Q, QuerySet

from lifelong import clock
from lifelong.commerce.models import OrderLine, Product
from lifelong.commerce.services import UNCOUNTED_STATUSES
from lifelong.customers.models import Customer
from lifelong.journeys.definition import DATE_TRIGGERS, Definition, Trigger
from lifelong.journeys.models import Enrollment, Journey, JourneyStatus
from lifelong.journeys.services import enrollment_start
from lifelong.lib.zones import zone_of

LOOKBACK_DAYS = 3
CHUNK = 2000
# Who enrolls, with the enrollment key that keeps it once only, and the journey's context.
Due = Iterator[tuple[Customer, str, dict[str, str]]]


def journeys_enroll_by_date() -> int:
    """Enroll everyone whose date trigger fell in the last few days; returns enrollments made."""
    now = clock.now()
    made = 0
    for journey in Journey.objects.filter(
        status=JourneyStatus.ACTIVE, current_version__isnull=False
    ).select_related("current_version"):
        assert journey.current_version is not None
        definition = journey.current_version.parsed()
        if definition.trigger.kind not in DATE_TRIGGERS:
            continue
        for customer, key, context in _due(journey, definition, now):
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


def _due(journey: Journey, definition: Definition, now: dt.datetime) -> Due:
    trigger = definition.trigger
    today = now.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).date()
    if trigger.kind == "birthday":
        # `days` before the birthday, so a gift can arrive in time.
        ahead = dt.timedelta(days=trigger.days)
        candidates = Customer.objects.live().filter(
            _on_month_days("birthday", _nearby(today + ahead))
        )
        for customer in _chunks(candidates):
            assert customer.birthday is not None
            for day in _days(_local_date(now, customer) + ahead):
                if _yearly(customer.birthday, day.year, trigger.leap_day) == day:
                    yield customer, f"birthday:{day.year}", {"date": day.isoformat()}
    elif trigger.kind == "first_order_anniversary":
        candidates = Customer.objects.live().filter(
            _on_month_days("first_order_at", _nearby(today))
        )
        for customer in _chunks(candidates):
            assert customer.first_order_at is not None
            first = _local_date(customer.first_order_at, customer)
            for day in _days(_local_date(now, customer)):
                if first.year < day.year and _yearly(first, day.year, trigger.leap_day) == day:
                    years = day.year - first.year
                    yield customer, f"anniversary:{day.year}", {"years": str(years)}
    elif trigger.kind == "calendar_date":
        yield from _calendar_date(journey, trigger, now)
    elif trigger.kind == "days_since_last_order":
        for day in _days(today):
            last = day - dt.timedelta(days=trigger.days)
            query = Customer.objects.live().filter(**_on_day("last_order_at", last))
            for customer in _chunks(query):
                yield customer, f"sleep:{last.isoformat()}", {"days": str(trigger.days)}
    elif trigger.kind == "replenishment_due":
        yield from _replenishment(definition, today)


def _calendar_date(journey: Journey, trigger: Trigger, now: dt.datetime) -> Due:
    """Everyone whose own calendar has reached the date this year, once a year.

    Set-based: customers in one time zone share a calendar, so the question "whose day is it"
    is asked of the zones (a few hundred), and the customers of the zones whose day it is are
    read in one query that leaves out those enrolled this year already. Outside the few days
    around the date no zone is due and the sweep reads no customer at all.
    """
    origin = dt.date(2000, trigger.month, trigger.day)  # a leap year: 29 February exists
    for day, zones in sorted(_zones_on(origin, trigger.leap_day, now).items()):
        key = f"yearly:{day.year}"
        query = Q(time_zone__in=zones)
        if settings.TIME_ZONE in zones:
            # A customer whose stored zone is unknown lives by the shop's clock (`zone_of`).
            query |= ~Q(time_zone__in=_known_zones())
        enrolled = Enrollment.objects.filter(journey=journey, key=key).values("customer_id")
        due = Customer.objects.live().filter(query).exclude(pk__in=enrolled)
        for customer in _chunks(due):
            yield customer, key, {"date": day.isoformat()}


def _zones_on(origin: dt.date, leap_day: str, now: dt.datetime) -> dict[dt.date, list[str]]:
    """The zones whose local calendar shows the day `origin` came round within the look-back,
    by that day (a zone runs up to a day ahead of or behind another)."""
    found: dict[dt.date, list[str]] = {}
    for name in sorted(_known_zones()):
        for day in _days(now.astimezone(zone_of(name)).date()):
            if _yearly(origin, day.year, leap_day) == day:
                found.setdefault(day, []).append(name)
    return found


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _local_date(instant: dt.datetime, customer: Customer) -> dt.date:
    """The date on the customer's own calendar: a greeting comes on their day, not Moscow's."""
    return instant.astimezone(zone_of(customer.time_zone)).date()


def _nearby(today: dt.date) -> list[dt.date]:
    """The shop's look-back days widened by one day either side: customers' zones run up to a
    day ahead of or behind the shop's, and each customer's own calendar decides afterwards."""
    return [today + dt.timedelta(days=1 - n) for n in range(LOOKBACK_DAYS + 2)]


def _yearly(origin: dt.date, year: int, leap_day: str) -> dt.date:
    """The day `origin` comes round in `year`: 29 February moves to the 28th or 1 March."""
    if (origin.month, origin.day) == (2, 29) and not calendar.isleap(year):
        return dt.date(year, 3, 1) if leap_day == "mar1" else dt.date(year, 2, 28)
    return origin.replace(year=year)


def _on_month_days(field: str, days: list[dt.date]) -> Q:
    pairs = {(day.month, day.day) for day in days}
    if pairs & {(2, 28), (3, 1)}:
        pairs.add((2, 29))
    query = Q(pk__in=[])
    for month, day in sorted(pairs):
        query |= Q(**{f"{field}__month": month, f"{field}__day": day})
    return query


def _replenishment(definition: Definition, today: dt.date) -> Due:
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
            for customer in _chunks(Customer.objects.live().filter(pk__in=last)):
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
