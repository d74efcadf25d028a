"""Scheduled posts to a club's chat from templates: a weekly tip, an early-access announcement.

A `ClubPost` is due at `next_run_at`. The `community.posts` sweep claims due posts (on
PostgreSQL with SKIP LOCKED, so workers never take the same one), renders the template's
Telegram (or VK) text for the club, and queues it in the outbox addressed to the club's chat
with the dedupe key `club_post:<post>:<run moment>`: a sweep that crashes after queueing and
runs again finds the key and posts nothing twice. The dispatcher then sends it like any
message (sendMessage with the chat id).

A weekly post's next run is the next weekday and time on the business's clock (DST-safe, as
wall time); runs missed while nothing ran are not made up: one post, then the next week. A
post to a chat is not marketing to a person (the members joined the club for it), so it is
queued as transactional: no consent record, quiet hours or caps apply to a group chat.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.community.models import ClubKind, ClubPost, EarlyAccess, PostSchedule
from lifelong.customers.models import Channel, Purpose
from lifelong.lib.zones import zone_of
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.templating import TemplateRenderError, variant_render
from lifelong.messaging.templating.context import no_variant_text
from lifelong.messaging.variants import variant_for

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# An announcement names a few windows; a template that loops over them stays short.
EARLY_ACCESS_SHOWN = 5
POST_FIELDS = ("club", "template", "schedule", "once_at", "weekday", "time", "active")


def post_channel(kind: str) -> str:
    return Channel.VK if kind == ClubKind.VK_CHAT else Channel.TELEGRAM


def next_weekly(*, weekday: int, time: dt.time, after: dt.datetime) -> dt.datetime:
    """The first moment strictly after `after` that reads `weekday` and `time` on the
    business's clock."""
    zone = zone_of(settings.TIME_ZONE)
    local = after.astimezone(zone)
    day = local.date() + dt.timedelta(days=(weekday - local.weekday()) % 7)
    for week in range(3):
        moment = dt.datetime.combine(day + dt.timedelta(weeks=week), time, tzinfo=zone)
        # Wall time to UTC and back: a time that does not exist that day moves forward.
        moment = moment.astimezone(dt.UTC)
        if moment > after:
            return moment
    raise AssertionError("a week always has the weekday")


def next_run(post: ClubPost, *, after: dt.datetime) -> dt.datetime | None:
    """When `post` is next due after `after`; None when it is done or not runnable."""
    if not post.active:
        return None
    if post.schedule == PostSchedule.ONCE:
        return post.once_at if post.runs == 0 else None
    if post.weekday is None or post.time is None:
        return None
    return next_weekly(weekday=post.weekday, time=post.time, after=after)


def post_context(post: ClubPost) -> dict[str, Any]:
    """What a club post's template may use: plain data, no customer (the whole chat reads it).

    `early_access` lists the early-access windows not yet open to everyone, soonest first
    (name, goods, the tier, when for the tier and when for everyone), for an announcement:
    «{% for w in early_access %}{{ w.name }} — с {{ w.starts_at|date }}{% endfor %}».
    """
    windows = EarlyAccess.objects.filter(public_at__gt=clock.now()).select_related("tier")
    return {
        "club": {"name": post.club.title},
        "channel": post_channel(post.club.kind),
        "early_access": [
            {
                "name": w.name,
                "goods": w.sku or w.collection,
                "tier": w.tier.name,
                "starts_at": w.starts_at,
                "public_at": w.public_at,
            }
            for w in windows.order_by("starts_at", "pk")[:EARLY_ACCESS_SHOWN]
        ],
    }


def club_post_render(post: ClubPost) -> tuple[str, str]:
    """(text, html) of the post for its club's channel; TemplateRenderError when the template
    has nothing to say there or fails."""
    channel = post_channel(post.club.kind)
    variant = variant_for(post.template, channel)
    if variant is None:
        raise TemplateRenderError(no_variant_text(post.template, channel), field="channel")
    rendered = variant_render(variant, post_context(post))
    return rendered.text, rendered.html


@transaction.atomic
def club_post_save(*, post: ClubPost | None, values: dict[str, Any], by: User) -> ClubPost:
    """Create or change a post (values as POST_FIELDS); its next run follows the schedule."""
    post = post or ClubPost(created_by=by)
    for name in POST_FIELDS:
        setattr(post, name, values[name])
    if post.schedule == PostSchedule.ONCE:
        post.weekday = post.time = None
    else:
        post.once_at = None
    now = clock.now()
    post.next_run_at = next_run(post, after=now)
    post.updated_at = now
    post.save()
    audit_record(
        actor=by,
        action="community.post_save",
        obj=post,
        changes={
            "club": post.club_id,
            "template": post.template_id,
            "schedule": post.schedule,
            "next_run_at": post.next_run_at.isoformat() if post.next_run_at else None,
        },
    )
    return post


def club_posts_send(*, batch_size: int = BATCH_SIZE) -> int:
    """Queue every due post; returns how many messages were queued."""
    queued = 0
    while True:
        with transaction.atomic():
            count, done = _batch(batch_size)
        queued += done
        if count < batch_size:
            return queued


def _batch(batch_size: int) -> tuple[int, int]:
    now = clock.now()
    due = ClubPost.objects.filter(
        active=True, next_run_at__isnull=False, next_run_at__lte=now
    ).order_by("next_run_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    posts = list(due.select_related("club", "template")[:batch_size])
    queued = 0
    for post in posts:
        run_at = post.next_run_at
        assert run_at is not None
        if post.club.active and post.club.chat_id:
            queued += _post_queue(post, run_at)
        post.runs += 1
        post.last_run_at = run_at
        post.next_run_at = next_run(post, after=max(run_at, now))
        post.save(update_fields=["runs", "last_run_at", "next_run_at"])
    return len(posts), queued


def _post_queue(post: ClubPost, run_at: dt.datetime) -> int:
    try:
        text, html = club_post_render(post)
    except TemplateRenderError:
        # A broken template must not stop the other posts; the run is skipped and logged,
        # and the post page shows the template's problem when opened.
        log.warning("community.post_render_failed", extra={"post": post.pk}, exc_info=True)
        return 0
    _message, created = message_enqueue(
        customer=None,
        dedupe_key=f"club_post:{post.pk}:{run_at:%Y%m%dT%H%M}",
        channel=post_channel(post.club.kind),
        purpose=Purpose.TRANSACTIONAL,
        template=None,
        subject=post.template.name[:300],
        text=text,
        html=html,
        to=post.club.chat_id,
    )
    return int(created)
