"""Items picked in the inbox, marked fixed (owner and marketer): a page of inbox items with
checkboxes (filters by words, theme and date), then the fix form for exactly those items'
customers, its preview and the confirmation. Plain forms: no script is needed."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.feedback.fixes import fix_preview
from lifelong.feedback.models import Item, Theme
from lifelong.web.access import require
from lifelong.web.forms_fixes import ItemFilterForm, ItemsFixForm, common_theme, template_initial
from lifelong.web.views.fixes import announced, reloaded

# The page lists this many items at most, newest first; filters narrow it.
PICK_LIMIT = 200


def _theme_names() -> dict[str, str]:
    return dict(Theme.objects.order_by("name_ru").values_list("slug", "name_ru"))


def _described(items: QuerySet[Item] | list[Item], names: dict[str, str]) -> list[Item]:
    rows = list(items)
    for item in rows:
        item.theme_names = [names.get(slug, slug) for slug in item.themes]  # type: ignore[attr-defined]
    return rows


@require(MANAGE_MARKETING)
@require_http_methods(["GET", "HEAD"])
def fix_items_pick(request: HttpRequest) -> HttpResponse:
    """Items from known customers, newest first, each with a checkbox: the form posts the
    ticked ones to the fix form."""
    names = _theme_names()
    form = ItemFilterForm(request.GET or None, themes=list(names.items()))
    items = Item.objects.filter(conversation__customer__isnull=False)
    if form.is_valid():
        data = form.cleaned_data
        if data["q"]:
            items = items.filter(text__icontains=data["q"])
        if data["theme"]:
            items = items.filter(themes__icontains=f'"{data["theme"]}"')
        if data["since"]:
            items = items.filter(received_at__date__gte=data["since"])
    items = items.select_related("conversation__customer").order_by("-received_at", "-pk")
    context = {"form": form, "items": _described(items[:PICK_LIMIT], names), "limit": PICK_LIMIT}
    return render(request, "web/feedback/fix_items_pick.html", context)


def _page(
    request: HttpRequest, form: ItemsFixForm, *, status: int = 200, **context: Any
) -> HttpResponse:
    """The fix form with the picked items listed under it."""
    ids = [int(i) for i in request.POST.getlist("items") if i.isdigit()]
    picked = Item.objects.filter(pk__in=ids).select_related("conversation__customer")
    context["form"] = form
    context["picked"] = _described(picked.order_by("-received_at", "-pk"), _theme_names())
    return render(request, "web/feedback/fix_items.html", context, status=status)


@require(MANAGE_MARKETING)
@require_POST
def fix_items(request: HttpRequest) -> HttpResponse:
    """The fix form for the items ticked on the pick page: first filled from the theme most of
    them carry, then previewed, then announced."""
    ids = [int(i) for i in request.POST.getlist("items") if i.isdigit()]
    if not Item.objects.filter(pk__in=ids, conversation__customer__isnull=False).exists():
        messages.error(request, _("Tick at least one item from a customer we know."))
        return redirect("web:inbox_fix_items")
    if "step" not in request.POST:
        items = list(Item.objects.filter(pk__in=ids))
        theme = common_theme(items)
        initial = template_initial(theme) | {"items": ids, "theme": theme.pk if theme else None}
        return _page(request, ItemsFixForm(initial=initial))
    if "load_template" in request.POST:
        return _page(request, reloaded(ItemsFixForm, request))
    form = ItemsFixForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    items = list(data["items"])
    if "confirm" in request.POST:
        return announced(request, data, items=items)
    preview = fix_preview(items=items)
    return _page(request, form, preview=preview, holdout_percent=data["holdout_percent"])
