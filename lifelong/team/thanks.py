"""The weekly "thanks" mail: the staff members customers praised in the last ended week, with
the customers' own words, mailed to the team once per week by the daily sweep `team.thanks`.

Praise is what the Insights page calls it (a positive inbox item naming the member); the mail
goes through the feedback digest's machinery (`staff_mail_weekly`: keyed in the audit log per
member and week, recorded before the mail leaves), so a re-run sends nothing new.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.feedback.digest import staff_mail_weekly, week_label
from lifelong.feedback.insights import periods_ended
from lifelong.feedback.models import Item
from lifelong.team.metrics import day_start

THANKS_OBJECT = "team.thanks"
QUOTES_EACH = 3
QUOTE_CHARS = 300


@dataclass(frozen=True)
class Thanked:
    name: str
    quotes: list[str]


def week_thanks(start: dt.date) -> list[Thanked]:
    """Who was praised in the week from `start` (a Monday) and in which words: one query,
    most praised first."""
    items = (
        Item.objects.filter(
            sentiment="positive",
            received_at__gte=day_start(start),
            received_at__lt=day_start(start + dt.timedelta(days=7)),
            mentioned_staff__isnull=False,
        )
        .values_list("mentioned_staff", "text")
        .order_by("received_at", "pk")
    )
    quotes: dict[int, list[str]] = {}
    for user_id, text in items:
        quotes.setdefault(user_id, []).append(text)
    names = {
        u.pk: u.get_full_name() or u.get_username() for u in User.objects.filter(pk__in=quotes)
    }
    ranked = sorted(quotes.items(), key=lambda kv: (-len(kv[1]), names[kv[0]], kv[0]))
    return [
        Thanked(name=names[pk], quotes=[_cut(t) for t in said[:QUOTES_EACH]]) for pk, said in ranked
    ]


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


def thanks_send_weekly() -> int:
    """Mail the last ended week's thanks to each active staff member with an address who has
    not had it; nothing without a staff mail server or when nobody was praised."""
    if not settings.EMAIL_HOST:
        return 0
    start = periods_ended(period="week", count=1)[0]
    thanked = week_thanks(start)
    if not thanked:
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Customers thank the team: the week %(week)s") % {"week": week_label(start)}
        body = render_to_string(
            "team/thanks_email.txt",
            {
                "week": week_label(start),
                "thanked": thanked,
                "link": settings.SITE_URL.rstrip("/") + reverse("web:home"),
            },
        )
    return staff_mail_weekly(
        object_type=THANKS_OBJECT, week=start.isoformat(), subject=subject, body=body
    )
