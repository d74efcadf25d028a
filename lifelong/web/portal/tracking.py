"""Click and open tracking endpoints. Targets come from stored rows, never from the request."""

from __future__ import annotations

import base64

from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache

from lifelong.lib.signing import token_read
from lifelong.messaging.models import Message, MessageLink
from lifelong.messaging.services import message_engagement_record

_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
def click(request: HttpRequest, token: str) -> HttpResponse:
    link_id = token_read(purpose="click", token=token)
    link = (
        MessageLink.objects.select_related("message").filter(pk=link_id).first()
        if link_id and link_id.isdigit()
        else None
    )
    if link is None:
        raise Http404
    MessageLink.objects.filter(pk=link.pk).update(clicks=F("clicks") + 1)
    message_engagement_record(message=link.message, kind="clicked")
    return HttpResponseRedirect(link.url)


@never_cache
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    message_id = token_read(purpose="open", token=token)
    if message_id and message_id.isdigit():
        message = Message.objects.filter(pk=message_id).first()
        if message is not None:
            message_engagement_record(message=message, kind="opened")
    return HttpResponse(_GIF, content_type="image/gif")
