"""An HTTP client with an API key, for the API tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from lifelong.accounts.models import ApiKey, ApiScope
from lifelong.accounts.services import api_key_create

BASE = "/api/v1"


class ApiClient:
    """Django's test client speaking JSON with `Authorization: Bearer <secret>`."""

    def __init__(self, secret: str | None) -> None:
        self.client = Client()
        self.secret = secret

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        base = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        return {**base, **(headers or {})}

    def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.get(BASE + path, params or {}, headers=self._headers(kw.get("headers")))

    def send(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.generic(
            method,
            BASE + path,
            data,
            content_type="application/json",
            headers=self._headers(headers),
        )

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.send("PUT", path, body, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.send("POST", path, body, **kw)


def make_key(scopes: list[str]) -> tuple[ApiKey, str]:
    return api_key_create(name="shop", scopes=scopes)


@pytest.fixture
def api_key(db) -> tuple[ApiKey, str]:
    return make_key(list(ApiScope.values))


@pytest.fixture
def api(api_key) -> ApiClient:
    return ApiClient(api_key[1])
