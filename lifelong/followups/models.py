"""Staff tasks: every active customer should have a next step."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.customers.models import Customer


class TaskKind(models.TextChoices):
    CALL = "call", _("Call")
    MESSAGE = "message", _("Write a message")
    MEETING = "meeting", _("Meeting")
    REVIEW = "review", _("Review feedback")
    OTHER = "other", _("Other")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class TaskSource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    JOURNEY = "journey", _("Journey")
    FEEDBACK = "feedback", _("Feedback")
    SYSTEM = "system", _("System")


class Task(models.Model):
    """A next step with a customer, owned by a staff member."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(_("title"), max_length=255)
    kind = models.CharField(
        _("kind"), max_length=16, choices=TaskKind.choices, default=TaskKind.OTHER
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        verbose_name=_("assignee"),
    )
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(
        _("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    source = models.CharField(
        _("source"), max_length=16, choices=TaskSource.choices, default=TaskSource.MANUAL
    )
    source_ref = models.CharField(max_length=128, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "assignee", "due_at"]),
            models.Index(fields=["customer", "status"]),
        ]
        constraints = [
            # Automations may call task_create again after a crash; the ref keeps it single.
            models.UniqueConstraint(
                fields=["source", "source_ref"],
                condition=~models.Q(source_ref=""),
                name="task_source_ref_unique",
            )
        ]
        ordering = ["due_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.status == TaskStatus.OPEN and self.due_at < clock.now()
