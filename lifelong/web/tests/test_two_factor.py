"""Two-factor sign-in: enrolment, the code after the password, and the owners' duty."""

from __future__ import annotations

import re
import time
from typing import cast

import pytest
from django.test import Client
from django.urls import reverse

from lifelong.accounts.models import AuditLog, Role, User
from lifelong.factories import UserFactory
from lifelong.lib.totp import totp_code, totp_secret_new, totp_step

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def code_now(secret: str, *, steps_ahead: int = 0) -> str:
    return totp_code(secret, totp_step(time.time()) + steps_ahead)


@pytest.fixture
def olga() -> User:
    return cast(User, UserFactory(username="olga", role=Role.MARKETER))


@pytest.fixture
def olga_with_2fa(olga) -> tuple[User, str]:
    secret = totp_secret_new()
    olga.totp_secret = secret
    olga.save(update_fields=["totp_secret"])
    return olga, secret


def sign_in(client: Client, password: str = PASSWORD, next_url: str = ""):
    data = {"username": "olga", "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("web:login"), data)


def test_enrolment_shows_the_secret_and_turns_on_with_a_code(olga):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(olga)
    page = client.get(reverse("web:two_factor")).content.decode()
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page)[1].replace(" ", "")
    assert f"otpauth://totp/Lifelong%3Aolga?secret={secret}" in page
    assert "<svg" in page and 'class="qr"' in page

    wrong = client.post(reverse("web:two_factor"), {"code": "000000"})
    assert wrong.status_code == 400
    response = client.post(reverse("web:two_factor"), {"code": code_now(secret)})
    assert response.status_code == 302
    olga.refresh_from_db()
    assert olga.totp_secret == secret
    assert AuditLog.objects.filter(action="user.two_factor_enable", actor=olga).exists()


def test_the_enrolment_secret_stays_the_same_across_reloads(olga):
    client = Client()
    client.force_login(olga)
    first = client.get(reverse("web:two_factor")).content.decode()
    second = client.get(reverse("web:two_factor")).content.decode()
    pattern = r'<code id="totp-secret">([A-Z2-7 ]+)</code>'
    assert re.search(pattern, first)[1] == re.search(pattern, second)[1]


