"""One-click unsubscribe (RFC 8058) and the preferences page.

The signed token in the URL is the only credential; a GET never changes anything.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.lib.signing import token_read
from lifelong.messaging.links import preferences_url


def _customer(customer_id: str | None) -> Customer:
    customer = (
        Customer.objects.filter(pk=customer_id, merged_into=None).first()
        if customer_id and customer_id.isdigit()
        else None
    )
    if customer is None:
        raise Http404
    return customer


# Mail clients POST the RFC 8058 one-click body without any CSRF token; the signed URL
# is what authorises the request.
@csrf_exempt
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    value = token_read(purpose="unsubscribe", token=token) or ""
    customer_id, _sep, channel = value.partition(":")
    if channel not in Channel.values:
        raise Http404
    customer = _customer(customer_id)
    done = False
    if request.method == "POST":
        consent_record(
            customer=customer,
            channel=channel,
            purpose=Purpose.MARKETING,
            granted=False,
            source="unsubscribe_link",
            ip=request.META.get("REMOTE_ADDR"),
            form="List-Unsubscribe" if "List-Unsubscribe" in request.POST else "portal",
        )
        done = True
    return render(
        request,
        "portal/unsubscribe.html",
        {
            "customer": customer,
            "channel": Channel(channel).label,
            "done": done,
            "preferences_url": preferences_url(customer_id=customer.pk),
        },
    )


def preferences(request: HttpRequest, token: str) -> HttpResponse:
    raise Http404  # the preferences page lands with the portal work
