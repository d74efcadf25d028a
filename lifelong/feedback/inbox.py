"""The conversations inbox: recording what customers tell us, and staff answering it.

- `item_record` turns one inbound thing into an Item of the customer's open conversation
  (opening one when none is open), idempotent by its source key, and sets the SLA due time
  by the rules in InboxSettings.
- `inbound_receive` is what the messenger webhooks call for a customer's reply;
  `item_from_response` records a survey response worth answering; `review_record` an
  outside review.
- `conversation_assign`, `conversation_status_set`, `comment_add`, `reply_send` are the
  staff actions; a reply goes through the outbox as a transactional message.
- `escalate_overdue` is the sweep that turns an overdue conversation into a task, once per
  due time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Customer, Purpose
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.feedback.models import (
    OUR_MOVE,
    REVIEW_SOURCES,
    Comment,
    Conversation,
    ConversationStatus,
    InboxSettings,
    Item,
    ItemSource,
    Reply,
    Response,
    SurveyKind,
)
from lifelong.feedback.selectors import rule_index_current, staff_names
from lifelong.feedback.themes import Tagging, tag
from lifelong.followups.models import TaskKind, TaskSource
from lifelong.followups.services import task_create
from lifelong.lib.errors import DomainError
from lifelong.messaging.models import Message
from lifelong.messaging.services import channel_choose, inbound_event_record, message_enqueue

log = logging.getLogger(__name__)

MAX_TEXT = 4000
MAX_KEY = 120
BATCH_SIZE = 500


class InboxError(DomainError):
    """A staff action that does not fit the conversation's state."""


def _is_urgent(
    rules: InboxSettings,
    *,
    score: int | None,
    scale: str,
    rating: int | None,
    sentiment: str,
) -> bool:
    if score is not None and scale == "nps" and score <= rules.detractor_max:
        return True
    if score is not None and scale == "csat" and score <= rules.low_rating_max:
        return True
    if rating is not None and rating <= rules.low_rating_max:
        return True
    return rules.negative_urgent and sentiment == "negative"


def _conversation_for(customer: Customer | None, now: dt.datetime) -> Conversation:
    """The customer's open conversation, locked, or a new one. The customer row is locked
    first so two items at once open one conversation between them."""
    if customer is not None:
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").first()
        open_one = (
            Conversation.objects.select_for_update()
            .filter(customer=customer)
            .exclude(status=ConversationStatus.CLOSED)
            .first()
        )
        if open_one is not None:
            return open_one
    return Conversation.objects.create(customer=customer, opened_at=now, last_activity_at=now)


def _tagging(text: str, *, score: int | None, scale: str, rating: int | None) -> Tagging:
    """An item's themes, sentiment and named staff: from its score, else its rating."""
    tag_score, tag_scale = (score, scale) if score is not None else (rating, "csat")
    return tag(
        text,
        rule_index_current(),
        score=tag_score,
        scale=tag_scale if tag_scale in ("nps", "csat") else "nps",
        staff=staff_names(),
    )


def item_record(
    *,
    source: str,
    source_key: str,
    customer: Customer | None,
    text: str = "",
    channel: str = "",
    score: int | None = None,
    scale: str = "nps",
    rating: int | None = None,
    author: str = "",
    url: str = "",
    external_id: str = "",
    message_id: int | None = None,
    response: Response | None = None,
    received_at: dt.datetime | None = None,
) -> tuple[Item, bool]:
    """Record one inbound thing in the customer's open conversation. Returns (item, created);
    the same `source_key` again returns the first item and changes nothing.

    Urgent items (a detractor, a low rating, negative text: InboxSettings) must be answered
    within `urgent_hours`, others within `normal_hours`; a conversation already waiting on
    us keeps its earlier due time unless the new item is due sooner.
    """
    if source not in ItemSource.values:
        raise InboxError(f"unknown source {source!r}", field="source")
    if not source_key or len(source_key) > 200:
        raise InboxError("a source key of 1 to 200 characters", field="source_key")
    existing = Item.objects.filter(source_key=source_key).first()
    if existing is not None:
        return existing, False
    text = text.strip()[:MAX_TEXT]
    tagging = _tagging(text, score=score, scale=scale, rating=rating)
    rules = InboxSettings.current()
    urgent = _is_urgent(rules, score=score, scale=scale, rating=rating, sentiment=tagging.sentiment)
    now = clock.now()
    try:
        with transaction.atomic():
            conversation = _conversation_for(customer, now)
            item = Item.objects.create(
                conversation=conversation,
                source=source,
                source_key=source_key,
                channel=channel,
                text=text,
                score=score,
                rating=rating,
                author=author[:200],
                url=url,
                external_id=external_id[:300],
                message_id=message_id,
                response=response,
                themes=list(tagging.themes),
                sentiment=tagging.sentiment,
                urgent=urgent,
                received_at=received_at or now,
            )
            item.mentioned_staff.set(tagging.staff)
            _conversation_touch(conversation, item, rules, now)
            if source in REVIEW_SOURCES:
                event_record(
                    customer=customer,
                    type="review_received",
                    properties={
                        "conversation_id": conversation.pk,
                        "item_id": item.pk,
                        "source": source,
                        "rating": rating,
                        "sentiment": tagging.sentiment,
                        "themes": list(tagging.themes),
                    },
                    source="feedback",
                    idempotency_key=f"review_received:{source_key}",
                )
    except IntegrityError:
        # A concurrent delivery of the same thing won.
        return Item.objects.get(source_key=source_key), False
    log.info("inbox_item_recorded", extra={"source": source, "urgent": urgent})
    return item, True


