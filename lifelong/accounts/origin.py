"""Where the request behind an audit line came from: the client's address and API key.

The middleware sets them once per request (API key authentication adds the key), and
`audit_record` reads them, so every line written while serving a request carries them
without each service passing the request along. Outside a request (sweeps, commands)
there is no origin.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponseBase

from lifelong.accounts.models import ApiKey
from lifelong.lib.client_ip import client_ip


@dataclass
class RequestOrigin:
    ip: str | None
    api_key: ApiKey | None = None


_current: ContextVar[RequestOrigin | None] = ContextVar("lifelong_request_origin", default=None)


def request_origin() -> RequestOrigin | None:
    return _current.get()


def request_origin_api_key_set(key: ApiKey) -> None:
    origin = _current.get()
    if origin is not None:
        origin.api_key = key


class RequestOriginMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        token = _current.set(RequestOrigin(ip=client_ip(request)))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
