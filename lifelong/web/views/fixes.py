"""Fixes ("you told us, we fixed it"): mark a theme fixed, preview who would hear of it,
confirm, and read each fix's results (owner and marketer)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.feedback.fix_results import fix_results
from lifelong.feedback.fixes import fix_announce, fix_preview
from lifelong.feedback.models import Fix, Theme
from lifelong.web.access import require, staff_user


def default_subject() -> str:
    return _("You told us, we fixed it")


def default_text() -> str:
    return _(
        "Hello, {name}! You wrote to us about «{theme}». We heard you and fixed it: {note}. "
        "Thank you for telling us: without you we would not have known. If something is still "
        "not right, just reply to this message; a real person will read it."
    )


class FixForm(forms.Form):
    theme = forms.ModelChoiceField(
        label=gettext_lazy("Theme"), queryset=Theme.objects.filter(active=True).order_by("name_ru")
    )
    note = forms.CharField(
        label=gettext_lazy("What changed"),
        max_length=300,
        help_text=gettext_lazy("One short sentence, e.g. «теперь привозим за два дня»."),
    )
    since = forms.DateField(
        label=gettext_lazy("Feedback from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        label=gettext_lazy("Feedback until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    subject = forms.CharField(label=gettext_lazy("Email subject"), max_length=200)
    text = forms.CharField(
        label=gettext_lazy("Message"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy(
            "{name} is the customer's first name, {theme} the theme's name, {note} what changed."
        ),
    )
    holdout_percent = forms.IntegerField(
        label=gettext_lazy("Holdout, %"),
        min_value=0,
        max_value=50,
        initial=10,
        help_text=gettext_lazy(
            "This share of the customers gets nothing, so the results can show what the "
            "message changed."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["subject"].initial = default_subject()
        self.fields["text"].initial = default_text()
        self.fields["theme"].label_from_instance = lambda theme: theme.name_ru  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("The range ends before it starts."))
        return data


@require(MANAGE_MARKETING)
def fixes(request: HttpRequest) -> HttpResponse:
    form = FixForm(request.POST or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "web/feedback/fixes.html", _list(context), status=400)
        data = form.cleaned_data
        if "confirm" in request.POST:
            fix = fix_announce(
                theme=data["theme"],
                note=data["note"],
                subject=data["subject"],
                text=data["text"],
                holdout_percent=data["holdout_percent"],
                since=data["since"],
                until=data["until"],
                actor=staff_user(request),
            )
            messages.success(request, _("The fix is announced; the messages are queued."))
            return redirect("web:feedback_fix", pk=fix.pk)
        context["preview"] = fix_preview(
            theme=data["theme"], since=data["since"], until=data["until"]
        )
        context["holdout_percent"] = data["holdout_percent"]
    return render(request, "web/feedback/fixes.html", _list(context))


def _list(context: dict[str, Any]) -> dict[str, Any]:
    """The fixes, newest first, with their counts: one query."""
    context["fixes"] = (
        Fix.objects.select_related("theme", "staff")
        .annotate(
            affected=Count("recipients"),
            held=Count("recipients", filter=Q(recipients__holdout=True)),
            queued=Count("recipients", filter=Q(recipients__message__isnull=False)),
        )
        .order_by("-created_at", "-pk")[:100]
    )
    return context


@require(MANAGE_MARKETING)
def fix_detail(request: HttpRequest, pk: int) -> HttpResponse:
    fix = get_object_or_404(Fix.objects.select_related("theme", "staff"), pk=pk)
    return render(request, "web/feedback/fix.html", {"fix": fix, "results": fix_results(fix=fix)})
