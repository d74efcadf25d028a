"""Referrals: a code and a link per customer, the guards, and what the status page shows.

How a friend is referred (the sweep is referral_sweep.py)
    Every customer gets a code on first use (`referral_code_get`), shown with its link
    `/c/ref/<code>`: the link counts the visit and opens the shop's address (a setting) with
    `?ref=<code>`. The shop hands the code back with the friend: the customer attribute
    `referral_code` (API, webhooks, CSV column), or the friend's order's `coupon`. The
    `loyalty.referrals` sweep records the referral at the friend's first paid order, waits
    for the condition (at once, or until the order has passed the return window), then
    decides it once: rewards posted through the ledger (keys `referral:<id>:referrer` and
    `referral:<id>:friend`) and a `referral_converted` event, or a refusal with its reason.

The guards (`self_referral_reason`) compare the referrer and the friend, merged customers
followed to the survivor: the same customer, the same email (case, `+tag` and Gmail's dots
ignored), phone, payment fingerprint (the customer attribute `payment_fingerprint`, a string
or a list) or address (the attribute `address`, compared ignoring case, punctuation and
spacing). `limit_allows` keeps every span of `limit_days` days at or under `limit_count`
converted friends per referrer.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.forms.models import model_to_dict
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.lib.signing import absolute_url
from lifelong.loyalty.models import (
    Cursor,
    Referral,
    ReferralCode,
    ReferralSettings,
    ReferralStatus,
    RefusalReason,
)

# No 0/O or 1/I: people copy codes by hand. 32 ** 8 codes: guessing one is hopeless.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_MAX = 16
CURSOR = "referrals"
SETTINGS_FIELDS = (
    "enabled",
    "referrer_points",
    "friend_points",
    "condition",
    "min_order_total",
    "limit_count",
    "limit_days",
    "shop_url",
)
# Merge chains are flattened by customer_merge; a few hops cover anything left over.
MERGE_HOPS = 20


def code_clean(value: Any) -> str:
    """A code as typed or sent (any case, spaces around): the stored form, or ""."""
    code = str(value or "").strip().upper()
    return code if 0 < len(code) <= CODE_MAX else ""


def referral_code_get(*, customer_id: int) -> ReferralCode:
    """The customer's code, made on first use (a merged customer's is the survivor's)."""
    customer_id = _survivor_ids([customer_id])[customer_id]
    found = ReferralCode.objects.filter(customer_id=customer_id).first()
    while found is None:
        try:
            with transaction.atomic():
                found = ReferralCode.objects.create(
                    customer_id=customer_id,
                    code="".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)),
                )
        except IntegrityError:
            # The code was taken (try another) or a concurrent call made this customer's.
            found = ReferralCode.objects.filter(customer_id=customer_id).first()
    return found


def referral_link(*, customer_id: int) -> str:
    """The customer's referral link (absolute), or "" while referrals are off."""
    if not ReferralSettings.current().enabled:
        return ""
    code = referral_code_get(customer_id=customer_id).code
    return absolute_url(reverse("portal:referral", args=[code]))


@dataclass(frozen=True)
class ReferralSummary:
    """What the customer's status page shows about their referrals."""

    enabled: bool
    code: str
    link: str
    visits: int
    # Friends who came with the code and bought (recorded at their first paid order), less
    # those refused as the customer themselves or as having bought before.
    invited: int
    # Friends whose first order met the condition: the referral was rewarded.
    converted: int
    points_earned: int
    # What the next friend brings now.
    referrer_points: int
    friend_points: int


# Refusals that mean the friend was not brought by the code at all.
NOT_BROUGHT = (
    RefusalReason.SAME_CUSTOMER,
    RefusalReason.SAME_EMAIL,
    RefusalReason.SAME_PHONE,
    RefusalReason.SAME_PAYMENT,
    RefusalReason.SAME_ADDRESS,
    RefusalReason.NOT_NEW,
)


def referral_summary(*, customer_id: int) -> ReferralSummary:
    """The customer's code, link, link visits, friends invited and converted, points earned."""
    settings = ReferralSettings.current()
    if not settings.enabled:
        return ReferralSummary(False, "", "", 0, 0, 0, 0, 0, 0)
    code = referral_code_get(customer_id=customer_id)
    counts = Referral.objects.filter(referrer_id=code.customer_id).aggregate(
        invited=Count("pk", filter=~Q(status=ReferralStatus.REFUSED, reason__in=NOT_BROUGHT)),
        converted=Count("pk", filter=Q(status=ReferralStatus.CONVERTED)),
        points=Sum("referrer_points", filter=Q(status=ReferralStatus.CONVERTED)),
    )
    return ReferralSummary(
        enabled=True,
        code=code.code,
        link=absolute_url(reverse("portal:referral", args=[code.code])),
        visits=code.visits,
        invited=counts["invited"],
        converted=counts["converted"],
        points_earned=counts["points"] or 0,
        referrer_points=settings.referrer_points,
        friend_points=settings.friend_points,
    )


