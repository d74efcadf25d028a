"""API key authentication and scopes.

A key arrives as `Authorization: Bearer <secret>` or `X-API-Key: <secret>`.
The secret is `ll_<prefix>_<random>`: the prefix finds the row, then the
SHA-256 of the whole secret is compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthorizationError
from ninja.security import APIKeyHeader, HttpBearer

from lifelong import clock
from lifelong.accounts.models import ApiKey, ApiScope
from lifelong.accounts.origin import request_origin_api_key_set

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_PRECISION = dt.timedelta(minutes=1)

_CACHE_ATTR = "_lifelong_api_key"


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The live key whose secret this is, or None."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "ll" or not parts[1]:
        return None
    key = ApiKey.objects.filter(prefix=parts[1][:12]).first()
    given = ApiKey.hash_secret(secret)
    if key is None or not hmac.compare_digest(key.key_hash, given):
        return None
    if key.revoked_at is not None:
        return None
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _secret_from_headers(request: HttpRequest) -> str:
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key", "").strip()


def api_key_from_request(request: HttpRequest) -> ApiKey | None:
    """The request's API key, looked up once per request (auth and idempotency both ask)."""
    if hasattr(request, _CACHE_ATTR):
        cached: ApiKey | None = getattr(request, _CACHE_ATTR)
        return cached
    secret = _secret_from_headers(request)
    key = api_key_for_secret(secret) if secret else None
    setattr(request, _CACHE_ATTR, key)
    if key is not None:
        request_origin_api_key_set(key)
    return key


def _require(request: HttpRequest, scope: str) -> ApiKey | None:
    key = api_key_from_request(request)
    if key is not None and not key.has_scope(scope):
        raise AuthorizationError(message=f"This API key lacks the '{scope}' scope.")
    return key


class BearerKey(HttpBearer):
    """`Authorization: Bearer ll_...`."""

    def __init__(self, scope: str) -> None:
        self.scope = str(scope)
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return _require(request, self.scope)


class HeaderKey(APIKeyHeader):
    """`X-API-Key: ll_...`, for clients that cannot set Authorization."""

    param_name = "X-API-Key"

    def __init__(self, scope: str) -> None:
        self.scope = str(scope)
        super().__init__()

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return _require(request, self.scope)


def key_auth(scope: str) -> list[BearerKey | HeaderKey]:
    """The `auth=` value for an operation that needs `scope`."""
    return [BearerKey(scope), HeaderKey(scope)]


READ = key_auth(ApiScope.READ)
