"""Signed links that customers open without logging in (portal, one-click unsubscribe)."""

from __future__ import annotations

from django.urls import reverse

from lifelong.lib.signing import absolute_url, token_make


def unsubscribe_token(*, customer_id: int, channel: str) -> str:
    """The signed token of an unsubscribe link (also the subject of the `mailto:` variant)."""
    return token_make(purpose="unsubscribe", value=f"{customer_id}:{channel}")


def unsubscribe_url(*, customer_id: int, channel: str) -> str:
    """RFC 8058 target: a POST unsubscribes from marketing on this channel, a GET only asks."""
    token = unsubscribe_token(customer_id=customer_id, channel=channel)
    return absolute_url(reverse("portal:unsubscribe", args=[token]))


def preferences_url(*, customer_id: int) -> str:
    token = token_make(purpose="preferences", value=customer_id)
    return absolute_url(reverse("portal:preferences", args=[token]))