def referral_visit(*, code: str) -> str | None:
    """Count a visit of the code's link; where to send the visitor (None: nowhere).

    The address is the stored shop address, never one from the request. An unknown code
    still opens the shop, without `ref`.
    """
    settings = ReferralSettings.current()
    if not settings.enabled or not settings.shop_url:
        return None
    code = code_clean(code)
    if not code or not ReferralCode.objects.filter(code=code).update(visits=F("visits") + 1):
        return settings.shop_url
    parts = urlsplit(settings.shop_url)
    query = "&".join(q for q in (parts.query, urlencode({"ref": code})) if q)
    return urlunsplit(parts._replace(query=query))


@transaction.atomic
def referral_settings_update(*, values: dict[str, Any], actor: User | None) -> ReferralSettings:
    """Save the referral settings (ValidationError from the model's checks), audited.

    Switching referrals on the first time starts them: first orders from now on are
    attributed, and the sweep reads the event log from its current end.
    """
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"unknown referral settings: {sorted(unknown)}")
    row = ReferralSettings.objects.select_for_update().get(pk=ReferralSettings.current().pk)
    before = model_to_dict(row, fields=SETTINGS_FIELDS)
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    after = model_to_dict(row, fields=SETTINGS_FIELDS)
    changes = {
        name: {"from": str(before[name]), "to": str(after[name])}
        for name in SETTINGS_FIELDS
        if before[name] != after[name]
    }
    if changes:
        if row.enabled and row.started_at is None:
            row.started_at = clock.now()
            cursor_start()
        row.save()
        audit_record(actor=actor, action="loyalty.referrals.update", obj=row, changes=changes)
    return row


def cursor_start() -> None:
    """Start reading at the end of the log: earlier first orders are not attributed."""
    last = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    Cursor.objects.get_or_create(name=CURSOR, defaults={"last_event_id": last})


# --- guards -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """What the guards compare about one customer (merges followed to the survivor)."""

    customer_id: int
    email: str
    phone: str
    payments: frozenset[str]
    addresses: frozenset[str]


def email_key(email: str) -> str:
    """An address as a person owns it: case, a `+tag` and Gmail's dots do not make another."""
    local, at, domain = email.strip().lower().rpartition("@")
    if not at or not local:
        return ""
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def address_key(address: str) -> str:
    """An address compared ignoring case, punctuation and spacing (ё as е)."""
    words = re.findall(r"\w+", address.casefold().replace("ё", "е"))
    return " ".join(words)


def _values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    return [str(item) for item in items if isinstance(item, str | int) and str(item).strip()]


def person_of(row: dict[str, Any]) -> Person:
    attributes = row["attributes"] if isinstance(row["attributes"], dict) else {}
    payments = {v.strip() for v in _values(attributes.get("payment_fingerprint"))}
    addresses = {address_key(v) for v in _values(attributes.get("address"))}
    return Person(
        customer_id=row["pk"],
        email=email_key(row["email"] or ""),
        phone=row["phone"] or "",
        payments=frozenset(payments),
        addresses=frozenset(a for a in addresses if a),
    )


def self_referral_reason(referrer: Person, friend: Person) -> str:
    """Why the friend is the referrer themselves (a RefusalReason), or "" when they are not."""
    if referrer.customer_id == friend.customer_id:
        return RefusalReason.SAME_CUSTOMER
    if referrer.email and referrer.email == friend.email:
        return RefusalReason.SAME_EMAIL
    if referrer.phone and referrer.phone == friend.phone:
        return RefusalReason.SAME_PHONE
    if referrer.payments & friend.payments:
        return RefusalReason.SAME_PAYMENT
    if referrer.addresses & friend.addresses:
        return RefusalReason.SAME_ADDRESS
    return ""


def _survivor_ids(customer_ids: Iterable[int]) -> dict[int, int]:
    """Each customer's survivor (itself when not merged), a query per merge hop."""
    survivor = {c: c for c in customer_ids}
    for _hop in range(MERGE_HOPS):
        ahead = _merged_into(set(survivor.values()))
        if not ahead:
            break
        for customer_id, current in survivor.items():
            survivor[customer_id] = ahead.get(current, current)
    return survivor


def _merged_into(customer_ids: set[int]) -> dict[int, int]:
    rows = Customer.objects.filter(pk__in=customer_ids, merged_into__isnull=False).values_list(
        "pk", "merged_into"
    )
    return {pk: ahead for pk, ahead in rows if ahead is not None}


def people_load(customer_ids: Iterable[int]) -> dict[int, Person]:
    """The guards' view of these customers, keyed by the ids given (merges followed)."""
    survivor = _survivor_ids(set(customer_ids))
    rows = Customer.objects.filter(pk__in=set(survivor.values())).values(
        "pk", "email", "phone", "attributes"
    )
    people = {row["pk"]: person_of(dict(row)) for row in rows}
    return {given: people[found] for given, found in survivor.items() if found in people}


def limit_allows(
    converted: Iterable[dt.datetime], moment: dt.datetime, *, count: int, days: int
) -> bool:
    """Whether one more converted friend at `moment` keeps every span of `days` days at or
    under `count`, given the referrer's converted friends' times (no limit when 0).

    The fullest span holding `moment` starts at one of the times: only those are tried.
    """
    if not count or not days:
        return True
    span = dt.timedelta(days=days)
    times = sorted([*converted, moment])
    return all(
        sum(1 for t in times if start <= t < start + span) <= count
        for start in times
        if moment - span < start <= moment
    )
