"""The catalogue of privileges a tier can open: data, so segments, journeys, templates and the
status page all read the same codes. A tier lists the codes it opens (`Tier.privileges`).

Privileges over discounts: each opens access rather than a bigger rebate.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# code -> (name, short description)
PRIVILEGES: dict[str, tuple[Promise, Promise]] = {
    "early_access": (
        _("Early access"),
        _("New collections and sales open to you before everyone else."),
    ),
    "reservations": (
        _("Reservations"),
        _("Reserve scarce goods before they reach the shop."),
    ),
    "free_express_delivery": (
        _("Free express delivery"),
        _("Express delivery of every order at no charge."),
    ),
    "personal_manager": (
        _("Personal manager"),
        _("A manager who knows your whole history answers you personally."),
    ),
    "closed_community": (
        _("Closed community"),
        _("An invitation to the closed club of our most loyal customers."),
    ),
    "birthday_gift": (
        _("Birthday gift"),
        _("A gift from us on your birthday."),
    ),
}


def privilege_choices() -> list[tuple[str, Promise]]:
    """(code, name) pairs for forms."""
    return [(code, name) for code, (name, _description) in PRIVILEGES.items()]
