"""The referral link `/c/ref/<code>`: counts the visit and opens the shop with `?ref=<code>`."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache

from lifelong.loyalty.referrals import referral_visit


@never_cache
def referral(request: HttpRequest, code: str) -> HttpResponse:
    # The target is the shop address from the settings, never one taken from the request.
    target = referral_visit(code=code)
    if target is None:
        raise Http404
    return HttpResponseRedirect(target)
