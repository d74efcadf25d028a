"""Staff correct the tagger: the themes they set on an inbox item or a survey response stay.

A corrected row keeps its themes through every later automatic re-tag (a response edited
within its window is tagged again in surveys._tag: its sentiment follows the new text, its
themes do not). What the tagger said is kept beside them (`tagger_themes`), so the themes
page can list recent corrections for staff to turn into rule words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.feedback.models import Conversation, Item, Response, Theme
from lifelong.lib.errors import DomainError

RECENT = 20


class CorrectionError(DomainError):
    pass


def _clean(themes: Sequence[str]) -> list[str]:
    chosen = sorted(set(themes))
    known = set(Theme.objects.filter(slug__in=chosen).values_list("slug", flat=True))
    unknown = [slug for slug in chosen if slug not in known]
    if unknown:
        raise CorrectionError(f"unknown themes: {', '.join(unknown)}")
    return chosen


def _correct(row: Item | Response, themes: list[str], actor: User | None) -> list[str]:
    """Set the row's themes by hand; returns the themes it had. The tagger's own themes are
    taken once, at the first correction: a second correction does not overwrite them with
    the first one's."""
    before = list(row.themes)
    if row.themes_corrected_at is None:
        row.tagger_themes = before
    row.themes = themes
    row.themes_corrected_at = clock.now()
    row.themes_corrected_by = actor
    row.save(
        update_fields=["themes", "tagger_themes", "themes_corrected_at", "themes_corrected_by"]
    )
    return before


@transaction.atomic
def response_themes_correct(*, response: Response, themes: Sequence[str], actor: User) -> Response:
    """Staff's themes for a survey response, kept through later edits of the response."""
    row = Response.objects.select_for_update().get(pk=response.pk)
    chosen = _clean(themes)
    before = _correct(row, chosen, actor)
    audit_record(
        actor=actor,
        action="feedback.response.themes_correct",
        obj=row,
        changes={"themes": {"from": before, "to": chosen}},
    )
    return row


@transaction.atomic
def item_themes_correct(*, item: Item, themes: Sequence[str], actor: User) -> Item:
    """Staff's themes for an inbox item. A survey answer's item corrects its response too
    (insights count the responses' themes); the conversation's themes, which the inbox
    filters on, are those of its items again."""
    row = Item.objects.select_for_update().get(pk=item.pk)
    chosen = _clean(themes)
    before = _correct(row, chosen, actor)
    if row.response_id is not None:
        response = Response.objects.select_for_update().get(pk=row.response_id)
        _correct(response, chosen, actor)
    conversation = Conversation.objects.select_for_update().get(pk=row.conversation_id)
    conversation.themes = sorted(
        {slug for slugs in conversation.items.values_list("themes", flat=True) for slug in slugs}
    )
    conversation.save(update_fields=["themes"])
    audit_record(
        actor=actor,
        action="feedback.item.themes_correct",
        obj=row,
        changes={"themes": {"from": before, "to": chosen}},
    )
    return row


@dataclass(frozen=True)
class Correction:
    item_id: int
    conversation_id: int
    text: str
    tagger: list[str]
    staff: list[str]


def corrections_recent(*, limit: int = RECENT) -> list[Correction]:
    """The latest corrections (one query, on the partial index), newest first."""
    rows = (
        Item.objects.filter(themes_corrected_at__isnull=False)
        .order_by("-themes_corrected_at", "-pk")
        .values_list("pk", "conversation_id", "text", "tagger_themes", "themes")[:limit]
    )
    return [
        Correction(item_id=pk, conversation_id=conv, text=text, tagger=tagger, staff=staff)
        for pk, conv, text, tagger, staff in rows
    ]
