"""`/healthz` answers anyone, also over plain HTTP when HTTPS is enforced, and says whether the
database, the broker and the sweeps are well; `/metrics` shows them to Prometheus, with a token,
all from the database (so any node shows what every process did)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from lifelong import clock
from lifelong.factories import CustomerFactory
from lifelong.jobs import sweeps
from lifelong.jobs.models import SweepState
from lifelong.jobs.schedule import sweep_slot
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-metrics-token"


@pytest.fixture
def sweeps_on_time(frozen_time):
    now = clock.now()
    SweepState.objects.bulk_create(
        [SweepState(name=s.name, last_slot=sweep_slot(s, now)) for s in sweeps.SWEEPS]
    )
    return frozen_time


def test_healthz_answers_without_a_session_in_one_query(sweeps_on_time):
    with CaptureQueriesContext(connection) as queries:
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "not used",
        "sweeps_late_seconds": {},
    }
    assert len(queries) == 1


def test_healthz_names_the_sweeps_waiting_too_long(sweeps_on_time):
    sweeps_on_time.shift(dt.timedelta(minutes=10))
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    # The frequent sweeps have waited 10 minutes less their interval (slots start at multiples
    # of it, as 10:00 UTC is); past 5 minutes that is late. The 10 minute sweep's slot has just
    # begun, the hourly and daily ones are not due.
    assert body["sweeps_late_seconds"] == {
        s.name: 600 - s.every_seconds for s in sweeps.SWEEPS if 600 - s.every_seconds > 300
    }
    assert {"journeys.react", "messaging.dispatch_due"} <= set(body["sweeps_late_seconds"])


def test_healthz_asks_the_broker_in_the_celery_mode(sweeps_on_time, settings):
    settings.SCHEDULER = "celery"
    assert Client().get("/healthz").json()["broker"] == "ok"
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    body = Client().get("/healthz").json()
    assert (body["status"], body["broker"]) == ("degraded", "unavailable")


@pytest.mark.django_db(transaction=True)
def test_healthz_is_503_on_a_database_without_tables(sweeps_on_time):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE jobs_sweepstate RENAME TO jobs_sweepstate_away")
    try:
        response = Client().get("/healthz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE jobs_sweepstate_away RENAME TO jobs_sweepstate")
    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable"}


def test_healthz_is_not_redirected_to_https(settings, sweeps_on_time):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/login/").status_code == 301


def test_metrics_need_the_token(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def _scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_show_sweeps_outbox_sends_and_due_enrollments(sweeps_on_time, settings):
    settings.METRICS_TOKEN = TOKEN
    SweepState.objects.filter(name="analytics.rollup").update(
        last_duration_seconds=2.5, runs=7, failures=2
    )
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    ChannelConfig.objects.create(channel="sms", transport="smtp", config={})
    customer = CustomerFactory.create(email="ann@example.com")
    for n, status in enumerate([Status.QUEUED, Status.QUEUED, Status.DEFERRED, Status.SENT]):
        Message.objects.create(
            customer=customer,
            dedupe_key=f"m{n}",
            channel="sms" if n == 1 else "email",
            purpose="transactional",
            to="ann@example.com",
            subject="Hi",
            body_text="Hi",
            status=status,
            next_attempt_at=clock.now() + dt.timedelta(days=1),
        )
    before = _scrape()
    assert before[("lifelong_sweep_duration_seconds", (("sweep", "analytics.rollup"),))] == 2.5
    assert before[("lifelong_sweep_runs_total", (("sweep", "analytics.rollup"),))] == 7
    assert before[("lifelong_sweep_failures_total", (("sweep", "analytics.rollup"),))] == 2
    assert before[("lifelong_sweep_lag_seconds", (("sweep", "journeys.react"),))] == 0
    outbox = {
        labels: value
        for (name, labels), value in before.items()
        if name == "lifelong_outbox_messages"
    }
    assert outbox == {
        (("channel", "email"), ("status", "queued")): 1,
        (("channel", "sms"), ("status", "queued")): 1,
        (("channel", "email"), ("status", "deferred")): 1,
    }
    assert before[("lifelong_enrollments_due", ())] == 0

    # The queued email goes out; the queued SMS fails: its transport lacks its settings.
    Message.objects.filter(dedupe_key__in=["m0", "m1"]).update(next_attempt_at=clock.now())
    dispatch_due()
    assert Message.objects.get(dedupe_key="m0").status == Status.SENT
    assert Message.objects.get(dedupe_key="m1").status == Status.FAILED
    after = _scrape()
    assert after[("lifelong_messages_sent_total", (("channel", "email"),))] == 1
    assert after[("lifelong_send_failures_total", (("channel", "email"),))] == 0
    assert after[("lifelong_messages_sent_total", (("channel", "sms"),))] == 0
    assert after[("lifelong_send_failures_total", (("channel", "sms"),))] == 1
    assert (("channel", "email"), ("status", "queued")) not in {
        labels for (name, labels) in after if name == "lifelong_outbox_messages"
    }


def test_metrics_take_a_few_queries(sweeps_on_time, settings):
    settings.METRICS_TOKEN = TOKEN
    with CaptureQueriesContext(connection) as queries:
        _scrape()
    assert len(queries) == 4
