"""`demo_build`: the demo shop «Прана», rebuilt from scratch, the same for the same seed."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass

import numpy as np
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.accounts.services import staff_user_create
from lifelong.commerce.models import Order, OrderLine, Product, Refund
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.models import Consent, Customer, Fact, Note
from lifelong.demo import records
from lifelong.demo.catalogue import SKU_PREFIX
from lifelong.demo.community import demo_club_write
from lifelong.demo.consents import consents_plan
from lifelong.demo.dice import Dice
from lifelong.demo.feedback import demo_feedback_wipe, feedback_history_write
from lifelong.demo.journeys import demo_journeys_ensure, demo_present
from lifelong.demo.loyalty_history import loyalty_history_write
from lifelong.demo.people import CUSTOMER_PREFIX, people_generate
from lifelong.demo.purchases import ORDER_PREFIX, orders_plan
from lifelong.demo.segments import demo_segments_ensure
from lifelong.demo.staff_work import staff_work_plan
from lifelong.demo.team import demo_team_write
from lifelong.events.models import Event
from lifelong.followups.models import Task
from lifelong.loyalty.models import CustomerTier
from lifelong.loyalty.services import ledger_erase

# Printed on every build: the demo is public by design, never a real account.
DEMO_PASSWORD = "prana-demo-2024"  # noqa: S105
# (username, role, first name, last name); the owner is the one the demo prints.
STAFF = (
    ("demo", Role.OWNER, "Анна", "Лебедева"),
    ("demo-marketer", Role.MARKETER, "Мария", "Соколова"),
    ("demo-support", Role.SUPPORT, "Ольга", "Кузнецова"),
    ("demo-analyst", Role.ANALYST, "Игорь", "Петров"),
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str


class DemoRefused(RuntimeError):
    """The database holds data that is not the demo's; the demo never mixes with it."""


class _Progress:
    def __init__(self, *, enabled: bool, steps: int) -> None:
        self.enabled, self.steps, self.step = enabled, steps, 0
        self.started = time.monotonic()

    def __call__(self, what: str) -> None:
        self.step += 1
        if self.enabled:
            elapsed = time.monotonic() - self.started
            line = f"demo: [{self.step}/{self.steps}] {what:<32} {elapsed:5.1f} s"
            print(f"\r{line}", end="", file=sys.stderr, flush=True)


def demo_build(*, customers: int = 5000, seed: int = 42, progress: bool = False) -> DemoLogin:
    """Replace any previous demo with a fresh one: staff, catalogue, customers and their history.

    Two builds with the same seed at the same moment produce the same data; history ends now.
    Raises DemoRefused when the database holds customers, orders or products of a real shop.
    """
    step = _Progress(enabled=progress, steps=11)
    end = clock.now().replace(second=0, microsecond=0)
    # One stream per aspect, so that tuning one leaves the others' draws unchanged.
    people_dice, orders_dice, consents_dice, work_dice, loyalty_dice = (
        Dice(rng) for rng in np.random.default_rng(seed).spawn(5)
    )
    people = people_generate(people_dice, count=customers, end=end)
    step(f"{len(people)} customers planned")
    orders = orders_plan(orders_dice, people=people, end=end)
    consents = consents_plan(consents_dice, people=people, end=end)
    work = staff_work_plan(work_dice, people=people, end=end)
    step(f"{len(orders)} orders planned")
    with transaction.atomic():
        demo_refuse_foreign_data()
        demo_wipe()
        step("previous demo wiped")
        staff = _staff_ensure()
        step("staff accounts ready")
        products = records.products_write()
        customer_ids = records.customers_write(people)
        step("customers written")
        order_events = records.orders_write(orders, customer_ids=customer_ids, products=products)
        step("orders written")
        records.consents_write(consents, customer_ids=customer_ids)
        step("consents written")
        records.staff_work_write(work, customer_ids=customer_ids, staff=staff)
        step("notes, facts and tasks written")
        loyalty_history_write(
            loyalty_dice,
            order_events=order_events,
            people=people,
            customer_ids=customer_ids,
            owner=staff[Role.OWNER.value],
            manager=staff[Role.SUPPORT.value],
            end=end,
        )
        step("loyalty programme replayed")
        customer_summaries_refresh(customer_ids.values())
        demo_segments_ensure()
        demo_journeys_ensure()
        # After the journeys: the NPS-after-delivery journey makes the survey it answers.
        feedback_history_write(
            random.Random(seed), customer_ids=list(customer_ids.values()), staff=staff, end=end
        )
        # After the tiers' history: the club admits those who reached the top tier.
        demo_club_write(seed=seed, end=end)
        demo_team_write(staff=staff, end=end)
        step("feedback written")
        step("done")
    return DemoLogin(username=STAFF[0][0], password=DEMO_PASSWORD)


