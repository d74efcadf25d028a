"""Append-only events and the bookkeeping that makes ingestion idempotent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.lib.encryption import EncryptedTextField


class Event(models.Model):
    """Something that happened to a customer. Never updated or deleted.

    Orders, consents, notes and staff actions land here too, so a customer's
    timeline is one indexed query.
    """

    # No index of its own: (customer, -occurred_at) below serves every lookup by customer.
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
    )
    type = models.CharField(_("type"), max_length=64)
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("occurred"), default=clock.now)
    received_at = models.DateTimeField(_("received"), default=clock.now)
    source = models.CharField(_("source"), max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-occurred_at"]),
            models.Index(fields=["type", "occurred_at"]),
        ]
        constraints = [
            # A constraint rather than unique=True: on PostgreSQL the latter also builds a
            # LIKE-pattern index that nothing queries, and every event insert would pay for it.
            models.UniqueConstraint(fields=["idempotency_key"], name="event_idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.type} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class IdempotentRequest(models.Model):
    """The first response to an API request sent with an `Idempotency-Key` header.

    Written in the request's own transaction, so a committed row always has its response.
    """

    key = models.CharField(max_length=255)
    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    created_at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotent_request_unique")
        ]


class WebhookSource(models.Model):
    """A shop platform that posts signed webhooks to /hooks/<slug>.

    Secrets are stored encrypted. After a rotation the previous secret stays valid until
    `previous_valid_until`, so deliveries keep arriving while the shop switches over.
    """

    slug = models.SlugField(unique=True)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.slug

    def previous_valid(self) -> bool:
        return bool(
            self.previous_secret
            and self.previous_valid_until
            and clock.now() < self.previous_valid_until
        )

    def secrets_valid(self) -> list[str]:
        """The secrets a delivery may be signed with now."""
        return [self.secret, self.previous_secret] if self.previous_valid() else [self.secret]


class WebhookReceipt(models.Model):
    """A webhook id we have already processed: replays are acknowledged and ignored."""

    source = models.ForeignKey(WebhookSource, on_delete=models.CASCADE)
    webhook_id = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "webhook_id"], name="webhook_receipt_unique")
        ]


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    ORDERS = "orders", _("Orders")
    PRODUCTS = "products", _("Products")


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportJob(models.Model):
    """One CSV import: its progress, counts and the report of rejected rows."""

    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_rows = models.PositiveIntegerField(default=0)
    updated_rows = models.PositiveIntegerField(default=0)
    unchanged_rows = models.PositiveIntegerField(default=0)
    rejected_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=clock.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written by the runner after every batch: a running job whose heartbeat is old has
    # lost its runner, and the imports.run_pending sweep takes it over.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, self.processed_rows * 100 // self.total_rows)


class SetAsideEvent(models.Model):
    """An event a cursor-driven sweep (a reactor) could not process.

    It is set aside so that one bad row never stops the log for everyone; staff see it on the
    Jobs page and retry it once the cause is fixed. `reactor` names the sweep's cursor.
    """

    reactor = models.CharField(max_length=40)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    error = models.TextField()
    set_aside_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reactor", "event"], name="set_aside_event_unique")
        ]
