"""Staff users with one role each, API keys for integrations, and the audit log."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.accounts.permissions import role_allows
from lifelong.accounts.roles import Role
from lifelong.lib.encryption import EncryptedTextField


class User(AbstractUser):
    """A staff member. What they may do is decided by `role` (see accounts.permissions)."""

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.SUPPORT)
    # RFC 6238 two-factor sign-in: the shared secret (base32), empty while it is off. Stored
    # encrypted: a copy of the database must not be enough to make codes.
    totp_secret = EncryptedTextField(blank=True, default="")
    # The last time step whose code was accepted: a code works once, even within its 30 s.
    totp_last_step = models.BigIntegerField(default=0)

    def can(self, permission: str) -> bool:
        return self.is_active and role_allows(self.role, permission)

    @property
    def has_two_factor(self) -> bool:
        return bool(self.totp_secret)

    @property
    def two_factor_required(self) -> bool:
        """Owners must use two-factor sign-in when LIFELONG_REQUIRE_OWNER_2FA is on."""
        return settings.REQUIRE_OWNER_2FA and self.role == Role.OWNER


class ApiScope(models.TextChoices):
    READ = "read", _("Read")
    CUSTOMERS = "customers:write", _("Write customers and consents")
    ORDERS = "orders:write", _("Write orders, refunds and products")
    EVENTS = "events:write", _("Write events")
    LOYALTY = "loyalty:write", _("Hold and spend points at checkout")
    FEEDBACK = "feedback:write", _("Send reviews into the inbox")


class ApiKey(models.Model):
    """A secret for one integration. Only a SHA-256 of the secret is stored."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=clock.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_secret(secret: str) -> str:
        # API keys are long random tokens, so a fast hash is enough (no dictionary to attack).
        return hashlib.sha256(secret.encode()).hexdigest()

    @staticmethod
    def new_secret() -> tuple[str, str]:
        """Return (prefix, full secret). The secret is shown to the user once."""
        prefix = secrets.token_hex(4)
        return prefix, f"ll_{prefix}_{secrets.token_urlsafe(32)}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class AuditLog(models.Model):
    """Who changed what, and when. Append-only."""

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, blank=True)
    # The integration behind a change made through the API.
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id"])]
        ordering = ["-at"]
