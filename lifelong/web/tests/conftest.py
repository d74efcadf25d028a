from __future__ import annotations

from typing import cast

import pytest
from django.core.cache import cache
from django.test import Client

from lifelong.accounts.models import Role, User
from lifelong.factories import UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    # The login throttle counts in the cache; tests must not see each other's failures.
    cache.clear()
    yield
    cache.clear()


def staff(role: str, username: str | None = None) -> User:
    # No password: hashing one takes most of a second, and force_login needs none.
    return cast(User, UserFactory(username=username or role, role=role, password=None))


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(db) -> Client:
    return logged_in(staff(Role.OWNER))


@pytest.fixture
def support_client(db) -> Client:
    return logged_in(staff(Role.SUPPORT))
