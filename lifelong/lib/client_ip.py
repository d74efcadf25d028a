"""The address of the client behind the reverse proxies we trust.

X-Forwarded-For is a list that anyone can start; each proxy appends the address it
received the request from. Only the entries written by our own proxies can be
believed, so we walk the chain from the right (REMOTE_ADDR, then the header's last
entry, ...) and stop at the first address that is not a trusted proxy. With no
trusted proxies configured (the default) the header is ignored.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_parse(raw: str) -> Address | None:
    """The address in `raw`, IPv4 for an IPv4-mapped IPv6 one; None when it is none."""
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def address_trusted(address: Address, proxies: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, or None when the connection has none (e.g. a test client)."""
    address = address_parse(request.META.get("REMOTE_ADDR", ""))
    if address is None:
        return None
    proxies: tuple[Network, ...] = settings.TRUSTED_PROXIES  # parsed in settings
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for raw in reversed(hops):
        if not address_trusted(address, proxies):
            break
        hop = address_parse(raw)
        if hop is None:
            # A proxy of ours passed on garbage: it is the last address we can vouch for.
            break
        address = hop
    return str(address)
