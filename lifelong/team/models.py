"""Staff goals: teams, targets per person or team over a period, and the milestones reached.

What each figure means is decided in lifelong.team.metrics, one function per figure, so the
home page, the report and the milestone sweep always agree.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lifelong import clock


class Metric(models.TextChoices):
    TASKS_ON_TIME = "tasks_on_time", _("Tasks done on time")
    TASKS_ON_TIME_SHARE = "tasks_on_time_share", _("Tasks done on time, %")
    FIRST_RESPONSE = "first_response", _("First response in the inbox, median hours")
    NEXT_STEP = "next_step", _("Managed customers with a next step, %")
    RETENTION = "retention", _("Managed customers who bought again, %")
    NPS = "nps", _("NPS of managed customers")
    REVIEWS = "reviews", _("Reviews collected")
    PRAISE = "praise", _("Praise received")


class PeriodKind(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    CUSTOM = "custom", _("Custom dates")


class Team(models.Model):
    """A group of staff members who share goals (the shop floor, the support desk)."""

    name = models.CharField(_("name"), max_length=80, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="teams", verbose_name=_("members")
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("team")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Goal(models.Model):
    """A target for one staff member or one team on one metric over [start, end] (both days
    included, in the shop's time zone)."""

    metric = models.CharField(_("metric"), max_length=24, choices=Metric.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="goals",
        verbose_name=_("staff member"),
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="goals",
        verbose_name=_("team"),
    )
    period = models.CharField(
        _("period"), max_length=8, choices=PeriodKind.choices, default=PeriodKind.MONTH
    )
    start = models.DateField(_("from"))
    end = models.DateField(_("until"))
    target = models.DecimalField(_("target"), max_digits=10, decimal_places=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("goal")
        ordering = ["-start", "metric", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, team__isnull=True)
                | Q(user__isnull=True, team__isnull=False),
                name="team_goal_one_owner",
            ),
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="team_goal_dates"),
            models.UniqueConstraint(
                fields=["metric", "user", "start", "end"],
                condition=Q(user__isnull=False),
                name="team_goal_user_once",
            ),
            models.UniqueConstraint(
                fields=["metric", "team", "start", "end"],
                condition=Q(team__isnull=False),
                name="team_goal_team_once",
            ),
        ]
        indexes = [models.Index(fields=["end", "start"], name="team_goal_period")]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} {self.start}–{self.end}"


class MilestoneKind(models.TextChoices):
    GOAL = "goal", _("Goal reached")
    ROUND = "round", _("Round number")


class Milestone(models.Model):
    """A goal reached or a round number passed (the 100th task done on time), told to the team
    once: `key` is unique, so a second sweep run or worker records nothing new. `emailed_at` is
    set before the mail leaves, so a mail is never sent twice."""

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=8, choices=MilestoneKind.choices)
    metric = models.CharField(max_length=24, choices=Metric.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="milestones",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="milestones"
    )
    goal = models.ForeignKey(
        Goal, null=True, blank=True, on_delete=models.SET_NULL, related_name="milestones"
    )
    value = models.DecimalField(max_digits=10, decimal_places=1)
    reached_at = models.DateTimeField(default=clock.now, db_index=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-reached_at", "-pk"]
        indexes = [
            # The email step: milestones not mailed yet.
            models.Index(
                fields=["reached_at"],
                name="team_milestone_unmailed",
                condition=Q(emailed_at__isnull=True),
            )
        ]
