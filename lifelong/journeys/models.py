"""Journeys: versioned graphs, and the enrollments that walk them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.journeys.definition import Definition, definition_parse


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    ARCHIVED = "archived", _("Archived")


class Journey(models.Model):
    """A scenario. Its graph lives in versions; `current_version` is what new entrants get."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("code"), max_length=80, unique=True)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT
    )
    current_version = models.ForeignKey(
        "JourneyVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")

    def __str__(self) -> str:
        return self.name


class JourneyVersion(models.Model):
    """An immutable graph. Never updated after it is saved."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=clock.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["journey", "number"], name="journey_version_unique")
        ]

    def parsed(self) -> Definition:
        return definition_parse(self.definition)


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", _("In progress")
    COMPLETED = "completed", _("Completed")
    CONVERTED = "converted", _("Reached the goal")
    CANCELLED = "cancelled", _("Cancelled")


class Enrollment(models.Model):
    """One customer's walk through one journey version.

    `key` carries the re-entry policy: "once", "order:<id>", a date... so the unique
    constraint makes every trigger idempotent. Holdout enrollments are tracked for the
    goal but never run a node.
    """

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments")
    version = models.ForeignKey(JourneyVersion, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="enrollments")
    key = models.CharField(max_length=120)
    status = models.CharField(
        max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    holdout = models.BooleanField(default=False)
    current_node = models.CharField(max_length=40, blank=True)
    # True while the current node (a wait) has started and its wake-up is pending.
    waiting = models.BooleanField(default=False)
    wait_started_at = models.DateTimeField(null=True, blank=True)
    # For a wait on events: ",message_opened,order_placed," so new events can wake it early.
    waiting_for = models.CharField(max_length=700, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    visits = models.JSONField(default=dict, blank=True)  # node id -> times visited
    context = models.JSONField(default=dict, blank=True)  # trigger data (order, cart, ...)
    trigger_event_id = models.BigIntegerField(null=True, blank=True)
    entered_at = models.DateTimeField(default=clock.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    goal_met_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "customer", "key"], name="enrollment_reentry_key_unique"
            )
        ]
        indexes = [
            # The claim's order, whole: on next_run_at alone, a batch whose enrollments are due
            # at one moment (a segment enrolled at once) sorted all of them for every claim.
            models.Index(
                fields=["next_run_at", "id"], name="enrollment_due", condition=Q(status="active")
            ),
            models.Index(fields=["customer", "status"]),
            models.Index(fields=["journey", "status", "current_node"]),
        ]

    def __str__(self) -> str:
        return f"{self.journey_id}/{self.customer_id} {self.status}"


class StepRun(models.Model):
    """One node execution. The unique key means a crash and re-run never does a step twice."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="steps")
    node_id = models.CharField(max_length=40)
    visit = models.PositiveIntegerField()
    ran_at = models.DateTimeField(default=clock.now)
    outcome = models.CharField(max_length=200, blank=True)
    # The step could not do its work because of how the journey is set up (a template or a
    # channel gone): counted on the node and flagged on the journeys list.
    problem = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "node_id", "visit"], name="step_run_unique"
            )
        ]
        indexes = [
            # Problems are rare: the journeys list counts recent ones from this small index.
            models.Index(fields=["ran_at"], name="step_run_problem", condition=Q(problem=True))
        ]


class ReactorCursor(models.Model):
    """How far the event reactor has read the event log (one row per reactor)."""

    name = models.CharField(max_length=40, unique=True)
    last_event_id = models.BigIntegerField(default=0)
