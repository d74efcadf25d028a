"""The themes page: themes and their rules (owner and marketer), and a box to try a text."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.feedback.corrections import corrections_recent
from lifelong.feedback.models import Theme
from lifelong.feedback.selectors import rule_index_current, staff_names
from lifelong.feedback.services import TEMPLATE_FIELDS, THEME_FIELDS, theme_save
from lifelong.feedback.suggestions import themes_suggest
from lifelong.feedback.themes import tag
from lifelong.web.access import require, staff_user
from lifelong.web.forms_feedback import ThemeForm, TryForm


def _tried(form: TryForm) -> dict[str, object] | None:
    """The tags of the text in the box, with the themes' names in the page's language."""
    if not form.is_bound or not form.is_valid():
        return None
    data = form.cleaned_data
    index = rule_index_current()
    tagging = tag(
        data["text"],
        index,
        score=data["score"],
        scale=data["scale"],
        staff=staff_names(),
    )
    name_field = "name_en" if (get_language() or "").startswith("en") else "name_ru"
    names = dict(Theme.objects.values_list("slug", name_field))
    users = User.objects.in_bulk(list(tagging.staff))
    lines = [line.strip() for line in data["text"].splitlines() if line.strip()]
    return {
        "themes": [(names.get(slug, slug), phrases) for slug, phrases in tagging.evidence.items()],
        "sentiment": tagging.sentiment,
        "polarity": tagging.polarity,
        "staff": [users[i].get_full_name() for i in tagging.staff if i in users],
        # Several comments, one per line: what the untagged ones share may be a new theme.
        "suggestions": themes_suggest(lines, index, min_count=2) if len(lines) > 2 else [],
    }


def _corrections() -> list[dict[str, object]]:
    """Recent corrections by staff: the tagger's themes against theirs, for new rule words."""
    name_field = "name_en" if (get_language() or "").startswith("en") else "name_ru"
    names = dict(Theme.objects.values_list("slug", name_field))
    return [
        {
            "item": c,
            "tagger": [names.get(slug, slug) for slug in c.tagger],
            "staff": [names.get(slug, slug) for slug in c.staff],
        }
        for c in corrections_recent()
    ]


def _page(request: HttpRequest, *, form: ThemeForm, status: int = 200) -> HttpResponse:
    try_form = TryForm(request.GET if "text" in request.GET else None)
    context = {
        "themes": Theme.objects.annotate(rule_count=Count("rules")).order_by("-active", "name_ru"),
        "corrections": _corrections(),
        "form": form,
        "try_form": try_form,
        "tried": _tried(try_form),
    }
    return render(request, "web/feedback/themes.html", context, status=status)


@require(MANAGE_MARKETING)
def themes(request: HttpRequest) -> HttpResponse:
    return _page(request, form=ThemeForm())


def _save(request: HttpRequest, form: ThemeForm, theme: Theme | None) -> Theme:
    return theme_save(
        theme=theme,
        values={
            name: form.cleaned_data[name]
            for name in (*THEME_FIELDS, *TEMPLATE_FIELDS)
            if name in form.fields
        },
        rules={"ru": form.cleaned_data["rules_ru"], "en": form.cleaned_data["rules_en"]},
        actor=staff_user(request),
    )


@require(MANAGE_MARKETING)
def theme_new(request: HttpRequest) -> HttpResponse:
    form = ThemeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        theme = _save(request, form, None)
        messages.success(request, _("Theme «%(name)s» added.") % {"name": theme.name_ru})
        return redirect("web:feedback_themes")
    return _page(request, form=form, status=400 if request.method == "POST" else 200)


@require(MANAGE_MARKETING)
def theme_edit(request: HttpRequest, pk: int) -> HttpResponse:
    theme = get_object_or_404(Theme, pk=pk)
    form = ThemeForm(request.POST or None, instance=theme)
    if request.method == "POST" and form.is_valid():
        _save(request, form, theme)
        messages.success(request, _("Theme «%(name)s» saved.") % {"name": theme.name_ru})
        return redirect("web:feedback_themes")
    status = 400 if request.method == "POST" else 200
    return render(request, "web/feedback/theme.html", {"theme": theme, "form": form}, status=status)
