"""client_ip believes X-Forwarded-For only as far as our own proxies wrote it."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib.client_ip import client_ip
from lifelong.settings import env_networks

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _request(remote: str, forwarded: str | None = None):
    extra: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = ()
    assert client_ip(_request("203.0.113.5", "198.51.100.7")) == "203.0.113.5"


def test_behind_a_trusted_proxy_the_forwarded_client_is_taken(settings):
    settings.TRUSTED_PROXIES = PROXIES
    assert client_ip(_request("10.0.0.2", "198.51.100.7")) == "198.51.100.7"


def test_a_spoofed_left_entry_is_not_believed(settings):
    settings.TRUSTED_PROXIES = PROXIES
    # The client wrote "1.2.3.4" itself; our proxy appended the address it saw.
    request = _request("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.9")
    assert client_ip(request) == "198.51.100.7"


def test_garbage_from_a_trusted_proxy_stops_at_that_proxy(settings):
    settings.TRUSTED_PROXIES = PROXIES
    assert client_ip(_request("10.0.0.2", "1.2.3.4, not-an-ip")) == "10.0.0.2"


def test_ipv4_mapped_ipv6_is_reported_as_ipv4(settings):
    settings.TRUSTED_PROXIES = PROXIES
    assert client_ip(_request("::1", "::ffff:198.51.100.7")) == "198.51.100.7"


def test_no_remote_address_gives_none(settings):
    settings.TRUSTED_PROXIES = PROXIES
    assert client_ip(_request("", "198.51.100.7")) is None


def test_bad_setting_is_refused(monkeypatch):
    monkeypatch.setenv("LIFELONG_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.example"):
        env_networks("TRUSTED_PROXIES")


# Half the addresses fall inside the trusted network, so chains of proxies are common.
ipv4 = st.one_of(st.ip_addresses(network="10.0.0.0/8"), st.ip_addresses(v=4)).map(str)


@given(remote=ipv4, chain=st.lists(ipv4, max_size=6))
def test_the_answer_is_in_the_chain_and_untrusted_unless_all_are_trusted(remote, chain):
    trusted = ipaddress.ip_network("10.0.0.0/8")
    with override_settings(TRUSTED_PROXIES=(trusted,)):
        answer = client_ip(_request(remote, ", ".join(chain)))
    hops = [remote, *reversed(chain)]
    assert answer in hops
    # Everything to the right of the answer is one of our proxies...
    position = hops.index(answer)
    assert all(ipaddress.ip_address(hop) in trusted for hop in hops[:position])
    # ...and the answer itself is not, unless the whole chain is ours.
    if ipaddress.ip_address(answer) in trusted:
        assert all(ipaddress.ip_address(hop) in trusted for hop in hops)
