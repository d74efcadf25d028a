"""The demo shop: believable, consistent with what the services write, and reproducible."""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections import defaultdict
from decimal import Decimal

import pytest
from django.test import Client

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.commerce.models import Order, OrderLine, OrderStatus, Product, Refund
from lifelong.commerce.services import LineInput, order_upsert
from lifelong.customers.models import Consent, Customer, Fact, Note
from lifelong.customers.services import PROFILE_FIELDS, customer_upsert
from lifelong.demo import names
from lifelong.demo.generator import STAFF, DemoRefused, demo_build
from lifelong.demo.segments import SAMPLES
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import FixRecipient, Response
from lifelong.followups.models import Task, TaskStatus
from lifelong.lib.phones import normalize_phone
from lifelong.segments.models import Segment, SegmentMembership
from lifelong.segments.rules import rules_parse
from lifelong.segments.services import segments_refresh_all, stages_refresh

pytestmark = pytest.mark.django_db
SMALL = 200


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Four staff accounts per build; the production hasher would dominate the test time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _snapshot() -> dict[str, list[tuple[object, ...]]]:
    return {
        "customers": list(
            Customer.objects.order_by("external_id").values_list(
                "external_id", "first_name", "patronymic", "last_name", "gender", "birthday",
                "email", "phone", "time_zone", "source", "created_at", "orders_count",
                "total_spent", "first_order_at", "last_order_at",
            )
        ),
        "orders": list(
            Order.objects.order_by("external_id").values_list(
                "external_id", "customer__external_id", "status", "placed_at", "paid_at",
                "delivered_at", "total", "refunded_total", "discount", "coupon", "channel",
            )
        ),
        "lines": list(
            OrderLine.objects.order_by("order__external_id", "sku").values_list(
                "order__external_id", "sku", "quantity", "price"
            )
        ),
        "consents": sorted(
            Consent.objects.values_list(
                "customer__external_id", "channel", "purpose", "granted", "at", "source", "form"
            )
        ),
        "events": sorted(
            Event.objects.values_list("customer__external_id", "type", "occurred_at", "source")
        ),
        "tasks": sorted(
            Task.objects.values_list("customer__external_id", "title", "status", "due_at")
        ),
        "survey answers": sorted(
            Response.objects.values_list(
                "customer__external_id", "submitted_at", "score", "comment", "themes"
            )
        ),
        # Who the fix kept back (its holdout) and whom it reached, by the customers' own ids.
        "fix recipients": sorted(
            FixRecipient.objects.values_list("customer__external_id", "holdout", "channel")
        ),
    }  # fmt: skip


def test_summary_of_every_customer_equals_a_recount_of_their_orders(frozen_time):
    demo_build(customers=SMALL, seed=1)
    counted: dict[int, list[Order]] = defaultdict(list)
    for order in Order.objects.exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.REFUNDED]):
        counted[order.customer_id].append(order)
    customers = list(Customer.objects.all())
    assert len(customers) == SMALL
    assert sum(1 for c in customers if c.orders_count == 0) > 5  # leads and lapsed first buyers
    assert max(c.orders_count for c in customers) > 3  # and loyal repeat buyers
    for customer in customers:
        orders = counted[customer.pk]
        assert customer.orders_count == len(orders)
        assert customer.total_spent == sum((o.total - o.refunded_total for o in orders), Decimal(0))
        assert customer.first_order_at == (min(o.placed_at for o in orders) if orders else None)
        assert customer.last_order_at == (max(o.placed_at for o in orders) if orders else None)


def test_every_order_has_the_events_of_the_statuses_it_went_through(frozen_time):
    demo_build(customers=SMALL, seed=2)
    events = {e.idempotency_key: e for e in Event.objects.exclude(idempotency_key=None)}
    statuses = set()
    for order in Order.objects.prefetch_related("lines", "refunds"):
        statuses.add(order.status)
        placed = events[f"order:{order.external_id}:placed"]
        assert (placed.type, placed.customer_id, placed.occurred_at) == (
            "order_placed", order.customer_id, order.placed_at,
        )  # fmt: skip
        lines = sorted(order.lines.all(), key=lambda ln: ln.pk)
        assert placed.properties["skus"] == [ln.sku for ln in lines]
        assert order.total == sum((ln.total for ln in lines), Decimal(0)) - order.discount
        for status, at in (("paid", order.paid_at), ("delivered", order.delivered_at)):
            assert (f"order:{order.external_id}:{status}" in events) == (at is not None)
            if at is not None:
                assert events[f"order:{order.external_id}:{status}"].occurred_at == at
        cancelled = f"order:{order.external_id}:cancelled" in events
        assert cancelled == (order.status == OrderStatus.CANCELLED)
        refunds = list(order.refunds.all())
        assert order.refunded_total == sum((r.amount for r in refunds), Decimal(0))
        assert (order.status == OrderStatus.REFUNDED) == (
            bool(refunds) and order.refunded_total == order.total
        )
        for refund in refunds:
            assert events[f"refund:{refund.external_id}"].type in {"order_returned", "order_refund"}
    assert {OrderStatus.DELIVERED, OrderStatus.CANCELLED} <= statuses


