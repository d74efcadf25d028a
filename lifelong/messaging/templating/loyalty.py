"""The `loyalty` object of a message template: the customer's points and tier as plain data
that prints as words.

`{{ loyalty }}` says «1 250 баллов, уровень «Знаток»» (never a dict);
`{{ loyalty.balance|plural("балл") }}` uses the programme's own forms of its points' name.
It is read by the same selector as the status page (`lifelong.loyalty.status.loyalty_status`),
without the history and the referral summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from lifelong.loyalty.status import LoyaltyStatus, loyalty_statuses, missing_text, status_token
from lifelong.messaging.links import token_link
from lifelong.messaging.templating.words import Words


class LoyaltyData(Words):
    """The loyalty object: a plain mapping (what the sandbox allows) that prints as its words."""


def loyalty_context(*, customer_id: int, language: str, segments: dict[str, Any]) -> LoyaltyData:
    """The points and tier of this customer for a template, with the segment facts (stage,
    RFM...) that `loyalty` carried before points existed; `loyalty_contexts` of one."""
    return loyalty_contexts(customers=[(customer_id, language)], segments={customer_id: segments})[
        customer_id
    ]


def loyalty_contexts(
    *, customers: Sequence[tuple[int, str]], segments: Mapping[int, dict[str, Any]]
) -> dict[int, LoyaltyData]:
    """`loyalty_context` of each (customer id, language): seven queries per language present
    (see status.loyalty_statuses), whatever the group's size."""
    by_language: dict[str, list[int]] = {}
    for customer_id, language in customers:
        by_language.setdefault("en" if language == "en" else "ru", []).append(customer_id)
    found: dict[int, LoyaltyData] = {}
    status_link = token_link("portal:loyalty")  # the same as status.status_url, reversed once
    for language, ids in by_language.items():
        # Privilege names are translated as the status is built: read in the customer's language.
        with translation.override(language):
            for customer_id, status in loyalty_statuses(customer_ids=ids).items():
                found[customer_id] = loyalty_data(
                    status,
                    segments=segments.get(customer_id, {}),
                    url=status_link(status_token(customer_id=customer_id)),
                )
    return found


def loyalty_data(found: LoyaltyStatus, *, segments: dict[str, Any], url: str) -> LoyaltyData:
    """The object itself, in the active language (also used for the sample customer)."""
    text = found.points_text
    data = {
        **segments,
        "enabled": found.enabled,
        "balance": found.balance,
        "balance_text": text(found.balance),
        "pending": found.pending,
        "pending_text": text(found.pending),
        "held": found.held,
        "debt": found.debt,
        "status_points": found.status_points,
        "points_name": {"one": found.names.one, "few": found.names.few, "many": found.names.many},
        "pending_lots": [{"points": lot.points, "at": lot.at} for lot in found.pending_lots],
        "expiring": [{"points": lot.points, "at": lot.at} for lot in found.expiring],
        "expiring_points": found.expiring_points,
        "expiring_at": found.expiring[0].at if found.expiring else None,
        "tier": found.tier.name if found.tier else "",
        "privileges": [p.name for p in found.tier.privileges] if found.tier else [],
        "next_tier": found.next_tier.name if found.next_tier else "",
        "missing": missing_text(found.missing) if found.missing else "",
        "progress_percent": found.progress_percent,
        "status_url": url,
    }
    return LoyaltyData(data, words=_words(found) if found.enabled else "")


def _words(found: LoyaltyStatus) -> str:
    """«1 250 баллов, уровень «Знаток»»."""
    points = found.points_text(found.balance)
    if found.tier is None:
        return points
    return _("%(points)s, tier “%(tier)s”") % {"points": points, "tier": found.tier.name}
