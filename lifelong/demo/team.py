"""The demo's staff goals: «Прана»'s team, this month's goals for the support lead Ольга and
for the team, her targets of the months before (so the report by manager has a history to
compare with), one customer thanking Ольга by name in the inbox, and the milestones sweep run
once so the home pages have team news.

The figures themselves are never made up: the report and the progress bars read the tasks,
replies, orders and feedback the rest of the demo wrote. The thanks goes through
`inbound_receive`, like any customer's message, so the tagger names Ольга on the item
(mentioned_staff) and it counts as praise on her goals, her home page and the weekly thanks.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.customers.models import Customer
from lifelong.demo.people import CUSTOMER_PREFIX
from lifelong.feedback.inbox import inbound_receive
from lifelong.team.metrics import Window, figures
from lifelong.team.milestones import milestones_sweep
from lifelong.team.models import Goal, Metric, Milestone, PeriodKind, Team
from lifelong.team.periods import periods_back

TEAM_NAME = "Команда «Праны»"
THANKS = (
    "Ольга, спасибо вам огромное! Помогли подобрать коврик и подсказали упражнения для спины, "
    "всё пришло быстро"
)
# What Ольга is measured on this month and what her past targets were on (for the report).
SUPPORT_METRICS = (
    Metric.TASKS_ON_TIME,
    Metric.TASKS_ON_TIME_SHARE,
    Metric.FIRST_RESPONSE,
    Metric.NEXT_STEP,
    Metric.RETENTION,
    Metric.REVIEWS,
    Metric.PRAISE,
)
PAST_METRICS = (Metric.TASKS_ON_TIME, Metric.FIRST_RESPONSE, Metric.RETENTION)
TEAM_GOALS = {Metric.PRAISE: Decimal(3), Metric.TASKS_ON_TIME_SHARE: Decimal(75)}
PAST_MONTHS = 5
# With nothing to go by, a modest target.
DEFAULT_TARGETS = {
    Metric.TASKS_ON_TIME: 5.0,
    Metric.TASKS_ON_TIME_SHARE: 70.0,
    Metric.FIRST_RESPONSE: 48.0,
    Metric.NEXT_STEP: 30.0,
    Metric.RETENTION: 30.0,
    Metric.REVIEWS: 1.0,
    Metric.PRAISE: 2.0,
}


def _target(metric: str, before: float | None) -> Decimal:
    """A target a manager would set: a little better than the month before."""
    if before is None:
        value = DEFAULT_TARGETS[Metric(metric)]
    elif metric == Metric.FIRST_RESPONSE:
        value = max(1.0, before * 0.8)
    elif metric in (Metric.TASKS_ON_TIME_SHARE, Metric.NEXT_STEP, Metric.RETENTION):
        value = min(100.0, before + 10)
    else:
        value = float(math.ceil(max(1.0, before * 1.2)))
    return Decimal(round(value)).quantize(Decimal("0.1"))


def demo_team_wipe(staff: dict[str, User]) -> None:
    people = list(staff.values())
    Milestone.objects.filter(user__in=people).delete()
    Goal.objects.filter(user__in=people).delete()
    Team.objects.filter(name=TEAM_NAME).delete()


def demo_team_write(*, staff: dict[str, User], end: dt.datetime) -> None:
    """Write the team, the goals and the thanks; `end` is the demo's now."""
    demo_team_wipe(staff)
    owner, support = staff[Role.OWNER.value], staff[Role.SUPPORT.value]
    team = Team.objects.create(name=TEAM_NAME)
    team.members.set([owner, support, staff[Role.MARKETER.value]])
    months = periods_back(PeriodKind.MONTH, today=timezone.localdate(end), count=PAST_MONTHS + 1)
    (start, last), before = months[-1], months[-2]

    def figure(metric: str, month: tuple[dt.date, dt.date]) -> float | None:
        window = Window(start=month[0], end=month[1], now=end)
        return figures(metric, window, {support.pk: [support.pk]})[support.pk].value

    goals = [
        Goal(
            metric=m,
            user=support,
            start=start,
            end=last,
            target=_target(m, figure(m, before)),
            created_by=owner,
        )
        for m in SUPPORT_METRICS
    ]
    goals += [
        Goal(metric=m, team=team, start=start, end=last, target=t, created_by=owner)
        for m, t in TEAM_GOALS.items()
    ]
    goals += [
        Goal(
            metric=m,
            user=support,
            start=month[0],
            end=month[1],
            target=_target(m, figure(m, previous)),
            created_by=owner,
        )
        for previous, month in itertools.pairwise(months[:-1])
        for m in PAST_METRICS
    ]
    Goal.objects.bulk_create(goals)
    _thanks(support_customers=Customer.objects.filter(personal_manager=support), end=end)
    milestones_sweep()


def _thanks(*, support_customers: QuerySet[Customer], end: dt.datetime) -> None:
    """One of Ольга's customers thanks her in Telegram the day before (the first such customer
    by id with a Telegram chat, any demo customer if she manages none, so the same seed thanks
    the same way)."""
    with_chat = Customer.objects.filter(external_id__startswith=CUSTOMER_PREFIX).exclude(
        telegram_chat_id=""
    )
    customer = (
        with_chat.filter(pk__in=support_customers.values("pk")).order_by("pk").first()
        or with_chat.order_by("pk").first()
    )
    if customer is None:
        return
    with clock.rewound(end - dt.timedelta(hours=20)):
        inbound_receive(channel="telegram", address=customer.telegram_chat_id, text=THANKS)
