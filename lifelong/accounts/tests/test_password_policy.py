"""Staff passwords: at least 12 characters, not common, not all digits, wherever they are set."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lifelong.accounts.models import Role, User
from lifelong.cli import main
from lifelong.factories import UserFactory

pytestmark = pytest.mark.django_db

WEAK = {
    "short": "Kx7-fj3q",  # 8 characters
    "common": "password1234",  # 12 characters, on Django's list of common passwords
    "numeric": "839201746153",  # 12 digits
}
STRONG = "Kx7-fj3q-Lm9z"


@pytest.mark.parametrize("kind", sorted(WEAK))
def test_the_staff_form_refuses_weak_passwords(kind):
    owner = UserFactory(username="owner", role=Role.OWNER, password=None)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner)
    response = client.post(
        reverse("web:staff_user_create"),
        {"username": "masha", "role": Role.SUPPORT, "password": WEAK[kind]},
    )
    assert response.status_code == 400
    assert response.context["user_form"].errors["password"]
    assert not User.objects.filter(username="masha").exists()


@pytest.mark.parametrize("kind", sorted(WEAK))
def test_password_change_refuses_weak_passwords(kind):
    member = UserFactory(username="olga", role=Role.SUPPORT)
    client = Client()
    client.force_login(member)
    response = client.post(
        reverse("web:password_change"),
        {
            "old_password": "correct-horse-battery",
            "new_password1": WEAK[kind],
            "new_password2": WEAK[kind],
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    member.refresh_from_db()
    assert member.check_password("correct-horse-battery")


@pytest.mark.parametrize("kind", sorted(WEAK))
def test_createadmin_refuses_weak_passwords(kind, capsys):
    assert main(["createadmin", "--username", "boss", "--password", WEAK[kind]]) == 1
    assert "lifelong createadmin:" in capsys.readouterr().err
    assert not User.objects.filter(username="boss").exists()


def test_createadmin_makes_an_owner_without_superuser_flags():
    assert main(["createadmin", "--username", "boss", "--password", STRONG]) == 0
    boss = User.objects.get(username="boss")
    assert boss.role == Role.OWNER and boss.check_password(STRONG)
    assert not boss.is_superuser and not boss.is_staff


def test_createadmin_asks_for_the_password_when_it_is_not_given(monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt: STRONG)
    assert main(["createadmin", "--username", "boss"]) == 0
    assert User.objects.get(username="boss").check_password(STRONG)
