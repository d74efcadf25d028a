"""The points liability report: its figures against an independent sum of the ledger entries,
the page, the CSV export (read as bytes) and who may see it."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from decimal import Decimal
from itertools import count
from typing import cast

import pytest
from django.db import connection
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.holds import hold_reserve
from lifelong.loyalty.liability import MONTHS_AHEAD, liability_report
from lifelong.loyalty.models import Account, AccountKind, Bucket, Entry, Lot, Programme
from lifelong.loyalty.services import months_add, points_adjust, points_award
from lifelong.loyalty.tests.helpers import assert_consistent, order_paid, programme_start
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db
KEYS = count()


def independent() -> dict[str, object]:
    """The liability recomputed from the entries alone (not the cached balances or lots)."""
    per_account: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    rows = Entry.objects.filter(account__kind=AccountKind.CUSTOMER).values_list(
        "account_id", "bucket", "points"
    )
    for account, bucket, points in rows:
        per_account[account][bucket] += points
    available = sum(max(b[Bucket.AVAILABLE], 0) for b in per_account.values())
    debt = sum(-min(b[Bucket.AVAILABLE], 0) for b in per_account.values())
    pending = sum(b[Bucket.PENDING] for b in per_account.values())
    held = sum(b[Bucket.HELD] for b in per_account.values())
    left = dict(
        Entry.objects.filter(lot__isnull=False)
        .values("lot_id")
        .annotate(points=Sum("points"))
        .values_list("lot_id", "points")
    )
    now = clock.now()
    start = timezone.localtime(now).date().replace(day=1)
    months: dict[dt.date, int] = defaultdict(int)
    overdue = later = never = 0
    for lot in Lot.objects.all():
        points = left.get(lot.pk, 0)
        if points <= 0:
            continue
        if lot.expires_at is None:
            never += points
        elif lot.expires_at <= now:
            overdue += points
        else:
            month = timezone.localtime(lot.expires_at).date().replace(day=1)
            if month >= months_add(dt.datetime.combine(start, dt.time()), MONTHS_AHEAD).date():
                later += points
            else:
                months[month] += points
    return {
        "available": available,
        "debt": debt,
        "pending": pending,
        "held": held,
        "overdue": overdue,
        "months": dict(months),
        "later": later,
        "never": never,
    }


def reported() -> dict[str, object]:
    report = liability_report()
    b = report.balances
    return {
        "available": b.available,
        "debt": b.debt,
        "pending": b.pending,
        "held": b.held,
        "overdue": report.overdue,
        "months": {m.month: m.points for m in report.months if m.points},
        "later": report.later,
        "never": report.never,
    }


@pytest.fixture
def ledger(frozen_time) -> list[Customer]:
    """Lots spread over the coming months, one overdue, pending, held, never-expiring."""
    programme_start(pending_days=14, expiry_months=12)
    people = [cast(Customer, CustomerFactory()) for _n in range(4)]
    clerk = cast(User, UserFactory(username="clerk", role=Role.OWNER))
    now = clock.now()
    for n, person in enumerate(people):
        for months_ago in (1, 4, 7, 11):
            points_award(
                customer_id=person.pk,
                points=10 * (n + 1) + months_ago,
                key=f"aw{next(KEYS)}",
                occurred_at=months_add(now, -months_ago),
            )
    # Expired a week ago; the sweep has not run.
    points_award(
        customer_id=people[0].pk,
        points=7,
        key="old",
        occurred_at=now - dt.timedelta(days=372),
    )
    points_adjust(customer_id=people[1].pk, points=-30, key="burn", staff=clerk, comment="x")
    order_paid(people[2], "P-1", "1500.00")
    loyalty_earn()  # 15 pending points
    hold_reserve(customer_id=people[3].pk, order_external_id="H-1", points=25, timeout_seconds=600)
    programme = Programme.current()
    programme.expiry_months = 0
    programme.save()
    points_award(customer_id=people[3].pk, points=9, key="forever")
    assert_consistent()
    return people


def test_figures_equal_an_independent_sum_of_the_entries(ledger):
    assert reported() == independent()
    report = liability_report()
    assert report.balances.pending == 15 and report.balances.held == 25
    assert report.overdue == 7 and report.never == 9
    assert len(report.months) == MONTHS_AHEAD
    assert report.months[0].month == dt.date(2026, 3, 1)  # the frozen month, Moscow time
    assert sum(m.points for m in report.months) > 0


def test_value_is_points_times_the_point_value(ledger):
    programme = Programme.current()
    programme.point_value = Decimal("0.50")
    programme.save()
    report = liability_report()
    assert report.value == (Decimal("0.50") * report.balances.outstanding).quantize(Decimal("0.01"))


def test_two_set_based_queries_whatever_the_number_of_lots(ledger, django_assert_num_queries):
    # Lots aggregate, lots by month, accounts aggregate, the programme.
    with django_assert_num_queries(4):
        liability_report()


@settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.integers(1, 500), st.integers(0, 800), st.integers(-60, 0)),
        min_size=1,
        max_size=8,
    )
)
def test_any_awards_and_deductions_match_the_entries(frozen_time, actions):
    programme_start(pending_days=0, expiry_months=12)
    person = CustomerFactory()
    clerk = UserFactory(username=f"c{next(KEYS)}", role=Role.OWNER)
    for points, days_ago, deduct in actions:
        points_award(
            customer_id=person.pk,
            points=points,
            key=f"p{next(KEYS)}",
            occurred_at=clock.now() - dt.timedelta(days=days_ago),
        )
        take = min(-deduct, Account.objects.get(customer=person).available)
        if take > 0:
            points_adjust(
                customer_id=person.pk,
                points=-take,
                key=f"d{next(KEYS)}",
                staff=clerk,
                comment="списание",
            )
    assert reported() == independent()


def csv_bytes(response) -> bytes:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return b"".join(response.streaming_content)


def test_csv_export_read_as_bytes(ledger):
    client = logged_in(staff(Role.ANALYST))
    raw = csv_bytes(client.get(reverse("web:loyalty_liability_csv")))
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8")), delimiter=";"))
    assert rows[0] == ["строка", "месяц", "баллы", "стоимость, ₽"]
    by_line = {row[0]: row for row in rows[1:] if not row[1]}
    report = liability_report()
    assert by_line["к погашению всего"][2] == str(report.balances.outstanding)
    assert by_line["к погашению всего"][3] == str(report.value)
    assert by_line["в резерве на кассе"][2] == "25"
    months = [row for row in rows[1:] if row[1]]
    assert [row[1] for row in months] == [m.month.strftime("%Y-%m") for m in report.months]
    assert [int(row[2]) for row in months] == [m.points for m in report.months]


def test_csv_cells_are_escaped(ledger):
    # The lines are ours, but the rule holds for every cell: nothing starts a formula.
    raw = csv_bytes(logged_in(staff(Role.OWNER)).get(reverse("web:loyalty_liability_csv")))
    for row in csv.reader(io.StringIO(raw[3:].decode("utf-8")), delimiter=";"):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_page_shows_totals_months_and_the_chart_data(ledger):
    client = logged_in(staff(Role.SUPPORT))
    client.cookies["django_language"] = "en"
    response = client.get(reverse("web:loyalty_liability"))
    assert response.status_code == 200
    body = response.content.decode()
    report = liability_report()
    assert f'id="liability-outstanding">{report.balances.outstanding}<' in body
    assert 'id="liability-data"' in body and "loyalty_liability.js" in body
    assert "March 2026" in body and "February 2027" in body
    assert "Expired, not yet swept" in body and "Never expires" in body
    assert reverse("web:loyalty_liability_csv") in body


def test_settings_page_links_to_the_report(owner_client):
    body = owner_client.get(reverse("web:loyalty_settings")).content.decode()
    assert reverse("web:loyalty_liability") in body


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("web:loyalty_liability_csv"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_expiry_index_exists():
    # The month query reads open lots by expiry: the partial index must be there.
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, Lot._meta.db_table)
    assert any(spec["columns"] == ["expires_at"] and spec["index"] for spec in indexes.values())


def test_the_dashboard_links_to_the_report_for_every_reader():
    body = logged_in(staff(Role.ANALYST)).get(reverse("web:dashboard")).content.decode()
    assert reverse("web:loyalty_liability") in body
