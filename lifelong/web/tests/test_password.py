"""Changing one's password, and resetting a forgotten one through a link by email."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
NEW = "Kx7-fj3q-Lm9z"


@pytest.fixture
def olga():
    return UserFactory(username="olga", role=Role.SUPPORT, email="olga@shop.ru")


@pytest.fixture
def staff_mail(settings):
    settings.EMAIL_HOST = "smtp.shop.ru"
    settings.SITE_URL = "https://crm.shop.ru"


def test_password_change_keeps_this_session_and_ends_the_others(olga):
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        client.post(reverse("web:login"), {"username": "olga", "password": PASSWORD})
    response = here.post(
        reverse("web:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )
    assert response.status_code == 302
    olga.refresh_from_db()
    assert olga.check_password(NEW)
    assert here.get(reverse("web:home")).status_code == 200
    assert elsewhere.get(reverse("web:home")).status_code == 302
    assert AuditLog.objects.filter(action="user.password_change", actor=olga).exists()


def test_password_change_needs_the_old_password(olga):
    client = Client()
    client.force_login(olga)
    client.post(
        reverse("web:password_change"),
        {"old_password": "wrong-old-password", "new_password1": NEW, "new_password2": NEW},
    )
    olga.refresh_from_db()
    assert olga.check_password(PASSWORD)


def _reset_link(message) -> str:
    found = re.search(r"https://crm\.shop\.ru(/password-reset/\S+/)", message.body)
    assert found, message.body
    return found[1]


def test_reset_by_email_sets_a_new_password(olga, staff_mail):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(reverse("web:password_reset"), {"email": "OLGA@shop.ru"})
    assert response["Location"] == reverse("web:password_reset_sent")
    [message] = mail.outbox
    assert message.to == ["olga@shop.ru"]
    link = _reset_link(message)
    # Django swaps the token in the address for a session marker before showing the form.
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    assert response["Location"] == reverse("web:login")
    olga.refresh_from_db()
    assert olga.check_password(NEW)
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"user.password_reset_request", "user.password_reset"} <= actions
    # The link worked once.
    assert (
        "expired or was already used"
        in Client(HTTP_ACCEPT_LANGUAGE="en").get(link, follow=True).content.decode()
    )


def test_the_link_points_at_the_site_url_not_at_the_host_header(olga, staff_mail, settings):
    settings.ALLOWED_HOSTS = ["*"]
    Client().post(
        reverse("web:password_reset"), {"email": "olga@shop.ru"}, HTTP_HOST="evil.example"
    )
    [message] = mail.outbox
    assert "evil.example" not in message.body
    assert "https://crm.shop.ru/password-reset/" in message.body


def test_the_mail_is_in_russian_by_default(olga, staff_mail):
    Client().post(reverse("web:password_reset"), {"email": "olga@shop.ru"})
    [message] = mail.outbox
    assert "пароль" in message.subject.lower()
    assert "Здравствуйте, olga!" in message.body


def test_an_unknown_email_gets_the_same_answer_and_no_mail(olga, staff_mail):
    response = Client().post(reverse("web:password_reset"), {"email": "who@example.ru"})
    assert response["Location"] == reverse("web:password_reset_sent")
    assert mail.outbox == []


def test_a_weak_new_password_is_refused(olga, staff_mail):
    client = Client()
    client.post(reverse("web:password_reset"), {"email": "olga@shop.ru"})
    form_url = client.get(_reset_link(mail.outbox[0]))["Location"]
    response = client.post(form_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert response.status_code == 200
    olga.refresh_from_db()
    assert olga.check_password(PASSWORD)


def test_reset_requests_are_throttled(olga, staff_mail, settings):
    settings.LOGIN_RATE_LIMIT = 2
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(2):
        client.post(reverse("web:password_reset"), {"email": "olga@shop.ru"})
    response = client.post(reverse("web:password_reset"), {"email": "olga@shop.ru"})
    assert response.status_code == 200
    assert "Too many reset requests" in response.content.decode()
    assert len(mail.outbox) == 2


def test_without_staff_mail_there_is_no_reset(olga, settings):
    settings.EMAIL_HOST = ""
    assert Client().get(reverse("web:password_reset")).status_code == 404
    assert reverse("web:password_reset") not in Client().get(reverse("web:login")).content.decode()


def test_the_login_page_offers_the_reset_when_mail_is_set_up(staff_mail):
    assert reverse("web:password_reset") in Client().get(reverse("web:login")).content.decode()
