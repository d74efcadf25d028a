"""Click and open tracking: links become stored ids behind signed tokens.

A click resolves the stored `MessageLink`; the target URL is never read from the request,
so the tracker cannot be used as an open redirect.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.urls import reverse

from lifelong.lib.signing import absolute_url, token_make
from lifelong.messaging.models import Message, MessageLink

# Plain-text links, and href values in HTML (quoted with " or ').
_TEXT_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_HREF = re.compile(r"""(href\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)


def links_track(message: Message, *, open_pixel: bool) -> None:
    """Rewrite the message's links to tracked ones and add the open pixel to HTML."""
    if not message.customer_id or not (message.body_text or message.body_html):
        return
    own = settings.SITE_URL.rstrip("/")
    ids: dict[str, str] = {}

    def tracked(url: str) -> str:
        if url == own or url.startswith(own + "/"):  # our own portal links stay as they are
            return url
        if url not in ids:
            link = MessageLink.objects.create(message=message, url=url[:2000])
            ids[url] = absolute_url(
                reverse("portal:click", args=[token_make(purpose="click", value=link.pk)])
            )
        return ids[url]

    text = _TEXT_URL.sub(lambda m: tracked(m.group(0)), message.body_text)
    html = _HREF.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{tracked(m.group(3))}{m.group(2)}", message.body_html
    )
    if html and open_pixel:
        pixel = absolute_url(
            reverse("portal:open", args=[token_make(purpose="open", value=message.pk)])
        )
        html += f'<img src="{pixel}" width="1" height="1" alt="" style="display:none">'
    if (text, html) != (message.body_text, message.body_html):
        message.body_text, message.body_html = text, html
        message.save(update_fields=["body_text", "body_html"])
