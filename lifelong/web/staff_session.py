"""Staff sessions: they end after LIFELONG_SESSION_IDLE_MINUTES without a request, and an
owner who must use two-factor sign-in (LIFELONG_REQUIRE_OWNER_2FA) sets it up first.

The idle timeout is Django's own session expiry (SESSION_COOKIE_AGE from the last save).
Sign-in stamps the session; this middleware saves a stamped session again at most once
a minute, so an active session slides forward without a database write per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect

from lifelong.accounts.models import User

SEEN_SESSION_FIELD = "web:seen"
TOUCH_EVERY_SECONDS = 60
# What an owner without two-factor sign-in may still open: the set-up page and the way out.
BEFORE_TWO_FACTOR = {"web:two_factor", "web:logout"}


def session_stamp(request: HttpRequest) -> None:
    """Mark a session as signed in now: from here on it expires when left idle."""
    request.session[SEEN_SESSION_FIELD] = int(time.time())


class StaffSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        seen = request.session.get(SEEN_SESSION_FIELD)
        if seen is not None:
            now = int(time.time())
            if now - seen >= TOUCH_EVERY_SECONDS:
                request.session[SEEN_SESSION_FIELD] = now
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        match = request.resolver_match
        if (
            settings.REQUIRE_OWNER_2FA
            and match is not None
            and match.namespace == "web"
            and match.view_name not in BEFORE_TWO_FACTOR
            and isinstance(request.user, User)
            and request.user.two_factor_required
            and not request.user.has_two_factor
        ):
            return redirect("web:two_factor")
        return None
