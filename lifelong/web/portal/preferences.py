"""One-click unsubscribe (RFC 8058), the preferences page and the push subscription endpoint.

The sealed token in the URL is the only credential; a GET never changes anything. The
guard (portal/guard.py) opens it, speaks the customer's language, throttles, and keeps
signed-in staff to a read-only look.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from lifelong.customers.models import Channel, Purpose
from lifelong.customers.selectors import consent_current
from lifelong.customers.services import consent_record
from lifelong.lib.client_ip import client_ip
from lifelong.lib.outbound import OutboundRefused, url_check
from lifelong.messaging.links import preferences_url
from lifelong.messaging.models import ChannelConfig, Topic
from lifelong.messaging.preferences import (
    channels_offered,
    marketing_state,
    marketing_withdraw_all,
    preferences_save,
    push_subscription_save,
    reachable_channels,
)
from lifelong.messaging.services import messages_cancel_marketing
from lifelong.web.portal.guard import (
    PREFERENCES_LINK_DAYS,
    UNSUBSCRIBE_LINK_DAYS,
    customer_from_link,
    customer_page,
    refuse_staff,
    staff_preview,
)

_BASE64URL = re.compile(r"[A-Za-z0-9_\-]+=*")
_PUSH_URL = URLValidator(schemes=["https"])


# Mail clients POST the RFC 8058 one-click body without any CSRF token or cookie; the
# token in the URL is what authorises the request.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@customer_page
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    customer, channel = customer_from_link(
        request, purpose="unsubscribe", token=token, lifetime_days=UNSUBSCRIBE_LINK_DAYS
    )
    if channel not in Channel.values:
        raise Http404
    done = False
    if request.method == "POST":
        refuse_staff(request)
        current = consent_current(customer).get((channel, Purpose.MARKETING))
        # A repeated POST (mail clients retry) adds no second withdrawal to the evidence.
        if current is None or current.granted:
            consent_record(
                customer=customer,
                channel=channel,
                purpose=Purpose.MARKETING,
                granted=False,
                source="unsubscribe_link",
                ip=client_ip(request),
                form="List-Unsubscribe" if "List-Unsubscribe" in request.POST else "portal",
            )
        else:
            messages_cancel_marketing(
                customer=customer, channels=[channel], reason="consent withdrawn (unsubscribe_link)"
            )
        done = True
    return render(
        request,
        "portal/unsubscribe.html",
        {
            "customer": customer,
            "channel": Channel(channel).label,
            "done": done,
            "preview": staff_preview(request),
            "preferences_url": preferences_url(customer_id=customer.pk),
        },
    )


def _topic_name(topic: Topic, language: str) -> str:
    return topic.name_en if language == "en" and topic.name_en else topic.name


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@customer_page
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    customer, _rest = customer_from_link(
        request, purpose="preferences", token=token, lifetime_days=PREFERENCES_LINK_DAYS
    )
    offered = channels_offered()
    reachable = reachable_channels(customer, offered)
    topics = list(Topic.objects.order_by("name"))
    if request.method == "POST":
        refuse_staff(request)
        if request.POST.get("action") == "unsubscribe_all":
            marketing_withdraw_all(customer=customer, ip=client_ip(request))
            messages.success(
                request,
                _(
                    "Done: no more news or offers from us. "
                    "Messages about your orders will still arrive."
                ),
            )
            return redirect(request.path)
        # Only what the page showed is saved: a channel or topic added while it was open
        # must not be switched off because its box was not there to tick.
        shown = set(request.POST.getlist("shown"))
        ticked = set(request.POST.getlist("marketing"))
        wanted = set(request.POST.getlist("topic"))
        preferred = request.POST.get("preferred_channel", customer.preferred_channel)
        if preferred and preferred not in reachable:
            preferred = customer.preferred_channel
        preferences_save(
            customer=customer,
            marketing={c: c in ticked for c in offered if f"channel:{c}" in shown},
            topics={t.slug: t.slug in wanted for t in topics if f"topic:{t.slug}" in shown},
            preferred_channel=preferred,
            ip=client_ip(request),
        )
        messages.success(request, _("Saved. Thank you for telling us what you like."))
        return redirect(request.path)

    language = translation.get_language() or settings.LANGUAGE_CODE
    states = marketing_state(customer, Channel.values)
    opted_out = set(customer.topic_opt_outs.values_list("topic__slug", flat=True))
    push = ChannelConfig.objects.filter(channel=Channel.PUSH, active=True).first()
    vapid_public_key = str(push.config.get("vapid_public_key", "")) if push else ""
    return render(
        request,
        "portal/preferences.html",
        {
            "customer": customer,
            "channels": [{"code": c, "label": Channel(c).label, "on": states[c]} for c in offered],
            "topics": [
                {"slug": t.slug, "name": _topic_name(t, language), "on": t.slug not in opted_out}
                for t in topics
            ],
            "reachable": [
                {"code": c, "label": Channel(c).label, "on": c == customer.preferred_channel}
                for c in reachable
            ],
            # "Unsubscribe from everything" also covers channels no longer set up.
            "any_marketing": any(states.values()),
            "preview": staff_preview(request),
            "vapid_public_key": vapid_public_key,
            "push_subscribe_url": reverse("portal:push_subscribe", args=[token]),
        },
    )


@require_POST
@customer_page
def push_subscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Store the browser's PushSubscription JSON ({endpoint, keys: {p256dh, auth}}).

    CSRF-protected like any form: the page puts the token in the X-CSRFToken header.
    """
    customer, _rest = customer_from_link(
        request, purpose="preferences", token=token, lifetime_days=PREFERENCES_LINK_DAYS
    )
    refuse_staff(request)
    if not ChannelConfig.objects.filter(channel=Channel.PUSH, active=True).exists():
        raise Http404
    try:
        data = json.loads(request.body)
        endpoint, keys = data["endpoint"], data["keys"]
        p256dh, auth = keys["p256dh"], keys["auth"]
    except (ValueError, TypeError, KeyError):
        return JsonResponse({"error": "expected {endpoint, keys: {p256dh, auth}}"}, status=400)
    if not all(isinstance(v, str) for v in (endpoint, p256dh, auth)):
        return JsonResponse({"error": "expected strings"}, status=400)
    try:
        if len(endpoint) > 1000:
            raise ValidationError("too long")
        _PUSH_URL(endpoint)
    except ValidationError:
        return JsonResponse({"error": "endpoint must be an https URL"}, status=400)
    if not (_BASE64URL.fullmatch(p256dh) and len(p256dh) <= 200):
        return JsonResponse({"error": "bad p256dh key"}, status=400)
    if not (_BASE64URL.fullmatch(auth) and len(auth) <= 100):
        return JsonResponse({"error": "bad auth secret"}, status=400)
    try:
        url_check(endpoint)
    except OutboundRefused:
        return JsonResponse({"error": "endpoint must be a public push service"}, status=400)
    _subscription, created = push_subscription_save(
        customer=customer, endpoint=endpoint, p256dh=p256dh, auth=auth
    )
    return JsonResponse({"subscribed": True}, status=201 if created else 200)