def test_demo_rows_look_exactly_like_what_the_services_write(frozen_time):
    demo_build(customers=SMALL, seed=3)
    demo = (
        Customer.objects.filter(orders__status=OrderStatus.DELIVERED, orders__discount=0)
        .exclude(tags=None)
        .first()
    )
    assert demo is not None
    demo_created = Event.objects.get(customer=demo, type="customer_created")

    profile = {f: getattr(demo, f) for f in PROFILE_FIELDS}
    twin, _ = customer_upsert(
        external_id="twin",
        data=profile,
        attributes=demo.attributes,
        tags=demo.tags.values_list("name", flat=True),
    )
    twin_created = Event.objects.get(customer=twin, type="customer_created")
    assert twin_created.properties == demo_created.properties
    assert twin_created.source == demo_created.source

    order = demo.orders.filter(status=OrderStatus.DELIVERED, discount=0).first()
    assert order is not None
    lines = [LineInput(ln.sku, ln.quantity, ln.price, ln.name) for ln in order.lines.order_by("pk")]
    common = {"customer": twin, "total": order.total, "placed_at": order.placed_at, "lines": lines}
    order_upsert(external_id="twin-order", **common)
    order_upsert(external_id="twin-order", status="paid", paid_at=order.paid_at, **common)
    order_upsert(
        external_id="twin-order", status="delivered", paid_at=order.paid_at,
        delivered_at=order.delivered_at, **common,
    )  # fmt: skip

    def story(o: Order) -> list[tuple[object, ...]]:
        rows = Event.objects.filter(properties__external_id=o.external_id).order_by("occurred_at")
        return [
            (e.type, e.occurred_at, e.source, str(e.idempotency_key).replace(o.external_id, "X"),
             {k: v for k, v in e.properties.items() if k not in {"order_id", "external_id"}})
            for e in rows
        ]  # fmt: skip

    assert story(Order.objects.get(external_id="twin-order")) == story(order)
    twin.refresh_from_db()
    assert (twin.orders_count, twin.total_spent) == (1, order.total)


def test_names_agree_in_gender_and_contacts_are_valid(frozen_time):
    demo_build(customers=SMALL, seed=4)
    customers = list(Customer.objects.all())
    assert {c.gender for c in customers} == {"m", "f"}
    for c in customers:
        if c.gender == "f":
            assert c.first_name in names.FEMALE_FIRST_NAMES
            assert c.patronymic == "" or c.patronymic.endswith(("вна", "чна"))
            assert c.last_name.endswith(("а", "ая")) or c.last_name in names.NON_INFLECTING_SURNAMES
        else:
            assert c.first_name in names.MALE_FIRST_NAMES
            assert c.patronymic == "" or c.patronymic.endswith("ич")
            assert not c.last_name.endswith(("ова", "ева", "ёва", "ина", "ына", "ая"))
        assert c.email or c.phone
        if c.phone:
            assert normalize_phone(c.phone) == c.phone
            assert re.fullmatch(r"\+79\d{9}", c.phone)
        if c.email:
            assert re.fullmatch(r"[a-z0-9._]+@[a-z]+\.(ru|com)", c.email), c.email
        assert c.time_zone.startswith(("Europe/", "Asia/"))
        assert c.attributes["city"]
    emails = [c.email for c in customers if c.email]
    assert len(emails) == len(set(emails))


def test_surnames_and_patronymics_follow_russian_grammar():
    assert names.surname_for("Иванов", female=True) == "Иванова"
    assert names.surname_for("Вишневский", female=True) == "Вишневская"
    assert names.surname_for("Толстой", female=True) == "Толстая"
    assert names.surname_for("Ильин", female=True) == "Ильина"
    assert names.surname_for("Ковальчук", female=True) == "Ковальчук"
    assert names.surname_for("Черных", female=True) == "Черных"
    assert names.surname_for("Иванов", female=False) == "Иванов"
    assert names.patronymic_for(names.PATRONYMICS.index(("Ильич", "Ильинична")), female=True) == (
        "Ильинична"
    )
    assert names.translit("Фёдорова Юлия Щукина") == "fedorova yuliya shchukina"
    for surname in names.INFLECTING_SURNAMES:
        names.surname_for(surname, female=True)  # every listed surname has a feminine form


