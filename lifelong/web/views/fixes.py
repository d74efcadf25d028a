"""Fixes ("you told us, we fixed it"): mark a theme fixed, preview who would hear of it,
confirm, and read each fix's results (owner and marketer). The message starts from the
theme's template (`?theme=` on the page, or «Use the theme's template» without a script);
ticked, «keep as the theme's template» saves it on the theme, audited."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.feedback.fix_messages import template_stored
from lifelong.feedback.fix_results import fix_results
from lifelong.feedback.fixes import fix_announce, fix_preview
from lifelong.feedback.models import Fix, Theme
from lifelong.feedback.services import theme_save
from lifelong.web.access import require, staff_user
from lifelong.web.forms_fixes import FixForm, FixMessageForm, template_initial


def theme_template_keep(*, theme: Theme, data: dict[str, Any], actor: User | None) -> None:
    """The fix's message saved as the theme's template (defaults stored as empty)."""
    subject_ru, text_ru = template_stored("ru", data["subject"], data["text"])
    subject_en, text_en = template_stored("en", data["subject_en"], data["text_en"])
    theme_save(
        theme=theme,
        values={
            "fix_subject_ru": subject_ru,
            "fix_text_ru": text_ru,
            "fix_subject_en": subject_en,
            "fix_text_en": text_en,
        },
        rules={},
        actor=actor,
    )


def reloaded(form_class: type[FixMessageForm], request: HttpRequest, **kwargs: Any) -> Any:
    """The form as posted, with its message taken from the chosen theme's template:
    «Use the theme's template», which needs no script."""
    initial: dict[str, Any] = {name: request.POST.get(name, "") for name in request.POST}
    initial["items"] = request.POST.getlist("items")
    theme_id = request.POST.get("theme", "")
    theme = Theme.objects.filter(pk=theme_id).first() if theme_id.isdigit() else None
    initial |= template_initial(theme)
    return form_class(initial=initial, **kwargs)


def announced(request: HttpRequest, data: dict[str, Any], **audience: Any) -> HttpResponse:
    """The confirmed fix form announced (its message kept as the theme's template if ticked),
    then its page. `audience` says who hears of it: a date range, or the picked items."""
    actor = staff_user(request)
    if data["keep_template"]:
        theme_template_keep(theme=data["theme"], data=data, actor=actor)
    fix = fix_announce(
        theme=data["theme"],
        note=data["note"],
        subject=data["subject"],
        text=data["text"],
        subject_en=data["subject_en"],
        text_en=data["text_en"],
        holdout_percent=data["holdout_percent"],
        actor=actor,
        **audience,
    )
    messages.success(request, _("The fix is announced; the messages are queued."))
    return redirect("web:feedback_fix", pk=fix.pk)


@require(MANAGE_MARKETING)
def fixes(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {}
    if request.method != "POST":
        theme_id = request.GET.get("theme", "")
        theme = Theme.objects.filter(pk=theme_id).first() if theme_id.isdigit() else None
        initial = template_initial(theme) | ({"theme": theme.pk} if theme else {})
        context["form"] = FixForm(initial=initial)
        return render(request, "web/feedback/fixes.html", _list(context))
    if "load_template" in request.POST:
        context["form"] = reloaded(FixForm, request)
        return render(request, "web/feedback/fixes.html", _list(context))
    form = context["form"] = FixForm(request.POST)
    if not form.is_valid():
        return render(request, "web/feedback/fixes.html", _list(context), status=400)
    data = form.cleaned_data
    if "confirm" in request.POST:
        return announced(request, data, since=data["since"], until=data["until"])
    context["preview"] = fix_preview(theme=data["theme"], since=data["since"], until=data["until"])
    context["holdout_percent"] = data["holdout_percent"]
    return render(request, "web/feedback/fixes.html", _list(context))


def _list(context: dict[str, Any]) -> dict[str, Any]:
    """The fixes, newest first, with their counts: one query."""
    context["fixes"] = (
        Fix.objects.select_related("theme", "staff")
        .annotate(
            # distinct: the join with the picked items repeats each recipient.
            affected=Count("recipients", distinct=True),
            held=Count("recipients", filter=Q(recipients__holdout=True), distinct=True),
            queued=Count("recipients", filter=Q(recipients__message__isnull=False), distinct=True),
            picked=Count("items", distinct=True),
        )
        .order_by("-created_at", "-pk")[:100]
    )
    return context


@require(MANAGE_MARKETING)
def fix_detail(request: HttpRequest, pk: int) -> HttpResponse:
    fix = get_object_or_404(Fix.objects.select_related("theme", "staff"), pk=pk)
    items = fix.items.select_related("conversation__customer").order_by("-received_at", "-pk")
    return render(
        request,
        "web/feedback/fix.html",
        {"fix": fix, "results": fix_results(fix=fix), "items": items[:200]},
    )
