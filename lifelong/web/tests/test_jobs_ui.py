"""The Jobs page: every sweep's last run, duration, next due time, backlog and last error, and
the set-aside events with their Retry button (owners), for owners and analysts only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong.accounts.models import AuditLog, Role
from lifelong.events.models import Event, SetAsideEvent
from lifelong.factories import CustomerFactory
from lifelong.jobs import sweeps
from lifelong.jobs.models import SweepState
from lifelong.jobs.schedule import sweeps_run_due
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db
JOBS = "/jobs/"


def set_aside_event(error: str = "KeyError: 'order_id'") -> SetAsideEvent:
    event = Event.objects.create(customer=CustomerFactory.create(), type="order_placed")
    return SetAsideEvent.objects.create(reactor="journeys", event=event, error=error)


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.OWNER, 200), (Role.ANALYST, 200), (Role.MARKETER, 403), (Role.SUPPORT, 403)],
)
def test_owners_and_analysts_see_the_jobs_page(role, status):
    response = logged_in(staff(role)).get(JOBS)
    assert response.status_code == status


def test_the_page_shows_each_sweep_its_error_and_backlog(frozen_time):
    sweeps_run_due()
    SweepState.objects.filter(name="loyalty.verify").update(
        last_error="RuntimeError: odd data", consecutive_failures=3, last_duration_seconds=1.25
    )
    frozen_time.shift(dt.timedelta(minutes=1))
    client = logged_in(staff(Role.OWNER))
    client.cookies.load({"django_language": "en"})
    with CaptureQueriesContext(connection) as queries:
        body = client.get(JOBS).content.decode()
    for sweep in sweeps.SWEEPS:
        assert sweep.name in body
    for schedule in ("every 5 s", "every 10 min", "hourly", "daily at 03:00"):
        assert schedule in body
    assert "RuntimeError: odd data" in body
    assert "3 runs in a row" in body
    assert "1.25" in body
    # A minute on, the frequent sweeps are due now; not yet late.
    assert "now" in body
    assert "late by" not in body
    assert "None: every event went through." in body
    # Session and user, the sweep states, four backlogs, the set-aside list and its count.
    assert len(queries) <= 12
    frozen_time.shift(dt.timedelta(minutes=9))
    body = client.get(JOBS).content.decode()
    # Ten minutes after the last run the five-second sweeps have waited 9 min 55 s.
    assert "late by 9 min" in body


def test_analysts_see_set_aside_events_but_no_retry_button():
    aside = set_aside_event()
    body = logged_in(staff(Role.ANALYST)).get(JOBS).content.decode()
    assert "KeyError: &#x27;order_id&#x27;" in body
    assert reverse("web:set_aside_retry", args=[aside.pk]) not in body
    response = logged_in(staff(Role.ANALYST, "ann")).post(
        reverse("web:set_aside_retry", args=[aside.pk])
    )
    assert response.status_code == 403
    assert SetAsideEvent.objects.filter(pk=aside.pk).exists()


def test_retry_takes_post_only_and_an_existing_row():
    client = logged_in(staff(Role.OWNER))
    aside = set_aside_event()
    assert client.get(reverse("web:set_aside_retry", args=[aside.pk])).status_code == 405
    assert client.post(reverse("web:set_aside_retry", args=[aside.pk + 1000])).status_code == 404


def test_a_retry_that_goes_through_removes_the_row_and_is_audited():
    client = logged_in(staff(Role.OWNER))
    aside = set_aside_event()
    response = client.post(reverse("web:set_aside_retry", args=[aside.pk]))
    assert response.status_code == 302
    assert not SetAsideEvent.objects.exists()
    entry = AuditLog.objects.get(action="jobs.set_aside_retry")
    assert entry.object_id == str(aside.event_id)
    assert entry.changes == {"went_through": True}


def test_an_event_the_loyalty_programme_set_aside_is_listed_and_retried_by_its_own_sweep():
    from lifelong.loyalty.earning import SET_ASIDE

    event = Event.objects.create(customer=CustomerFactory.create(), type="review_published")
    aside = SetAsideEvent.objects.create(reactor=SET_ASIDE, event=event, error="TypeError: x")
    client = logged_in(staff(Role.OWNER))
    page = client.get(JOBS, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "loyalty programme" in page and "TypeError: x" in page
    response = client.post(reverse("web:set_aside_retry", args=[aside.pk]))
    assert response.status_code == 302
    # The loyalty earning posted it (nothing to earn for it now), so it left the list.
    assert not SetAsideEvent.objects.exists()