def demo_refuse_foreign_data() -> None:
    """Raise DemoRefused if any customer, order or product is not the demo's."""
    foreign = {
        "customers": Customer.objects.exclude(external_id__startswith=CUSTOMER_PREFIX).count(),
        "orders": Order.objects.exclude(external_id__startswith=ORDER_PREFIX).count(),
        "products": Product.objects.exclude(sku__startswith=SKU_PREFIX).count(),
    }
    if any(foreign.values()):
        found = ", ".join(f"{what}: {n}" for what, n in foreign.items() if n)
        raise DemoRefused(
            f"This database already holds data that is not the demo's ({found}). "
            "The demo only fills an empty database: point LIFELONG_DATABASE_URL "
            "or LIFELONG_VAR_DIR at a fresh one."
        )


def demo_database_check() -> None:
    """Raise DemoRefused unless the database holds the demo and nothing else: `lifelong
    simulate` moves the clock and has journeys send, which only the demo's customers may see.
    Reads only, so a refused database is left exactly as it was (not even migrated)."""
    if Customer._meta.db_table not in connection.introspection.table_names():
        reason = "it has no tables yet"
    elif not demo_present():
        reason = "`lifelong demo` did not build it"
    else:
        try:
            demo_refuse_foreign_data()
            return
        except DemoRefused:
            reason = "it holds customers, orders or products that are not the demo's"
    raise DemoRefused(
        f"This database is not a demo ({reason}), so nothing was changed. `lifelong simulate` "
        "moves the clock and has the journeys send to the demo's customers only: build the "
        "demo with `lifelong demo` in a fresh database (LIFELONG_DATABASE_URL or "
        "LIFELONG_VAR_DIR)."
    )


def demo_wipe() -> None:
    """Delete every demo customer, order and product with everything hanging off them."""
    demo_customers = Customer.objects.filter(external_id__startswith=CUSTOMER_PREFIX)
    demo_orders = Order.objects.filter(customer__in=demo_customers)
    demo_feedback_wipe()
    # The points ledger names the customers and their orders: it goes first.
    ledger_erase(customer_ids=list(demo_customers.values_list("pk", flat=True)))
    # Dependants first, each one set-based DELETE, so the cascade below has nothing to fetch.
    OrderLine.objects.filter(order__in=demo_orders).delete()
    Refund.objects.filter(order__in=demo_orders).delete()
    demo_orders.delete()
    for model in (Event, Consent, Note, Fact, Task, CustomerTier):
        model._default_manager.filter(customer__in=demo_customers).delete()
    Customer.tags.through.objects.filter(customer__in=demo_customers).delete()
    demo_customers.delete()
    Product.objects.filter(sku__startswith=SKU_PREFIX).delete()


def _staff_ensure() -> dict[str, User]:
    """The demo staff, created once and reset to the demo password and role on each build."""
    staff = {}
    existing = {u.username: u for u in User.objects.filter(username__in=[s[0] for s in STAFF])}
    # One slow password hash shared by everyone who already exists, not one each.
    password_hash = make_password(DEMO_PASSWORD) if existing else ""
    for username, role, first_name, last_name in STAFF:
        user = existing.get(username)
        if user is None:
            user = staff_user_create(username=username, password=DEMO_PASSWORD, role=role)
        else:
            user.password, user.role, user.is_active = password_hash, role, True
        user.first_name, user.last_name = first_name, last_name
        user.save()
        staff[role.value] = user
    return staff
