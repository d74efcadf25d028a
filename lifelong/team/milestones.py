"""Milestones: a goal reached or a round number passed (the 100th task done on time, the 50th
review), told to the team once, by the sweep `team.milestones`.

Each milestone is a row with a unique key ("goal:<id>", "round:<metric>:<user>:<n>"), so a
re-run, a second worker or `lifelong simulate` records nothing twice. The team hears of it on
their home pages; when staff mail is set up (LIFELONG_EMAIL_HOST, as for the feedback digest)
each new milestone is also mailed once to the staff: `emailed_at` is claimed and committed
before the mail leaves, so a mail server failure loses that mail rather than ever repeating it.

A goal on a count or on retention (figures that only rise within a period) is celebrated as
soon as it is reached; a share, a median or an NPS could still fall, so those goals are
celebrated only once their period has ended.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Max
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.team.metrics import COUNTED, Window, parts_by_user
from lifelong.team.models import Goal, Metric, Milestone, MilestoneKind
from lifelong.team.selectors import goals_progress

log = logging.getLogger(__name__)
ROUND_NUMBERS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
RISING = frozenset({*COUNTED, Metric.RETENTION})
# Goals that ended this many days ago are still looked at: a daily sweep must not miss one
# reached on its last day, nor a share goal whose period just closed.
LOOK_BACK = dt.timedelta(days=7)
SINCE_EVER = dt.date(2000, 1, 1)
MAIL_WITHIN = dt.timedelta(days=2)


def milestone_text(milestone: Milestone) -> str:
    """What the team is told, in the active language."""
    who = (
        milestone.team.name
        if milestone.team
        else (milestone.user.get_full_name() or milestone.user.get_username())
        if milestone.user
        else ""
    )
    what = Metric(milestone.metric).label
    value = _number(milestone.value)
    if milestone.kind == MilestoneKind.GOAL and milestone.goal is not None:
        period = " – ".join(
            formats.date_format(day, "SHORT_DATE_FORMAT")
            for day in (milestone.goal.start, milestone.goal.end)
        )
        return _("%(who)s reached the goal «%(what)s» for %(period)s: %(value)s") % {
            "who": who,
            "what": what,
            "period": period,
            "value": value,
        }
    if milestone.kind == MilestoneKind.GOAL:
        return _("%(who)s reached the goal «%(what)s»: %(value)s") % {
            "who": who,
            "what": what,
            "value": value,
        }
    return _("%(who)s: %(value)s — %(what)s, a round number!") % {
        "who": who,
        "what": str(what).lower(),
        "value": value,
    }


def _number(value: object) -> str:
    number = Decimal(str(value))
    whole = number == number.to_integral_value()
    return formats.number_format(int(number) if whole else number, use_l10n=True)


def _goal_candidates(now: dt.datetime) -> list[Milestone]:
    today = timezone.localdate(now)
    goals = Goal.objects.filter(start__lte=today, end__gte=today - LOOK_BACK).select_related(
        "user", "team"
    )
    out = []
    for row in goals_progress(goals, now=now):
        final = row.figure.complete or row.goal.metric in RISING
        if row.reached and final and row.figure.value is not None:
            out.append(
                Milestone(
                    key=f"goal:{row.goal.pk}",
                    kind=MilestoneKind.GOAL,
                    metric=row.goal.metric,
                    user=row.goal.user,
                    team=row.goal.team,
                    goal=row.goal,
                    value=round(row.figure.value, 1),
                    reached_at=now,
                )
            )
    return out


def _round_candidates(now: dt.datetime) -> list[Milestone]:
    staff = list(User.objects.filter(is_active=True).values_list("pk", flat=True))
    ever = Window(start=SINCE_EVER, end=timezone.localdate(now), now=now)
    out = []
    for metric in COUNTED:
        counts = parts_by_user(metric, ever, staff)
        told = dict(
            Milestone.objects.filter(kind=MilestoneKind.ROUND, metric=metric)
            .values("user_id")
            .annotate(top=Max("value"))
            .values_list("user_id", "top")
        )
        for user_id, parts in counts.items():
            passed = [n for n in ROUND_NUMBERS if n <= parts.hits]
            # Only the highest newly passed: a first run over years of work tells one number.
            if passed and passed[-1] > (told.get(user_id) or 0):
                out.append(
                    Milestone(
                        key=f"round:{metric}:{user_id}:{passed[-1]}",
                        kind=MilestoneKind.ROUND,
                        metric=metric,
                        user_id=user_id,
                        value=passed[-1],
                        reached_at=now,
                    )
                )
    return out


def milestones_sweep() -> int:
    """Record the goals reached and round numbers passed since the last run, then mail the
    new ones; returns how many milestones were new."""
    now = clock.now()
    candidates = _goal_candidates(now) + _round_candidates(now)
    known = set(
        Milestone.objects.filter(key__in=[m.key for m in candidates]).values_list("key", flat=True)
    )
    fresh = [m for m in candidates if m.key not in known]
    Milestone.objects.bulk_create(fresh, ignore_conflicts=True)
    milestones_mail()
    return len(fresh)


def milestones_mail() -> int:
    """Mail each milestone not mailed yet to the active staff with an address, once."""
    if not settings.EMAIL_HOST:
        return 0
    recipients = list(
        User.objects.filter(is_active=True).exclude(email="").values_list("email", flat=True)
    )
    # Older news is not mailed late (say, the day mail is first set up): the home pages had it.
    pending = Milestone.objects.filter(
        emailed_at__isnull=True, reached_at__gte=clock.now() - MAIL_WITHIN
    ).select_related("user", "team", "goal")
    sent, failed = 0, 0
    for milestone in pending.order_by("reached_at", "pk"):
        claimed = Milestone.objects.filter(pk=milestone.pk, emailed_at__isnull=True).update(
            emailed_at=clock.now()
        )
        if not claimed or not recipients:
            continue
        with translation.override(settings.LANGUAGE_CODE):
            text = milestone_text(milestone)
            subject = _("Team news: %(text)s") % {"text": text}
            body = "\n\n".join([text, _("Well done! — Lifelong")])
        try:
            send_mail(subject, body, None, recipients)
        except Exception:
            log.exception("milestone_mail_failed", extra={"milestone": milestone.pk})
            failed += 1
        else:
            sent += 1
    if failed:
        raise RuntimeError(f"{failed} milestone mail(s) failed; see the log")
    return sent
