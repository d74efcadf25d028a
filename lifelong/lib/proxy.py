"""What our reverse proxies say about a request: the scheme and host the client used.

Behind a TLS-terminating proxy the app sees plain HTTP from the proxy's address; the proxy
tells the rest in X-Forwarded-Proto and X-Forwarded-Host. They are believed only when the
peer is one of LIFELONG_TRUSTED_PROXIES and are removed otherwise, so a client reaching the
app directly can neither claim HTTPS nor another host. Each header must be set by the proxy
(nginx's `proxy_set_header`), not appended to: of a list, the last value, the one our nearest
proxy wrote, counts.

The client's address is not rewritten: REMOTE_ADDR stays the peer, and `client_ip` is the one
reader of X-Forwarded-For (waitress passes all of these headers through untouched, see
`lifelong.wsgi.waitress_server`), so the chain is never walked twice.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from lifelong.lib.client_ip import address_parse, address_trusted


def _last(value: str) -> str:
    return value.rsplit(",", 1)[-1].strip()


class TrustedProxyMiddleware:
    """First in the middleware, so the security middleware's redirect and HSTS see the scheme."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        meta = request.META
        proto = _last(meta.pop("HTTP_X_FORWARDED_PROTO", "")).lower()
        host = _last(meta.pop("HTTP_X_FORWARDED_HOST", ""))
        peer = address_parse(meta.get("REMOTE_ADDR", ""))
        if peer is not None and address_trusted(peer, settings.TRUSTED_PROXIES):
            if proto in {"http", "https"}:
                # WSGIRequest.META is the WSGI environ, where request.scheme is read from.
                meta["wsgi.url_scheme"] = proto
            if host:
                meta["HTTP_HOST"] = host
        return self.get_response(request)