def _conversation_touch(
    conversation: Conversation, item: Item, rules: InboxSettings, now: dt.datetime
) -> None:
    hours = rules.urgent_hours if item.urgent else rules.normal_hours
    due = item.received_at + dt.timedelta(hours=hours)
    if conversation.status == ConversationStatus.WAITING:
        # The customer answered: the next move is ours again.
        conversation.status = (
            ConversationStatus.IN_PROGRESS if conversation.assignee_id else ConversationStatus.NEW
        )
    if conversation.due_at is None or due < conversation.due_at:
        conversation.due_at = due
        conversation.escalated_at = None
    conversation.urgent = conversation.urgent or item.urgent
    conversation.last_activity_at = now
    conversation.sources = sorted({*conversation.sources, item.source})
    conversation.themes = sorted({*conversation.themes, *item.themes})
    if item.text:
        conversation.preview = " ".join(item.text.split())[:200]
    conversation.save()


def inbound_receive(*, channel: str, address: str, text: str, provider_id: str = "") -> bool:
    """A customer's reply on a messenger or SMS: on their timeline (messaging) and in the
    inbox, linked to the message it answers. False when no customer has that address."""
    event = inbound_event_record(
        channel=channel, address=address, text=text, provider_id=provider_id
    )
    if event is None:
        return False
    item_from_inbound(event)
    return True


def item_from_inbound(event: Event) -> Item:
    """The inbox item of one `message_replied` event (idempotent by the event)."""
    properties = event.properties
    customer = Customer.objects.get(pk=int(event.customer_id or 0))
    item, _created = item_record(
        source=ItemSource.MESSAGE,
        source_key=f"inbound:{event.pk}",
        customer=customer,
        text=str(properties.get("text") or ""),
        channel=str(properties.get("channel") or ""),
        external_id=str(properties.get("external_id") or ""),
        message_id=properties.get("message_id"),
        received_at=event.occurred_at,
    )
    return item


def response_worth_answering(response: Response) -> bool:
    """A comment, or a score a person should follow up: a detractor, a CSAT of 3 or less."""
    if response.comment.strip():
        return True
    if response.score is None:
        return False
    rules = InboxSettings.current()
    kind = response.survey.kind
    if kind == SurveyKind.NPS:
        return response.score <= rules.detractor_max
    return kind == SurveyKind.CSAT and response.score <= rules.low_rating_max


def item_from_response(response: Response) -> Item | None:
    """Record a survey response with a comment or a low score (None for the others).
    Safe to call again on the same response: its key names it."""
    if not response_worth_answering(response):
        return None
    kind = response.survey.kind
    scale = "csat" if kind == SurveyKind.CSAT else "nps"
    source_key = f"survey_response:{response.pk}"
    existing = Item.objects.filter(source_key=source_key).first()
    if existing is not None:
        return _item_retag(existing, text=response.comment, score=response.score, scale=scale)
    item, _created = item_record(
        source=ItemSource.SURVEY,
        source_key=source_key,
        customer=response.customer,
        text=response.comment,
        channel=response.invite.channel,
        score=response.score,
        scale=scale,
        response=response,
        received_at=response.submitted_at,
    )
    return item


def _item_retag(item: Item, *, text: str, score: int | None, scale: str) -> Item:
    """A survey answer edited within its window: the item reads the new text and score and
    is tagged again (themes, sentiment, named staff); themes staff corrected stay, as on the
    response. Its urgency and the conversation's due time stay as first set."""
    text = text.strip()[:MAX_TEXT]
    if item.text == text and item.score == score:
        return item
    tagging = _tagging(text, score=score, scale=scale, rating=None)
    item.text, item.score, item.sentiment = text, score, tagging.sentiment
    if item.themes_corrected_at is None:
        item.themes = list(tagging.themes)
    else:
        item.tagger_themes = list(tagging.themes)
    with transaction.atomic():
        item.save(update_fields=["text", "score", "sentiment", "themes", "tagger_themes"])
        item.mentioned_staff.set(tagging.staff)
        conversation = Conversation.objects.select_for_update().get(pk=item.conversation_id)
        themes = conversation.items.values_list("themes", flat=True)
        conversation.themes = sorted({slug for slugs in themes for slug in slugs})
        conversation.save(update_fields=["themes"])
    return item