def test_the_password_alone_does_not_sign_in_when_two_factor_is_on(olga_with_2fa):
    client = Client()
    response = sign_in(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:login_verify")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("web:home")).status_code == 302


def test_the_code_completes_the_sign_in_and_goes_where_asked(olga_with_2fa):
    olga, secret = olga_with_2fa
    client = Client()
    sign_in(client, next_url=reverse("web:tasks"))
    response = client.post(reverse("web:login_verify"), {"code": code_now(secret)})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:tasks")
    assert client.session["_auth_user_id"] == str(olga.pk)
    entry = AuditLog.objects.get(action="user.login")
    assert entry.actor == olga and entry.changes == {"two_factor": True}


def test_a_code_works_only_once(olga_with_2fa):
    _olga, secret = olga_with_2fa
    code = code_now(secret)
    first = Client()
    sign_in(first)
    assert first.post(reverse("web:login_verify"), {"code": code}).status_code == 302
    second = Client()
    sign_in(second)
    response = second.post(reverse("web:login_verify"), {"code": code})
    assert response.status_code == 400
    assert "_auth_user_id" not in second.session


def test_wrong_codes_count_as_failed_attempts(olga_with_2fa, settings):
    _olga, secret = olga_with_2fa
    settings.LOGIN_RATE_LIMIT = 3
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(client)
    for _ in range(3):
        client.post(reverse("web:login_verify"), {"code": "000000"})
    response = client.post(reverse("web:login_verify"), {"code": code_now(secret)})
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    failed = AuditLog.objects.filter(action="user.login_failed")
    assert failed.count() == 3
    assert all(entry.changes == {"username": "olga", "step": "two_factor"} for entry in failed)


def test_a_right_password_does_not_clear_the_code_failures(olga_with_2fa, settings):
    # Otherwise whoever has the password could guess codes without end, a password apart.
    _olga, secret = olga_with_2fa
    settings.LOGIN_RATE_LIMIT = 3
    client = Client()
    for _ in range(3):
        sign_in(client)
        client.post(reverse("web:login_verify"), {"code": "000000"})
    sign_in(client)
    client.post(reverse("web:login_verify"), {"code": code_now(secret)})
    assert "_auth_user_id" not in client.session


def test_the_code_step_expires(olga_with_2fa, time_machine):
    _olga, secret = olga_with_2fa
    time_machine.move_to("2026-03-02 10:00:00+00:00", tick=False)
    client = Client()
    sign_in(client)
    time_machine.shift(6 * 60)
    response = client.post(reverse("web:login_verify"), {"code": code_now(secret)})
    assert response["Location"] == reverse("web:login")
    assert "_auth_user_id" not in client.session


def test_the_code_step_without_a_password_goes_back_to_sign_in(olga_with_2fa):
    _olga, secret = olga_with_2fa
    response = Client().post(reverse("web:login_verify"), {"code": code_now(secret)})
    assert response["Location"] == reverse("web:login")


def test_a_code_from_the_next_step_is_accepted_once_then_not_an_older_one(olga_with_2fa):
    _olga, secret = olga_with_2fa
    client = Client()
    sign_in(client)
    assert (
        client.post(reverse("web:login_verify"), {"code": code_now(secret, steps_ahead=1)})
    ).status_code == 302
    # The current step's code is older than the one just spent: refused.
    other = Client()
    sign_in(other)
    assert other.post(reverse("web:login_verify"), {"code": code_now(secret)}).status_code == 400


def test_turning_it_off_needs_a_current_code(olga_with_2fa):
    olga, secret = olga_with_2fa
    client = Client()
    client.force_login(olga)
    client.post(reverse("web:two_factor_disable"), {"code": "000000"})
    olga.refresh_from_db()
    assert olga.has_two_factor
    client.post(reverse("web:two_factor_disable"), {"code": code_now(secret)})
    olga.refresh_from_db()
    assert not olga.has_two_factor
    assert AuditLog.objects.filter(action="user.two_factor_disable", actor=olga).exists()


def test_an_owner_without_two_factor_is_sent_to_enrol_first(settings):
    settings.REQUIRE_OWNER_2FA = True
    owner = UserFactory(username="boss", role=Role.OWNER, password=None)
    client = Client()
    client.force_login(owner)
    for name in ["web:home", "web:customers", "web:staff", "web:account"]:
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"] == reverse("web:two_factor")
    assert client.get(reverse("web:two_factor")).status_code == 200
    assert client.post(reverse("web:logout")).status_code == 302


def test_other_roles_are_not_forced(settings, olga):
    settings.REQUIRE_OWNER_2FA = True
    client = Client()
    client.force_login(olga)
    assert client.get(reverse("web:home")).status_code == 200


def test_owners_cannot_turn_it_off_when_it_is_required(settings):
    settings.REQUIRE_OWNER_2FA = True
    secret = totp_secret_new()
    owner = UserFactory(username="boss", role=Role.OWNER, password=None, totp_secret=secret)
    client = Client()
    client.force_login(owner)
    assert client.get(reverse("web:home")).status_code == 200
    client.post(reverse("web:two_factor_disable"), {"code": code_now(secret)})
    owner.refresh_from_db()
    assert owner.has_two_factor


def test_an_owner_resets_a_lost_phone_for_a_colleague(olga_with_2fa):
    olga, _secret = olga_with_2fa
    owner = UserFactory(username="boss", role=Role.OWNER, password=None)
    client = Client()
    client.force_login(owner)
    response = client.post(reverse("web:staff_user_two_factor_reset", kwargs={"pk": olga.pk}))
    assert response.status_code == 302
    olga.refresh_from_db()
    assert not olga.has_two_factor
    entry = AuditLog.objects.get(action="user.two_factor_disable")
    assert entry.actor == owner and entry.object_id == str(olga.pk)
