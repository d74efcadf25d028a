"""The owner rotates a webhook sender's secret on the staff page; the old one keeps an expiry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import translation

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.events.models import WebhookSource
from lifelong.events.webhooks import webhook_source_create
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def test_rotation_shows_the_new_secret_once_and_the_old_ones_expiry(owner_client):
    source = webhook_source_create(slug="insales", actor=None)
    old = source.secret
    url = reverse("web:webhook_source_rotate", kwargs={"pk": source.pk})

    response = owner_client.post(url, {"overlap_hours": "48"})

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.secret != old and source.previous_secret == old
    assert source.previous_valid_until == clock.now() + dt.timedelta(hours=48)
    assert source.secrets_valid() == [source.secret, old]
    page = owner_client.get(reverse("web:staff"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert source.secret in page and old not in page
    assert "The previous secret works until" in page
    assert source.secret not in owner_client.get(reverse("web:staff")).content.decode()


@pytest.mark.parametrize("hours", ["-1", "721", "soon", ""])
def test_an_overlap_out_of_range_changes_nothing(owner_client, hours):
    source = webhook_source_create(slug="insales", actor=None)
    url = reverse("web:webhook_source_rotate", kwargs={"pk": source.pk})

    response = owner_client.post(url, {"overlap_hours": hours})

    assert response.status_code == 400
    assert WebhookSource.objects.get().secret == source.secret


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT, Role.ANALYST])
def test_only_the_owner_rotates(role):
    source = webhook_source_create(slug="insales", actor=None)
    url = reverse("web:webhook_source_rotate", kwargs={"pk": source.pk})

    assert logged_in(staff(role)).post(url, {"overlap_hours": "24"}).status_code == 403
    assert WebhookSource.objects.get().secret == source.secret


def test_rotating_a_missing_sender_is_404(owner_client):
    url = reverse("web:webhook_source_rotate", kwargs={"pk": 999})
    assert owner_client.post(url, {"overlap_hours": "24"}).status_code == 404