def review_record(
    *,
    source: str,
    external_id: str,
    customer: Customer | None,
    text: str,
    rating: int | None,
    author: str = "",
    url: str = "",
    published_at: dt.datetime | None = None,
) -> tuple[Item, bool]:
    """An outside review (Yandex Maps, 2GIS, a marketplace). `external_id` is the review's
    id on that site: the same review sent again is recorded once."""
    if source not in REVIEW_SOURCES:
        raise InboxError(f"not a review source: {source!r}", field="source")
    if not external_id or len(external_id) > MAX_KEY:
        raise InboxError("a review id of 1 to 120 characters", field="external_id")
    if rating is not None and not 1 <= rating <= 5:
        raise InboxError("a rating from 1 to 5", field="rating")
    if url and not url.startswith(("https://", "http://")):
        raise InboxError("a link starting with https:// or http://", field="url")
    return item_record(
        source=source,
        source_key=f"review:{source}:{external_id}",
        customer=customer,
        text=text,
        rating=rating,
        author=author,
        url=url,
        received_at=published_at,
    )


@transaction.atomic
def conversation_assign(
    *, conversation: Conversation, assignee: User | None, actor: User | None
) -> Conversation:
    """Give the conversation to a staff member (None: to nobody); a new one is then in
    progress."""
    row = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if row.assignee_id == (assignee.pk if assignee else None):
        return row
    before = row.assignee_id
    row.assignee = assignee
    if assignee is not None and row.status == ConversationStatus.NEW:
        row.status = ConversationStatus.IN_PROGRESS
    row.last_activity_at = clock.now()
    row.save(update_fields=["assignee", "status", "last_activity_at"])
    audit_record(
        actor=actor,
        action="feedback.conversation.assign",
        obj=row,
        changes={"assignee": {"from": before, "to": row.assignee_id}},
    )
    return row


@transaction.atomic
def conversation_status_set(
    *, conversation: Conversation, status: str, actor: User | None
) -> Conversation:
    """Move the conversation; closing it emits `feedback_closed`, reopening is refused when
    the customer has opened another since."""
    if status not in ConversationStatus.values:
        raise InboxError(f"unknown status {status!r}", field="status")
    row = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if row.status == status:
        return row
    now = clock.now()
    before = row.status
    if before == ConversationStatus.CLOSED and (
        row.customer_id is not None
        and Conversation.objects.filter(customer_id=row.customer_id)
        .exclude(status=ConversationStatus.CLOSED)
        .exists()
    ):
        raise InboxError(_("This customer has another open conversation."), field="status")
    row.status = status
    row.last_activity_at = now
    if status == ConversationStatus.CLOSED:
        row.closed_at, row.due_at = now, None
    elif before == ConversationStatus.CLOSED:
        row.closed_at = None
    if status == ConversationStatus.WAITING:
        row.due_at = None
    row.save()
    audit_record(
        actor=actor,
        action="feedback.conversation.status",
        obj=row,
        changes={"status": {"from": before, "to": status}},
    )
    if status == ConversationStatus.CLOSED:
        event_record(
            customer=row.customer,
            type="feedback_closed",
            properties={
                "conversation_id": row.pk,
                "sources": row.sources,
                "themes": row.themes,
                "replies": row.replies.count(),
            },
            source="feedback",
            idempotency_key=f"feedback_closed:{row.pk}:{now.isoformat()}",
        )
    return row


@transaction.atomic
def comment_add(*, conversation: Conversation, author: User, text: str) -> Comment:
    """An internal note; the customer never sees it."""
    text = text.strip()
    if not text:
        raise InboxError(_("Write the comment first."), field="text")
    comment = Comment.objects.create(conversation=conversation, author=author, text=text[:MAX_TEXT])
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=comment.created_at)
    return comment


def reply_channel(conversation: Conversation) -> tuple[str, Item | None]:
    """The channel the customer last used in this conversation, and that item; for an item
    without one (a review with a known customer), the customer's best transactional channel.
    ("", None) when there is no way to answer through us."""
    if conversation.customer_id is None:
        return "", None
    last = conversation.items.exclude(channel="").order_by("-received_at", "-pk").first()
    if last is not None:
        return last.channel, last
    customer = conversation.customer
    assert customer is not None
    return channel_choose(customer=customer, purpose=Purpose.TRANSACTIONAL) or "", None


