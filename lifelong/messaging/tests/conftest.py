"""Fixtures the transport tests share."""

from __future__ import annotations

import ipaddress

import pytest


@pytest.fixture
def loopback_allowed(settings):
    """Provider fakes listen on 127.0.0.1, which outbound calls refuse unless allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)
