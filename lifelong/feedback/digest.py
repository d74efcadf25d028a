"""The weekly feedback digest mailed to staff: the week's top three themes with quotes, what
changed from the week before, and the week's NPS (figures from lifelong.feedback.insights, so
the mail says what the Insights page and the dashboard say).

Sent by the daily sweep `feedback.digest_weekly`: on the first run after a week ends, each
active staff member with an address gets that week's digest once. The audit log is the
record (object "feedback.digest", id "<user>:<week>"): a re-run, a second worker or
`lifelong simulate` finds the row and sends nothing new. The row is written and committed
before the mail leaves, so a mail server failure loses that one mail rather than ever
sending it twice; the failure is logged and fails the sweep run, visible on the Jobs page.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, translation
from django.utils.translation import gettext as _

from lifelong.accounts.models import AuditLog, User
from lifelong.accounts.services import audit_record
from lifelong.feedback.insights import Digest, weekly_digest
from lifelong.feedback.models import Theme

log = logging.getLogger(__name__)
DIGEST_OBJECT = "feedback.digest"


@dataclass(frozen=True)
class NamedTheme:
    slug: str
    name: str
    current: int
    previous: int
    change: int
    quotes: list[str]


def digest_themes(digest: Digest, *, language: str) -> list[NamedTheme]:
    """The digest's top themes with their names in `language` (one query)."""
    slugs = [t.slug for t in digest.themes] + [t.slug for t in digest.risen]
    names = {t.slug: t.name(language) for t in Theme.objects.filter(slug__in=slugs)}
    return [
        NamedTheme(
            slug=t.slug,
            name=names.get(t.slug, t.slug),
            current=t.current,
            previous=t.previous,
            change=t.change,
            quotes=t.quotes,
        )
        for t in digest.themes
    ]


def theme_names(slugs: list[str], *, language: str) -> dict[str, str]:
    return {t.slug: t.name(language) for t in Theme.objects.filter(slug__in=slugs)}


def week_label(start: dt.date) -> str:
    first, last = (
        formats.date_format(day, "SHORT_DATE_FORMAT") for day in (start, start + dt.timedelta(6))
    )
    return f"{first} – {last}"


def _claim(user: User, week: str, *, object_type: str = DIGEST_OBJECT) -> bool:
    """Record that `user` gets this week's mail of `object_type`; False if someone already did."""
    object_id = f"{user.pk}:{week}"
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if AuditLog.objects.filter(object_type=object_type, object_id=object_id).exists():
            return False
        audit_record(
            actor=None,
            action=f"{object_type}_sent",
            object_type=object_type,
            object_id=object_id,
            changes={"user": user.pk, "week": week},
        )
    return True


def staff_mail_weekly(*, object_type: str, week: str, subject: str, body: str) -> int:
    """Mail one weekly text to every active staff member with an address who has not had
    this week's mail of `object_type` (the audit log keys it per member and week); returns how
    many went. Shared by the feedback digest and the team's weekly thanks."""
    done = set(
        AuditLog.objects.filter(
            object_type=object_type, object_id__endswith=f":{week}"
        ).values_list("object_id", flat=True)
    )
    recipients = [
        user
        for user in User.objects.filter(is_active=True).exclude(email="").order_by("pk")
        if f"{user.pk}:{week}" not in done
    ]
    sent, failed = 0, 0
    for user in recipients:
        if not _claim(user, week, object_type=object_type):
            continue
        try:
            send_mail(subject, body, None, [user.email])
        except Exception:
            log.exception(
                "digest_send_failed", extra={"user": user.pk, "week": week, "kind": object_type}
            )
            failed += 1
        else:
            sent += 1
    if failed:
        raise RuntimeError(f"{failed} weekly mail(s) of {object_type} failed; see the log")
    return sent


def digest_send_weekly() -> int:
    """Mail the last ended week's digest to every active staff member with an address who
    has not had it; returns how many mails went. Nothing without a staff mail server
    (LIFELONG_EMAIL_HOST) or when the week brought no feedback."""
    if not settings.EMAIL_HOST:
        return 0
    digest = weekly_digest()
    if not digest.themes and not digest.nps.n:
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        subject, body = _render(digest)
    return staff_mail_weekly(
        object_type=DIGEST_OBJECT, week=digest.start.isoformat(), subject=subject, body=body
    )


def _render(digest: Digest) -> tuple[str, str]:
    language = translation.get_language() or settings.LANGUAGE_CODE
    themes = digest_themes(digest, language=language)
    risen_names = theme_names([t.slug for t in digest.risen], language=language)
    subject = _("Feedback of the week %(week)s: %(themes)s") % {
        "week": week_label(digest.start),
        "themes": ", ".join(t.name for t in themes) or _("no themes"),
    }
    body = render_to_string(
        "feedback/digest_email.txt",
        {
            "week": week_label(digest.start),
            "themes": themes,
            "nps": digest.nps,
            "nps_previous": digest.nps_previous,
            "risen": [(risen_names.get(t.slug, t.slug), t) for t in digest.risen],
            "link": settings.SITE_URL.rstrip("/") + reverse("web:feedback_insights"),
        },
    )
    return subject, body