def _thread_headers(item: Item | None) -> dict[str, str]:
    """In-Reply-To / References for an email reply: the customer's mail when we have its
    Message-ID, and our message it answered (its provider id is the Message-ID we sent)."""
    if item is None:
        return {}
    ours = ""
    if item.message_id:
        ours = (
            Message.objects.filter(pk=item.message_id, channel="email")
            .values_list("provider_id", flat=True)
            .first()
            or ""
        )
    chain = [
        m
        for m in (ours, item.external_id)
        if m.startswith("<") and m.isprintable() and " " not in m
    ]
    if not chain:
        return {}
    return {"In-Reply-To": chain[-1], "References": " ".join(chain)}


def reply_send(
    *,
    conversation: Conversation,
    author: User,
    text: str,
    signer: str,
    key: str,
) -> Reply:
    """Answer the customer on the channel they used, signed by `signer`, through the outbox
    as a transactional message. `key` comes from the reply form: the same form sent twice
    records one reply and queues one message."""
    if not key or len(key) > MAX_KEY:
        raise InboxError("a reply key of 1 to 120 characters", field="key")
    dedupe_key = f"feedback_reply:{conversation.pk}:{key}"
    existing = Reply.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    text, signer = text.strip(), " ".join(signer.split())
    if not text:
        raise InboxError(_("Write the reply first."), field="text")
    if not signer:
        raise InboxError(_("Choose who signs the reply."), field="signer")
    channel, item = reply_channel(conversation)
    if not channel:
        raise InboxError(
            _("There is no channel to reply on: answer where the review was left."),
            field="text",
        )
    payload: dict[str, Any] = {"from_name": signer.split(",")[0].strip()}
    subject = ""
    if channel == "email":
        headers = _thread_headers(item)
        if headers:
            payload["headers"] = headers
        answered = (
            Message.objects.filter(pk=item.message_id).values_list("subject", flat=True).first()
            if item is not None and item.message_id
            else None
        )
        subject = f"Re: {answered}" if answered else _("Thank you for your feedback")
    customer = conversation.customer
    assert customer is not None
    try:
        with transaction.atomic():
            row = Conversation.objects.select_for_update().get(pk=conversation.pk)
            if row.status == ConversationStatus.CLOSED:
                raise InboxError(_("The conversation is closed."), field="text")
            message, _created = message_enqueue(
                customer=customer,
                dedupe_key=dedupe_key,
                channel=channel,
                purpose=Purpose.TRANSACTIONAL,
                subject=subject,
                text=f"{text}\n\n— {signer}",
                payload=payload,
            )
            reply = Reply.objects.create(
                conversation=row,
                author=author,
                signer=signer,
                text=text[:MAX_TEXT],
                channel=channel,
                dedupe_key=dedupe_key,
                message=message,
            )
            now = clock.now()
            row.status, row.due_at = ConversationStatus.WAITING, None
            row.last_activity_at = now
            if row.assignee_id is None:
                row.assignee = author
            row.save(update_fields=["status", "due_at", "last_activity_at", "assignee"])
            event_record(
                customer=customer,
                type="feedback_replied",
                properties={"conversation_id": row.pk, "channel": channel, "signer": signer},
                source="staff",
                idempotency_key=dedupe_key,
            )
    except IntegrityError:
        return Reply.objects.get(dedupe_key=dedupe_key)
    return reply


def escalate_overdue(*, batch_size: int = BATCH_SIZE) -> int:
    """Turn every conversation past its due time, with the next move ours, into a "review
    feedback" task for its assignee (or the shared queue), once per due time. Returns how
    many were escalated."""
    done = 0
    while True:
        with transaction.atomic():
            count = _escalate_batch(batch_size)
        done += count
        if count < batch_size:
            return done


def _escalate_batch(batch_size: int) -> int:
    now = clock.now()
    due = Conversation.objects.filter(
        due_at__lte=now, escalated_at__isnull=True, status__in=OUR_MOVE
    ).order_by("due_at")
    if connection.features.has_select_for_update_skip_locked:
        # Workers on other machines take other batches.
        due = due.select_for_update(skip_locked=True, of=("self",))
    rows = list(due.select_related("customer", "assignee")[:batch_size])
    for row in rows:
        if row.customer is None:
            continue  # a review from someone we do not know: it stays red in the inbox
        assert row.due_at is not None
        task_create(
            customer=row.customer,
            title=_("Answer the customer's feedback (overdue): %(preview)s")
            % {"preview": row.preview[:120] or "…"},
            due_at=now,
            kind=TaskKind.REVIEW,
            assignee=row.assignee,
            source=TaskSource.FEEDBACK,
            source_ref=f"conversation:{row.pk}:{row.due_at.isoformat()}",
        )
    Conversation.objects.filter(pk__in=[r.pk for r in rows]).update(escalated_at=now)
    if rows:
        log.info("inbox_escalated", extra={"count": len(rows)})
    return len(rows)
