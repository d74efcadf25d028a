"""Fixtures the feedback tests share."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from lifelong.messaging.tests.fake_api import FakeApi


@pytest.fixture
def loopback_allowed(settings):
    """The provider fakes listen on 127.0.0.1, which outbound calls refuse unless allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    """A provider's HTTP API stand-in (Bot API, SMS gateway) on 127.0.0.1."""
    with FakeApi() as server:
        yield server
