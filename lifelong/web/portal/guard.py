"""What every customer page does before its own work.

It opens the link's token and finds the customer (following merges), speaks the
customer's language, and answers in the portal's own style and words when the link is
bad or old, when one address asks too often, or when a signed-in staff member tries to
act as the customer. A customer never sees a bare error page.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _

from lifelong.customers.models import Customer
from lifelong.customers.selectors import customer_survivor
from lifelong.lib.client_ip import client_ip
from lifelong.lib.signing import token_open
from lifelong.web import ratelimit

# A preferences link opens the customer's settings, and mail gets forwarded: it lives
# long enough to act on a message read weeks late, and not much longer.
PREFERENCES_LINK_DAYS = 60
# People unsubscribe from whatever old mail they find, and mailbox providers expect the
# link in it to work for at least a year after sending.
UNSUBSCRIBE_LINK_DAYS = 2 * 365

View = Callable[..., HttpResponse]


class LinkExpired(Exception):
    """An authentic link that has outlived its kind."""


class StaffPreview(Exception):
    """A signed-in staff member tried to change something on a customer's page."""


def customer_from_link(
    request: HttpRequest, *, purpose: str, token: str, lifetime_days: int
) -> tuple[Customer, str]:
    """The customer a link names and the rest of its value (e.g. the channel).

    The customer's language is switched on first, so even "this link is old" speaks it.
    """
    opened = token_open(purpose=purpose, token=token)
    if opened is None:
        raise Http404
    customer_id, _sep, rest = opened.value.partition(":")
    customer = customer_survivor(int(customer_id)) if customer_id.isdigit() else None
    if customer is None:
        raise Http404
    _speak(request, customer)
    if opened.older_than(days=lifetime_days):
        raise LinkExpired
    return customer, rest


def _speak(request: HttpRequest, customer: Customer) -> None:
    # Pages speak the customer's language, not the browser's: the link came in their message.
    try:
        language = translation.get_supported_language_variant(customer.language or "")
    except LookupError:
        language = settings.LANGUAGE_CODE
    translation.activate(language)
    request.LANGUAGE_CODE = language


def staff_preview(request: HttpRequest) -> bool:
    """A signed-in staff member opened a customer's link: they may look, not act for them."""
    return bool(request.user.is_authenticated)


def refuse_staff(request: HttpRequest) -> None:
    if staff_preview(request):
        raise StaffPreview


def _one_click(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get("List-Unsubscribe") == "One-Click"


def customer_page(view: View) -> View:
    """Throttle per client address, and answer the guard's refusals with a portal page.

    RFC 8058 one-click POSTs are not throttled: the mail provider's servers send them for
    all of its users from a few addresses, and a refused one would leave us mailing a
    person who asked us to stop. They change one consent and cost a guesser as much as
    any other page (a token cannot be guessed).
    """

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not _one_click(request):
            wait = ratelimit.portal_blocked_for(ip=client_ip(request) or "")
            if wait is not None:
                response = _notice(
                    request,
                    status=429,
                    heading=_("Too many requests"),
                    lines=[_("Please wait a little and try again.")],
                )
                response["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return _notice(
                request,
                status=404,
                heading=_("This link does not work"),
                lines=[
                    _("Perhaps only part of it was copied."),
                    _("Please open the link in our message again."),
                ],
            )
        except LinkExpired:
            return _notice(
                request,
                status=200,
                heading=_("This link is out of date"),
                lines=[
                    _("To keep your settings safe, links to this page work only for a while."),
                    _("Please open a more recent message from us and follow the link in it."),
                ],
            )
        except StaffPreview:
            return _notice(
                request,
                status=403,
                heading=_("Changes are not available"),
                lines=[
                    _("You are viewing as a staff member: changes are not available."),
                    _("Only the customer can change these settings, from their own link."),
                ],
            )

    return guarded


def _notice(request: HttpRequest, *, status: int, heading: str, lines: list[str]) -> HttpResponse:
    return render(
        request, "portal/notice.html", {"heading": heading, "lines": lines}, status=status
    )
