"""Reads the tagger needs: the active themes' rules and the staff names customers may write."""

from __future__ import annotations

from collections.abc import Sequence

from lifelong.accounts.models import User
from lifelong.feedback.models import Theme, ThemeRule
from lifelong.feedback.themes import RuleIndex, StaffName, ThemeSpec, compile_rules


def theme_specs() -> list[ThemeSpec]:
    """The active themes with their rules, in two queries."""
    rules: dict[int, list[tuple[str, str]]] = {}
    for theme_id, language, phrase in ThemeRule.objects.filter(theme__active=True).values_list(
        "theme_id", "language", "phrase"
    ):
        rules.setdefault(theme_id, []).append((language, phrase))
    return [
        ThemeSpec(slug=slug, rules=tuple(rules.get(pk, ())))
        for pk, slug in Theme.objects.filter(active=True).order_by("slug").values_list("pk", "slug")
    ]


# The last compiled rules, by their content: compiling takes a fraction of a second (every
# form of every rule word, for typos), reading the rules takes one small query.
_compiled: dict[tuple[ThemeSpec, ...], RuleIndex] = {}


def rule_index_current() -> RuleIndex:
    """The active themes' rules, compiled again only when they changed."""
    specs = tuple(theme_specs())
    index = _compiled.get(specs)
    if index is None:
        index = compile_rules(specs)
        _compiled.clear()
        _compiled[specs] = index
    return index


def staff_names() -> list[StaffName]:
    """Active staff users with a first name or surname set."""
    rows = User.objects.filter(is_active=True).values_list("pk", "first_name", "last_name")
    return [
        StaffName(id=pk, first_name=first, last_name=last)
        for pk, first, last in rows
        if first or last
    ]


def staff_names_parse(names: Sequence[str]) -> list[StaffName]:
    """Names given on the command line ("Ольга Петрова"), numbered from -1 down: not users."""
    out = []
    for n, name in enumerate(names, start=1):
        first, _, last = name.strip().partition(" ")
        if first:
            out.append(StaffName(id=-n, first_name=first, last_name=last.strip()))
    return out
