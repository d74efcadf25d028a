"""Staff roles: below both the User model and the permission map that reads them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    MARKETER = "marketer", _("Marketer")
    SUPPORT = "support", _("Support")
    ANALYST = "analyst", _("Analyst (read-only)")
