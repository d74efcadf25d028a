"""Fixtures shared by every test suite."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import hypothesis
import pytest
import time_machine
from django.test import Client

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.factories import UserFactory

FROZEN_AT = "2026-03-02 10:00:00+00:00"

# No time limit per example: tests never assert speed (the benches measure it), and hypothesis's
# default 200 ms deadline failed database-bound examples on a loaded CI machine.
hypothesis.settings.register_profile("lifelong", deadline=None)
hypothesis.settings.load_profile("lifelong")


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # The production hasher is slow on purpose; tests only need passwords to round-trip.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    # Commands write under VAR_DIR (import files, the simulated clock): never the developer's
    # own, whose saved simulation offset would otherwise move every test's clock.
    settings.VAR_DIR = tmp_path / "var"
    yield
    clock.reset()


@pytest.fixture(autouse=True)
def _own_redis_database(settings):
    # Tests clear the cache between them; parallel workers sharing one Redis database would
    # wipe each other's counters (login throttles) halfway through a test.
    cache = settings.CACHES["default"]
    worker_id = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... under pytest -n
    if cache["BACKEND"].endswith("RedisCache") and worker_id:
        url = urlsplit(cache["LOCATION"])
        database = int(url.path.strip("/") or 0) + int(worker_id.removeprefix("gw"))
        settings.CACHES = {
            "default": {**cache, "LOCATION": url._replace(path=f"/{database}").geturl()}
        }


@pytest.fixture
def frozen_time():
    """Tests that depend on "now" run at a fixed instant and may move it with .shift()."""
    with time_machine.travel(FROZEN_AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def owner(db) -> User:
    return UserFactory.create(username="owner", role=Role.OWNER)


@pytest.fixture
def marketer(db) -> User:
    return UserFactory.create(username="marketer", role=Role.MARKETER)


@pytest.fixture
def support(db) -> User:
    return UserFactory.create(username="support", role=Role.SUPPORT)


@pytest.fixture
def analyst(db) -> User:
    return UserFactory.create(username="analyst", role=Role.ANALYST)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
