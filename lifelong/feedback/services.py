"""Staff edits of themes and their rules: validated, audited."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.feedback.models import Language, Theme, ThemeRule
from lifelong.feedback.themes import phrase_words

THEME_FIELDS = ("slug", "name_ru", "name_en", "active")
# The theme's "we fixed it" message (fix_messages.py), saved and audited like the rest.
TEMPLATE_FIELDS = ("fix_subject_ru", "fix_text_ru", "fix_subject_en", "fix_text_en")
MAX_PHRASE_WORDS = 6
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def rule_phrases_clean(text: str, *, language: str) -> list[str]:
    """One rule per line, as staff wrote it: lower case, single spaces, no repeats.

    ValidationError names the lines that are not a word or a short phrase in the language.
    """
    phrases: list[str] = []
    problems: list[str] = []
    for line in text.splitlines():
        phrase = " ".join(line.lower().replace("ё", "е").split()).strip(" .,;:!?\"'«»")
        if not phrase:
            continue
        words = phrase_words(phrase)
        if not words or len(words) > MAX_PHRASE_WORDS or len(phrase) > 120:
            problems.append(
                _("«%(line)s»: a word or a phrase of up to %(n)s words, please.")
                % {"line": line.strip(), "n": MAX_PHRASE_WORDS}
            )
        elif language == Language.EN and _CYRILLIC.search(phrase):
            problems.append(_("«%(line)s» is not English.") % {"line": line.strip()})
        elif phrase not in phrases:
            phrases.append(phrase)
    if problems:
        raise ValidationError(problems)
    return phrases


def _rules_of(theme: Theme | None) -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {code: [] for code in Language.values}
    if theme is not None:
        for language, phrase in theme.rules.values_list("language", "phrase"):
            rules[language].append(phrase)
    return rules


@transaction.atomic
def theme_save(
    *,
    theme: Theme | None,
    values: dict[str, Any],
    rules: dict[str, Iterable[str]],
    actor: User | None,
) -> Theme:
    """Create a theme (`theme` None) or change one and replace its rules, audited.

    `values` are THEME_FIELDS and TEMPLATE_FIELDS (any of them). `rules` maps a language to
    its cleaned phrases (rule_phrases_clean); a language left out keeps its rules. Themes
    are switched off, never deleted.
    """
    fields = (*THEME_FIELDS, *TEMPLATE_FIELDS)
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown theme fields: {sorted(unknown)}")
    row = Theme() if theme is None else Theme.objects.select_for_update().get(pk=theme.pk)
    before = {} if theme is None else model_to_dict(row, fields=fields)
    before_rules = _rules_of(None if theme is None else row)
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    # A new theme's empty template is not news.
    after = {k: v for k, v in model_to_dict(row, fields=fields).items() if v != "" or before}
    changes: dict[str, Any] = {
        name: {"from": str(before[name]), "to": str(after[name])}
        if name in before
        else str(after[name])
        for name in after
        if name not in before or before[name] != after[name]
    }
    for language, phrases in rules.items():
        if language not in Language.values:
            raise ValueError(f"unknown language: {language}")
        wanted = list(dict.fromkeys(phrases))
        added = [p for p in wanted if p not in before_rules[language]]
        removed = [p for p in before_rules[language] if p not in wanted]
        if added:
            changes[f"rules_{language}_added"] = added
        if removed:
            changes[f"rules_{language}_removed"] = removed
    if not changes:
        return row
    row.updated_at = clock.now()
    row.save()
    for language, phrases in rules.items():
        wanted = list(dict.fromkeys(phrases))
        ThemeRule.objects.filter(theme=row, language=language).exclude(phrase__in=wanted).delete()
        ThemeRule.objects.bulk_create(
            [
                ThemeRule(theme=row, language=language, phrase=p)
                for p in wanted
                if p not in before_rules[language]
            ]
        )
    action = "feedback.theme.create" if theme is None else "feedback.theme.update"
    audit_record(actor=actor, action=action, obj=row, changes=changes)
    return row
