"""Staff sessions end after LIFELONG_SESSION_IDLE_MINUTES without a request."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong.accounts.models import Role
from lifelong.factories import UserFactory

pytestmark = pytest.mark.django_db
IDLE = dt.timedelta(hours=1)


@pytest.fixture
def signed_in(settings, time_machine) -> Client:
    settings.SESSION_COOKIE_AGE = int(IDLE.total_seconds())
    time_machine.move_to("2026-03-02 10:00:00+00:00", tick=False)
    UserFactory(username="olga", role=Role.SUPPORT)
    client = Client()
    response = client.post(
        reverse("web:login"), {"username": "olga", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    return client


def test_a_session_left_idle_ends(signed_in, time_machine):
    time_machine.shift(IDLE + dt.timedelta(seconds=1))
    response = signed_in.get(reverse("web:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_an_active_session_slides_past_the_idle_time(signed_in, time_machine):
    for _ in range(3):
        time_machine.shift(IDLE - dt.timedelta(minutes=5))
        assert signed_in.get(reverse("web:home")).status_code == 200


def test_requests_within_a_minute_do_not_write_the_session(signed_in, time_machine):
    time_machine.shift(dt.timedelta(seconds=10))
    with CaptureQueriesContext(connection) as queries:
        signed_in.get(reverse("web:home"))
    writes = [q["sql"] for q in queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    assert writes == []
    time_machine.shift(dt.timedelta(minutes=2))
    with CaptureQueriesContext(connection) as queries:
        signed_in.get(reverse("web:home"))
    writes = [q["sql"] for q in queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    assert len(writes) == 1


def test_the_default_idle_time_is_a_working_day():
    from django.conf import settings

    assert settings.SESSION_IDLE_MINUTES == 8 * 60
    assert settings.SESSION_COOKIE_AGE == 8 * 60 * 60
