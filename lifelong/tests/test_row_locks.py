"""Every service that takes row locks runs on PostgreSQL when nobody opened a transaction for it.

The other tests run inside the test transaction, where `select_for_update()` always has one
around it; a service whose own `atomic` went missing only fails in production, with
TransactionManagementError. These run with autocommit on, as a web request or a worker does.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from lifelong import clock
from lifelong.accounts.models import ApiScope, Role
from lifelong.accounts.services import staff_user_role_set
from lifelong.analytics.models import RollupState
from lifelong.analytics.rollups import analytics_rollup, rollups_rebuild, rollups_refresh
from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.commerce.models import Order, Product
from lifelong.commerce.services import order_upsert, product_upsert, refund_record
from lifelong.conftest import client_for
from lifelong.customers.models import Customer
from lifelong.customers.services import customer_merge, customer_upsert
from lifelong.events.webhooks import webhook_source_create, webhook_source_rotate
from lifelong.factories import CustomerFactory, OrderFactory, TaskFactory, UserFactory
from lifelong.followups.models import TaskStatus
from lifelong.followups.services import task_complete
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import Enrollment, JourneyStatus, ReactorCursor
from lifelong.journeys.reactor import journeys_react
from lifelong.journeys.services import journey_create, journey_status_set, journey_version_save
from lifelong.lib.encryption import secrets_reencrypt
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.services import points_award, points_redeem
from lifelong.loyalty.sweeps import loyalty_expire_due, loyalty_release_pending
from lifelong.loyalty.tests.helpers import assert_consistent, order_paid, programme_start
from lifelong.messaging.models import Message, PushSubscription, Status
from lifelong.messaging.preferences import push_subscription_save
from lifelong.messaging.services import message_status_update
from lifelong.segments.editing import (
    clv_settings_update,
    lifecycle_rules_update,
    segment_activate,
    segment_archive,
    segment_update,
)
from lifelong.segments.models import LifecycleRules, Segment, SegmentMembership
from lifelong.segments.services import (
    segment_create,
    segment_refresh,
    segments_apply_for_customers,
    segments_refresh_all,
    stages_refresh,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVERYONE = {"op": "and", "rules": []}
WAIT = {
    "trigger": {"kind": "order_placed"},
    "start": "w",
    "nodes": [{"id": "w", "type": "wait", "days": 1}],
}


@pytest.fixture(autouse=True)
def _postgres_in_autocommit():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes no row locks: select_for_update() is a no-op there")
    assert connection.get_autocommit(), "the test must run outside any transaction"


def _background_threads_join() -> None:
    """Segment edits refill members in a thread after commit; wait for it before asserting."""
    for thread in threading.enumerate():
        if thread.name.startswith(("segment-refresh-", "stages-refresh")):
            thread.join(30)


def test_customer_merge_service():
    primary = CustomerFactory(phone="")
    duplicate = CustomerFactory(phone="+79160000002")
    OrderFactory(customer=duplicate)
    merged = customer_merge(primary=primary, duplicate=duplicate, actor=None)
    assert merged.phone == "+79160000002"
    assert Customer.objects.get(pk=duplicate.pk).merged_into_id == primary.pk
    assert Order.objects.get().customer_id == primary.pk


def test_customer_merge_through_the_api():
    primary = CustomerFactory(external_id="P")
    CustomerFactory(external_id="D")
    api = ApiClient(make_key([ApiScope.CUSTOMERS])[1])
    response = api.post("/customers/merge", {"primary": "P", "duplicate": "D"})
    assert response.status_code == 200, response.content
    assert Customer.objects.get(external_id="D").merged_into_id == primary.pk


def test_customer_merge_on_the_staff_page(owner):
    primary = CustomerFactory()
    duplicate = CustomerFactory()
    response = client_for(owner).post(
        f"/customers/{primary.pk}/merge/", {"duplicate": str(duplicate.pk), "confirm": "1"}
    )
    assert response.status_code == 302, response.content
    assert Customer.objects.get(pk=duplicate.pk).merged_into_id == primary.pk


def test_customer_upsert_updates_under_lock():
    customer_upsert(external_id="U-1", data={"first_name": "Анна"})
    customer, created = customer_upsert(external_id="U-1", data={"first_name": "Ольга"})
    assert (customer.first_name, created) == ("Ольга", False)


def test_product_and_order_upserts_and_refund():
    product_upsert(sku="MAT", name="Коврик")
    product, created = product_upsert(sku="MAT", name="Коврик для йоги")
    assert (product.name, created) == ("Коврик для йоги", False)
    assert Product.objects.count() == 1
    customer = CustomerFactory()
    values = {"customer": customer, "total": Decimal("1000"), "placed_at": clock.now()}
    order_upsert(external_id="O-1", **values)
    order, created = order_upsert(external_id="O-1", status="paid", **values)
    assert (order.status, created) == ("paid", False)
    refund_record(external_id="R-1", order=order, amount=Decimal("1000"))
    assert Order.objects.get().refunded_total == Decimal("1000")


def test_task_complete():
    task = TaskFactory()
    task_complete(task=task, outcome="Поговорили", by=None)
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE


def test_message_status_update_and_push_subscription_save():
    customer = CustomerFactory()
    Message.objects.create(
        customer=customer,
        dedupe_key="m-1",
        channel="email",
        purpose="transactional",
        status=Status.SENT,
        provider_id="p-1",
    )
    message = message_status_update(channel="email", provider_id="p-1", status="delivered")
    assert message is not None and message.status == Status.DELIVERED
    push_subscription_save(customer=customer, endpoint="https://push.test/1", p256dh="k", auth="a")
    _, created = push_subscription_save(
        customer=customer, endpoint="https://push.test/1", p256dh="k2", auth="a2"
    )
    assert not created
    assert PushSubscription.objects.get().p256dh == "k2"


def test_journey_version_react_and_advance():
    journey = journey_create(name="Путь", slug="j", definition=WAIT)
    journey_version_save(journey=journey, definition=WAIT)
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    journeys_react()
    order_upsert(
        external_id="O-2", customer=CustomerFactory(), total=Decimal("10"), placed_at=clock.now()
    )
    assert journeys_react() >= 1
    assert ReactorCursor.objects.get().last_event_id > 0
    enrollment = Enrollment.objects.get()
    Enrollment.objects.filter(pk=enrollment.pk).update(next_run_at=clock.now())
    assert advance_due() >= 1


def test_segment_refreshes_and_edits():
    segment = segment_create(name="Все", rules=EVERYONE)
    customer = CustomerFactory()
    assert segment_refresh(segment=segment).entered == 1
    SegmentMembership.objects.all().delete()
    assert segments_refresh_all() == 1
    assert segments_apply_for_customers(customer_ids=[customer.pk]).entered == 0
    segment_update(segment=segment, name="Все покупатели", rules=EVERYONE, actor=None)
    segment_archive(segment=segment, actor=None)
    SegmentMembership.objects.all().delete()
    segment_activate(segment=segment, actor=None)
    _background_threads_join()
    assert Segment.objects.get().name == "Все покупатели"
    assert SegmentMembership.objects.filter(segment=segment, customer=customer).exists()


def test_stages_and_settings_rows():
    CustomerFactory()
    assert stages_refresh() == 1
    days = LifecycleRules.current().sleeping_after_days + 1
    lifecycle_rules_update(values={"sleeping_after_days": days}, actor=None)
    _background_threads_join()
    assert LifecycleRules.current().sleeping_after_days == days
    clv_settings_update(values={}, actor=None)


def test_rollups():
    OrderFactory()
    rollups_rebuild()
    rollups_refresh(since=clock.now().date() - dt.timedelta(days=1))
    assert analytics_rollup() in ("rebuilt", "refreshed")
    assert RollupState.current().rebuilt_at is not None


def test_loyalty_earn_release_expire_award_and_redeem(frozen_time):
    programme_start(pending_days=1, expiry_months=1)
    anna = CustomerFactory()
    order_paid(anna, "L-1", "1990")
    assert loyalty_earn() >= 1
    frozen_time.shift(dt.timedelta(days=2))
    assert loyalty_release_pending() == 1
    points_award(customer_id=anna.pk, points=5, key="award:1")
    points_redeem(customer_id=anna.pk, points=3, key="redeem:1")
    frozen_time.shift(dt.timedelta(days=40))
    assert loyalty_expire_due() >= 1
    assert_consistent()


def test_webhook_secret_rotation_and_reencryption():
    source = webhook_source_create(slug="shop", actor=None)
    rotated = webhook_source_rotate(source=source, overlap=dt.timedelta(hours=1), actor=None)
    assert rotated.previous_secret == source.secret
    assert secrets_reencrypt() >= 1


def test_demoting_an_owner_locks_the_owners(owner):
    other = UserFactory(username="second-owner", role=Role.OWNER)
    staff_user_role_set(user=other, role=Role.MARKETER, actor=owner)
    other.refresh_from_db()
    assert other.role == Role.MARKETER
