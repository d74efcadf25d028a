"""SMS.ru delivery callbacks (https://sms.ru/api/callback).

SMS.ru POSTs form fields data[0], data[1], ... each "sms_status\\n<sms_id>\\n<code>\\n<unix
time>", and hash = sha256(api_id + the data entries joined). It wants "100" in the body,
otherwise it counts the delivery as failed and sends it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re

from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifelong.messaging.channels.http import hook_settings, secret_matches
from lifelong.messaging.services import message_status_update

log = logging.getLogger(__name__)

SMSRU_DELIVERED = {103: "delivered", 110: "read"}
SMSRU_FAILED = {
    104: "not delivered: its lifetime ran out",
    105: "deleted by the operator",
    106: "failure in the phone",
    107: "not delivered, reason unknown",
    108: "rejected",
    150: "no route to the number",
}
_DATA_KEY = re.compile(r"^data\[(\d*)\]$")


def callback_entries(post: QueryDict) -> list[str]:
    """The data[...] entries in SMS.ru's order (data[0], data[1], ... or repeated data[])."""
    indexed: list[tuple[int, int, str]] = []
    for position, key in enumerate(post.keys()):
        match = _DATA_KEY.match(key)
        if match is None:
            continue
        index = int(match.group(1)) if match.group(1) else position
        indexed.extend((index, position, value) for value in post.getlist(key))
    return [value for _index, _position, value in sorted(indexed)]


@csrf_exempt
@require_POST
def smsru_callback(request: HttpRequest) -> HttpResponse:
    settings = hook_settings("sms", "smsru")
    if settings is None:
        return HttpResponse("not found", status=404, content_type="text/plain")
    api_id = str(settings.get("api_id") or "")
    entries = callback_entries(request.POST)
    expected = hashlib.sha256((api_id + "".join(entries)).encode()).hexdigest()
    if not api_id or not secret_matches(expected, request.POST.get("hash")):
        log.warning("smsru_callback_rejected")
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    for entry in entries:
        lines = entry.splitlines()
        if len(lines) < 3 or lines[0] != "sms_status" or not lines[2].strip().isdigit():
            continue
        sms_id, code = lines[1].strip(), int(lines[2])
        at = None
        if len(lines) > 3 and lines[3].strip().isdigit():
            at = dt.datetime.fromtimestamp(int(lines[3]), tz=dt.UTC)
        if code in SMSRU_DELIVERED:
            message_status_update(channel="sms", provider_id=sms_id, status="delivered", at=at)
        elif code in SMSRU_FAILED:
            message_status_update(
                channel="sms",
                provider_id=sms_id,
                status="failed",
                error=f"SMS.ru {code}: {SMSRU_FAILED[code]}",
                at=at,
            )
    return HttpResponse("100", content_type="text/plain")