def test_same_seed_rebuilds_the_same_shop_without_duplicates(frozen_time):
    login = demo_build(customers=SMALL, seed=5)
    first = _snapshot()
    counts = {m.__name__: m.objects.count() for m in (Product, Note, Fact, Refund, User)}
    assert demo_build(customers=SMALL, seed=5) == login
    assert _snapshot() == first
    assert {m.__name__: m.objects.count() for m in (Product, Note, Fact, Refund, User)} == counts
    assert len(first["customers"]) == SMALL
    assert 35 <= Product.objects.count() <= 45
    assert first["survey answers"] and first["fix recipients"]


def test_another_seed_builds_another_shop(frozen_time):
    demo_build(customers=SMALL, seed=6)
    first = _snapshot()
    demo_build(customers=SMALL, seed=7)
    second = _snapshot()
    assert len(second["customers"]) == SMALL
    assert first["customers"] != second["customers"]
    assert first["orders"] != second["orders"]


def test_history_is_two_years_ending_now_with_real_looking_work(frozen_time):
    demo_build(customers=400, seed=8)
    now = clock.now()
    placed = list(Order.objects.values_list("placed_at", flat=True))
    assert now - dt.timedelta(days=731) <= min(placed) < now - dt.timedelta(days=600)
    assert max(placed) <= now
    assert Order.objects.count() > 400 * 2  # repeat purchases, not one order each
    assert Consent.objects.filter(granted=False).exists()
    granted = Consent.objects.filter(granted=True, source="checkout")
    assert granted.exists()
    assert not granted.filter(form="").exists() and not granted.filter(text_version="").exists()
    support = User.objects.get(role=Role.SUPPORT, username="demo-support")
    open_tasks = Task.objects.filter(status=TaskStatus.OPEN, assignee=support)
    assert open_tasks.filter(due_at__lt=now).exists() and open_tasks.filter(due_at__gt=now).exists()
    assert not Task.objects.filter(status=TaskStatus.DONE, outcome="").exists()
    assert Note.objects.exists() and Fact.objects.exists()
    assert Product.objects.get(sku="PRANA-TEA-PUER").replenishment_days == 30
    assert not Event.objects.filter(occurred_at__gt=now).exists()


def test_consumables_are_bought_again_around_their_cycle(frozen_time):
    demo_build(customers=400, seed=9)
    purchases: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    rows = OrderLine.objects.filter(product__replenishment_days=30, order__status="delivered")
    for customer_id, sku, placed_at in rows.values_list(
        "order__customer_id", "sku", "order__placed_at"
    ):
        purchases[(customer_id, sku)].append(placed_at)
    gaps = [
        (b - a).days
        for times in purchases.values()
        for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
    ]
    assert len(gaps) > 20
    assert 22 <= statistics.median(gaps) <= 45


def test_staff_can_log_in_with_the_printed_password(frozen_time):
    login = demo_build(customers=20, seed=10)
    assert Client().login(username=login.username, password=login.password)
    roles = dict(
        User.objects.filter(username__in=[s[0] for s in STAFF]).values_list("username", "role")
    )
    assert roles == {username: role.value for username, role, *_ in STAFF}
    assert roles[login.username] == Role.OWNER


def test_refuses_a_database_with_a_real_shop_in_it(frozen_time):
    real = CustomerFactory()
    with pytest.raises(DemoRefused, match="customers: 1"):
        demo_build(customers=20, seed=11)
    assert list(Customer.objects.all()) == [real]
    assert not Order.objects.exists() and not User.objects.filter(username="demo").exists()


def test_progress_goes_to_stderr(frozen_time, capsys):
    demo_build(customers=20, seed=12, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "demo:" in err and "done" in err


def test_sample_segments_are_created_once_and_find_members(frozen_time):
    demo_build(customers=SMALL, seed=5)
    demo_build(customers=SMALL, seed=5)
    assert Segment.objects.count() == len(SAMPLES)
    stages_refresh()
    segments_refresh_all()
    for segment in Segment.objects.all():
        rules_parse(segment.rules)
    tea = Segment.objects.get(name=SAMPLES[0][0])
    assert tea.member_count == SegmentMembership.objects.filter(segment=tea).count() > 0
