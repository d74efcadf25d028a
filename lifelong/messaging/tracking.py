"""Click and open tracking: links become stored ids behind signed tokens.

A click resolves the stored `MessageLink`; the target URL is never read from the request,
so the tracker cannot be used as an open redirect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.conf import settings
from django.db import connection

from lifelong.lib.bulk import bulk_insert
from lifelong.lib.pg_array import pg_array
from lifelong.lib.signing import token_make
from lifelong.messaging.links import token_link
from lifelong.messaging.models import Message, MessageLink

# Plain-text links, and href values in HTML (quoted with " or ').
_TEXT_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_HREF = re.compile(r"""(href\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)


def links_track(messages: Sequence[Message], *, open_pixel: bool) -> None:
    """Rewrite the stored messages' links to tracked ones and add the open pixel to HTML:
    one insert of their links, one update of the bodies that changed (on SQLite, as many as
    its limit on parameters asks)."""
    own = settings.SITE_URL.rstrip("/")

    def ours(url: str) -> bool:  # our own portal links stay as they are
        return url == own or url.startswith(own + "/")

    tracked = [m for m in messages if m.customer_id and (m.body_text or m.body_html)]
    # Each message's links in the order they appear, each once: text first, then HTML.
    links: list[MessageLink] = []
    for message in tracked:
        urls = [m.group(0) for m in _TEXT_URL.finditer(message.body_text)]
        urls += [m.group(3) for m in _HREF.finditer(message.body_html)]
        links += [
            MessageLink(message=message, url=url[:2000])
            for url in dict.fromkeys(urls)
            if not ours(url)
        ]
    bulk_insert(links)
    click_link, pixel_link = token_link("portal:click"), token_link("portal:open")
    click_urls: dict[tuple[int, str], str] = {}
    for link in links:
        token = token_make(purpose="click", value=link.pk)
        click_urls[link.message_id, link.url] = click_link(token)

    changed = []
    for message in tracked:

        def click(url: str, message: Message = message) -> str:
            return url if ours(url) else click_urls[message.pk, url[:2000]]

        text = _TEXT_URL.sub(lambda m: click(m.group(0)), message.body_text)
        html = _HREF.sub(
            lambda m: f"{m.group(1)}{m.group(2)}{click(m.group(3))}{m.group(2)}",
            message.body_html,
        )
        if html and open_pixel:
            token = token_make(purpose="open", value=message.pk)
            pixel = pixel_link(token)
            html += f'<img src="{pixel}" width="1" height="1" alt="" style="display:none">'
        if (text, html) != (message.body_text, message.body_html):
            message.body_text, message.body_html = text, html
            changed.append(message)
    _bodies_update(changed)


def _bodies_update(messages: Sequence[Message]) -> None:
    """Store the bodies of these messages in one statement (as dispatch marks rows `sending`)."""
    if not messages:
        return
    table = connection.ops.quote_name(Message._meta.db_table)
    set_ = f"UPDATE {table} SET body_text = v.body_text, body_html = v.body_html "  # noqa: S608
    if connection.vendor == "postgresql":
        # Arrays: three parameters whatever the number of messages.
        with connection.cursor() as cursor:
            cursor.execute(
                f"{set_}FROM unnest(%s::bigint[], %s::text[], %s::text[]) "
                f"AS v (id, body_text, body_html) WHERE {table}.id = v.id",
                [
                    pg_array([m.pk for m in messages]),
                    pg_array([m.body_text for m in messages]),
                    pg_array([m.body_html for m in messages]),
                ],
            )
        return
    # SQLite takes at most 999 parameters in one statement: three a row.
    for start in range(0, len(messages), 333):
        chunk = messages[start : start + 333]
        values = ", ".join(["(%s, %s, %s)"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH v (id, body_text, body_html) AS (VALUES {values}) "
                f"{set_}FROM v WHERE {table}.id = v.id",
                [value for m in chunk for value in (m.pk, m.body_text, m.body_html)],
            )
