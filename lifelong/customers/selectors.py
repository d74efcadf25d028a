"""Reads of the customer database that more than one app uses."""

from __future__ import annotations

from lifelong.customers.models import Consent, Customer


def consent_current(customer: Customer) -> dict[tuple[str, str], Consent]:
    """The newest consent row per (channel, purpose), in one query."""
    current: dict[tuple[str, str], Consent] = {}
    for consent in customer.consents.order_by("-at", "-id"):
        current.setdefault((consent.channel, consent.purpose), consent)
    return current
