"""Signed links that customers open without logging in (portal, one-click unsubscribe)."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse

from lifelong.lib.signing import absolute_url, token_make

# Stands for the token while a route is reversed; a token never contains it (it has no '~').
_PLACEHOLDER = "~token~"


def token_link(route: str) -> Callable[[str], str]:
    """The absolute link of a portal route that takes one token, as a function of the token:
    a group's messages reverse the route once. Tokens are URL-safe base64, which reverse()
    leaves as it is, so the link is the one `absolute_url(reverse(route, args=[token]))` gives."""
    head, tail = absolute_url(reverse(route, args=[_PLACEHOLDER])).split(_PLACEHOLDER)
    return lambda token: f"{head}{token}{tail}"


def unsubscribe_token(*, customer_id: int, channel: str) -> str:
    """The signed token of an unsubscribe link (also the subject of the `mailto:` variant)."""
    return token_make(purpose="unsubscribe", value=f"{customer_id}:{channel}")


def preferences_token(*, customer_id: int) -> str:
    return token_make(purpose="preferences", value=customer_id)


def unsubscribe_url(*, customer_id: int, channel: str) -> str:
    """RFC 8058 target: a POST unsubscribes from marketing on this channel, a GET only asks."""
    token = unsubscribe_token(customer_id=customer_id, channel=channel)
    return token_link("portal:unsubscribe")(token)


def preferences_url(*, customer_id: int) -> str:
    return token_link("portal:preferences")(preferences_token(customer_id=customer_id))
