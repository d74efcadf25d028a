"""Sign-in, its throttling, sign-out and the language switch."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import Client
from django.urls import reverse

from lifelong.accounts.models import Role
from lifelong.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture
def member():
    return UserFactory(username="olga", role=Role.SUPPORT)


def login(client: Client, password: str, username: str = "olga", ip: str = "10.0.0.1"):
    return client.post(
        reverse("web:login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_login_with_the_right_password_goes_home(member):
    response = login(Client(), PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")


def test_wrong_password_shows_the_form_again(member):
    response = login(Client(), "nope")
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated


def test_too_many_failures_block_even_the_right_password(member, settings):
    settings.LOGIN_RATE_LIMIT = 3
    settings.LOGIN_RATE_WINDOW_SECONDS = 600
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(3):
        assert login(client, "nope").status_code == 200
    response = login(client, PASSWORD)
    assert response.status_code == 200
    assert "Too many failed attempts. Try again in 10 minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_limit_is_per_username_and_address(member, settings):
    settings.LOGIN_RATE_LIMIT = 2
    client = Client()
    login(client, "nope")
    login(client, "nope")
    assert login(client, PASSWORD, ip="10.0.0.2").status_code == 302


def test_the_block_message_is_in_russian_by_default(member, settings):
    settings.LOGIN_RATE_LIMIT = 1
    settings.LOGIN_RATE_WINDOW_SECONDS = 60
    client = Client()
    login(client, "nope")
    response = login(client, PASSWORD)
    assert "Слишком много неудачных попыток. Попробуйте снова через 1 минуту." in (
        response.content.decode()
    )


def test_success_clears_the_failure_count(member, settings):
    settings.LOGIN_RATE_LIMIT = 2
    client = Client()
    login(client, "nope")
    assert login(client, PASSWORD).status_code == 302
    client.logout()
    login(client, "nope")
    assert login(client, PASSWORD).status_code == 302


def test_csrf_is_enforced_on_login_and_logout(member):
    client = Client(enforce_csrf_checks=True)
    assert login(client, PASSWORD).status_code == 403
    page = client.get(reverse("web:login"))
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("web:login"),
        {"username": "olga", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert client.post(reverse("web:logout")).status_code == 403
    home = client.get(reverse("web:home"))
    token = home.cookies.get("csrftoken", page.cookies["csrftoken"]).value
    assert client.post(reverse("web:logout"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get(reverse("web:home")).status_code == 302


def test_logout_by_get_is_refused(member):
    client = Client()
    client.force_login(member)
    assert client.get(reverse("web:logout")).status_code == 405
    assert client.get(reverse("web:home")).status_code == 200


def test_language_switch(member):
    client = Client()
    client.force_login(member)
    assert "Клиенты" in client.get(reverse("web:home")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": reverse("web:home")})
    assert "Customers" in client.get(reverse("web:home")).content.decode()


def test_full_width_letters_get_no_fresh_attempts(member, settings):
    # "ｏｌｇａ" is NFKC-normalised to "olga" before authentication: the same account.
    settings.LOGIN_RATE_LIMIT = 3
    client = Client()
    for _ in range(3):
        login(client, "nope")
    response = login(client, PASSWORD, username="ｏｌｇａ")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_case_does_not_give_fresh_attempts_either(member, settings):
    settings.LOGIN_RATE_LIMIT = 2
    client = Client()
    login(client, "nope", username="OLGA")
    login(client, "nope", username="Olga")
    assert login(client, PASSWORD).status_code == 200


def test_one_login_from_many_addresses_is_limited(member, settings):
    settings.LOGIN_USER_RATE_LIMIT = 3
    client = Client()
    for n in range(3):
        login(client, "nope", ip=f"10.0.1.{n}")
    assert login(client, PASSWORD, ip="10.0.1.99").status_code == 200


def test_one_address_trying_many_logins_is_limited(member, settings):
    settings.LOGIN_IP_RATE_LIMIT = 3
    client = Client()
    for name in ["anna", "boris", "vera"]:
        login(client, "nope", username=name)
    assert login(client, PASSWORD).status_code == 200


def test_failures_everywhere_close_the_door_for_everyone(member, settings):
    settings.LOGIN_GLOBAL_RATE_LIMIT = 3
    client = Client()
    for n, name in enumerate(["anna", "boris", "vera"]):
        login(client, "nope", username=name, ip=f"10.0.2.{n}")
    assert login(client, PASSWORD, ip="10.0.3.1").status_code == 200


def test_the_throttle_counts_the_client_behind_a_trusted_proxy(member, settings):
    settings.LOGIN_RATE_LIMIT = 2
    settings.TRUSTED_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)
    client = Client()

    def via_proxy(password: str, address: str):
        return client.post(
            reverse("web:login"),
            {"username": "olga", "password": password},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=address,
        )

    via_proxy("nope", "198.51.100.1")
    via_proxy("nope", "198.51.100.1")
    assert via_proxy(PASSWORD, "198.51.100.1").status_code == 200
    # Another client behind the same proxy is another pair (username, address).
    assert via_proxy(PASSWORD, "198.51.100.2").status_code == 302


def test_the_admin_site_is_gone(member):
    client = Client()
    client.force_login(member)
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/login/").status_code == 404
