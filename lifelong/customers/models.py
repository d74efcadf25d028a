"""The customer database: people, their consents, notes and facts, and tags."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.lib.yo import yo_folded


class Gender(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    MALE = "m", _("Male")
    FEMALE = "f", _("Female")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=64, unique=True)

    def __str__(self) -> str:
        return self.name


class CustomerQuerySet(models.QuerySet["Customer"]):
    def live(self) -> CustomerQuerySet:
        """Customers still standing on their own: merged duplicates stay only as tombstones."""
        return self.filter(merged_into__isnull=True)


class Customer(models.Model):
    """One person who buys (or may buy) from the business.

    The order summary fields are denormalised and kept exact by
    `commerce.services.customer_summaries_refresh`; never write them elsewhere. A bulk
    import queues the customers it touches and refreshes them once, at its end
    (`commerce.summaries`), so while it runs theirs lag behind their orders.
    """

    external_id = models.CharField(_("external id"), max_length=128, null=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    patronymic = models.CharField(_("patronymic"), max_length=100, blank=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    email = models.EmailField(_("email"), blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_index=True)
    telegram_chat_id = models.CharField(_("Telegram chat id"), max_length=32, blank=True)
    vk_id = models.CharField(_("VK id"), max_length=32, blank=True)
    max_chat_id = models.CharField(_("MAX chat id"), max_length=32, blank=True)
    preferred_channel = models.CharField(_("preferred channel"), max_length=16, blank=True)
    language = models.CharField(_("language"), max_length=8, default="ru")
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Moscow")
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers")
    source = models.CharField(_("source"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    # A staff member who knows the customer's whole history (a loyalty privilege): shown on
    # the card and the status page, and usable as the sender name of emails.
    personal_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("personal manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_customers",
    )

    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True)
    orders_count = models.PositiveIntegerField(_("orders"), default=0)
    total_spent = models.DecimalField(
        _("total spent"), max_digits=14, decimal_places=2, default=Decimal("0")
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            # The surname as search compares it: upper case, ё as е.
            models.Index(Upper(yo_folded("last_name")), name="customer_last_name_folded"),
            models.Index(fields=["last_order_at"]),
            models.Index(fields=["-created_at"]),
        ]
        constraints = [
            # Not unique=True: that adds a LIKE-pattern index on PostgreSQL nobody queries.
            models.UniqueConstraint(fields=["external_id"], name="customer_external_id_unique")
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"#{self.pk}"

    def profile_apply(
        self, profile: Mapping[str, Any], attributes: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Set the given (cleaned) profile fields and merge `attributes`; returns what changed.

        Only what is given changes: an upsert never blanks a field it was not sent.
        """
        changes: dict[str, Any] = {}
        for name, value in profile.items():
            if getattr(self, name) != value:
                changes[name] = value
                setattr(self, name, value)
        if attributes:
            merged = {**self.attributes, **attributes}
            if merged != self.attributes:
                changes["attributes"] = dict(attributes)
                self.attributes = merged
        return changes

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.patronymic) if p)

    @property
    def display_name(self) -> str:
        """Name as people address each other in Russian: first name and patronymic."""
        return " ".join(p for p in (self.first_name, self.patronymic) if p) or str(self)

    @property
    def average_order(self) -> Decimal:
        if not self.orders_count:
            return Decimal("0")
        return (self.total_spent / self.orders_count).quantize(Decimal("0.01"))


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", "SMS"
    TELEGRAM = "telegram", "Telegram"
    VK = "vk", _("VK")
    MAX = "max", "MAX"
    WHATSAPP = "whatsapp", "WhatsApp"
    PUSH = "push", _("Push")


class Purpose(models.TextChoices):
    TRANSACTIONAL = "transactional", _("Transactional")
    MARKETING = "marketing", _("Marketing")


class ConsentQuerySet(models.QuerySet["Consent"]):
    def newest_first(self) -> ConsentQuerySet:
        """Decisions newest first by recording order: the first row per (customer, channel,
        purpose) is the current state.

        Not by `at`: that is the time the sender claims, and a shop's clock running a few
        minutes ahead would otherwise let a grant outrank the withdrawal recorded after it.
        `customers.services.consent_record` refuses the rows that would make the two orders
        disagree in a way that matters (dates in the future, grants backdated past a "no").
        """
        return self.order_by("-id")


class Consent(models.Model):
    """One grant or withdrawal of consent. Rows are never updated: the history is the evidence.

    The current state for (customer, channel, purpose) is the row recorded last
    (`Consent.objects.newest_first()`).
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    granted = models.BooleanField(_("granted"))
    at = models.DateTimeField(_("when"), default=clock.now)
    source = models.CharField(_("source"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP"), null=True, blank=True)
    form = models.CharField(_("form"), max_length=200, blank=True)
    text_version = models.CharField(_("text version"), max_length=64, blank=True)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["customer", "channel", "purpose", "-id"], name="consent_newest_first"
            )
        ]
        ordering = ["-id"]


class Note(models.Model):
    """Free text written by staff about a customer."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at"]


class Fact(models.Model):
    """A short structured thing we know ("попугай Кеша"); templates may use it."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="facts")
    category = models.CharField(_("category"), max_length=64, blank=True)
    text = models.CharField(_("fact"), max_length=300)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["category", "created_at"]
