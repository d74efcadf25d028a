"""Outbound HTTP to addresses other people choose (push endpoints, webhook URLs).

A customer's browser names its push service and a journey author names a webhook URL, so
either could point the server at its own network (127.0.0.1, 169.254.169.254, 10.x).
`outbound_session()` is the one way such requests leave:

- the host is resolved once and every address it resolves to must be public, IPv4
  addresses hidden inside IPv6 (IPv4-mapped, 6to4, NAT64) included;
- the connection goes to that checked address, so a DNS answer that changes between the
  check and the connect (rebinding) cannot reach anything else; TLS still sends the
  hostname (SNI) and verifies the certificate for it, and Host names it too;
- redirects are never followed: a 3xx is handed back as it is;
- proxies from the environment are ignored: a proxy would resolve the name itself.

`LIFELONG_OUTBOUND_ALLOWED_NETWORKS` lets an operator allow chosen private networks.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 6052 well-known NAT64 prefix: the last 32 bits are the IPv4 address reached.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_PORTS = {"http": 80, "https": 443}


class OutboundRefused(Exception):
    """The destination is not a public address: nothing was sent, and retrying cannot help."""


class HostUnresolved(requests.ConnectionError):
    """The name did not resolve: nothing was sent; it may resolve later."""


def address_is_public(address: IPAddress) -> bool:
    """True for an address on the public internet; an IPv4 address inside IPv6 is judged itself."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_is_public(embedded)
    # is_global alone lets multicast through (224.0.0.1 counts as global).
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _allowed(address: IPAddress) -> bool:
    return address_is_public(address) or any(
        address in network for network in settings.OUTBOUND_ALLOWED_NETWORKS
    )


def outbound_address(host: str, port: int, *, allow_private: bool = False) -> str:
    """Resolve `host` once; the address to connect to, or OutboundRefused if any is private.

    Raises HostUnresolved when the name does not resolve.
    """
    if not host:
        raise OutboundRefused("no host to connect to")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise HostUnresolved(f"cannot resolve {host}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    if not addresses:
        raise HostUnresolved(f"cannot resolve {host}")
    if not allow_private:
        for address in addresses:
            if not _allowed(address):
                raise OutboundRefused(f"{host} is not a public address ({address})")
    return str(addresses[0])


def url_check(url: str) -> None:
    """Refuse a URL whose host is a private address; a name that does not resolve now passes.

    For values stored to be called later (push subscriptions): the send checks again.
    """
    parts = urlsplit(url)
    with contextlib.suppress(HostUnresolved):
        outbound_address(parts.hostname or "", parts.port or _PORTS.get(parts.scheme, 443))


def request_may_have_arrived(exc: requests.RequestException) -> bool:
    """False when the request certainly did not reach the server (DNS, connect, TLS handshake).

    A connection that broke or went quiet after the request left may have been acted on.
    """
    if isinstance(exc, HostUnresolved):
        return False
    if isinstance(exc, requests.ConnectionError):
        # urllib3 wraps a failure to connect in MaxRetryError (we never retry).
        return not (exc.args and isinstance(exc.args[0], MaxRetryError))
    # requests raises its ValueErrors (bad URL, bad header) before anything is sent.
    return not isinstance(exc, ValueError)


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        super().__init__()

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        hostname = host_params["host"]
        port = host_params["port"] or _PORTS[host_params["scheme"]]
        host_params["host"] = outbound_address(hostname, port, allow_private=self.allow_private)
        # The pool is keyed by address and name, so a kept-alive connection is reused
        # only for the same checked address.
        request.headers["Host"] = urlsplit(str(request.url)).netloc.rpartition("@")[2]
        if host_params["scheme"] == "https":
            # SNI and the certificate check use this name, not the address.
            pool_kwargs["server_hostname"] = hostname
        return host_params, pool_kwargs


class _NoRedirectSession(requests.Session):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def outbound_session(*, allow_private: bool = False) -> requests.Session:
    """A requests session for URLs that others chose (see the module docstring).

    `allow_private` is for destinations the owner chose knowingly (an on-premises CRM).
    """
    session = _NoRedirectSession()
    session.trust_env = False
    adapter = _PinnedAdapter(allow_private=allow_private)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
