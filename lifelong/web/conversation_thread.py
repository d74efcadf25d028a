"""The customer card's conversations read as chat threads: what the customer said, our
replies and the internal comments of each conversation, oldest first.

A fixed number of queries however many conversations and entries: the conversations, then
the items, replies and comments of all of them at once (each capped per conversation by a
window function), then the theme names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from lifelong.accounts.permissions import VIEW
from lifelong.feedback.models import (
    Comment,
    Conversation,
    ConversationStatus,
    Item,
    Reply,
    Theme,
)

# Who reads the inbox's conversations: the inbox's pages and the customer card ask the same.
CONVERSATIONS_READ = VIEW
CARD_CONVERSATIONS = 10
# Entries of one conversation shown on the card; the conversation page has them all.
THREAD_LAST = 50


@dataclass
class Entry:
    kind: str  # "item", "reply" or "comment": which partial draws it
    at: Any
    pk: int
    row: Any


@dataclass
class Thread:
    conversation: Conversation
    entries: list[Entry] = field(default_factory=list)
    # More entries than THREAD_LAST: the earliest are only on the conversation page.
    truncated: bool = False


def _last_per_conversation(rows: QuerySet[Any], ids: list[int], at: str) -> list[Any]:
    """The newest THREAD_LAST + 1 rows of each conversation (one more than shown, to know
    whether any were left out), in one query."""
    ranked = rows.filter(conversation_id__in=ids).annotate(
        newest_rank=Window(
            RowNumber(),
            partition_by=[F("conversation_id")],
            order_by=[F(at).desc(), F("pk").desc()],
        )
    )
    return list(ranked.filter(newest_rank__lte=THREAD_LAST + 1))


def customer_threads(customer_id: int, language: str) -> list[Thread]:
    """The customer's latest conversations, open ones first, each with its last entries."""
    open_first = Q(status=ConversationStatus.CLOSED)
    conversations = list(
        Conversation.objects.filter(customer_id=customer_id)
        .select_related("assignee")
        .alias(closed=open_first)
        .order_by("closed", "-last_activity_at", "-pk")[:CARD_CONVERSATIONS]
    )
    if not conversations:
        return []
    ids = [c.pk for c in conversations]
    names = {t.slug: t.name(language) for t in Theme.objects.all()}
    entries: dict[int, list[Entry]] = {pk: [] for pk in ids}
    for item in _last_per_conversation(Item.objects.select_related("message"), ids, "received_at"):
        item.theme_names = [names.get(slug, slug) for slug in item.themes]
        entries[item.conversation_id].append(Entry("item", item.received_at, item.pk, item))
    for reply in _last_per_conversation(Reply.objects.select_related("message"), ids, "created_at"):
        entries[reply.conversation_id].append(Entry("reply", reply.created_at, reply.pk, reply))
    for comment in _last_per_conversation(
        Comment.objects.select_related("author"), ids, "created_at"
    ):
        entries[comment.conversation_id].append(
            Entry("comment", comment.created_at, comment.pk, comment)
        )
    threads = []
    for conversation in conversations:
        # Customer first on a tie: a reply recorded in the same second answers the item.
        rank = {"item": 0, "reply": 1, "comment": 2}
        rows = sorted(entries[conversation.pk], key=lambda e: (e.at, rank[e.kind], e.pk))
        threads.append(
            Thread(
                conversation=conversation,
                entries=rows[-THREAD_LAST:],
                truncated=len(rows) > THREAD_LAST,
            )
        )
    return threads
