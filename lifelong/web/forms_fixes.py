"""Forms of "you told us, we fixed it": a theme's fix, a fix of items picked in the inbox,
and the filter of the items page. The message fields are templates (feedback/fix_messages.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.feedback.fix_messages import fix_template_problems, theme_template
from lifelong.feedback.models import Item, Theme

TEMPLATE_HELP = gettext_lazy(
    "A template: {{ name }} is the customer's first name, {{ told }} what they told us, "
    "{{ theme }} the theme's name and {{ note }} what changed."
)


def template_initial(theme: Theme | None) -> dict[str, str]:
    """The message fields filled from the theme's template (or the defaults)."""
    subject, text = theme_template(theme, "ru")
    subject_en, text_en = theme_template(theme, "en")
    return {"subject": subject, "text": text, "subject_en": subject_en, "text_en": text_en}


def _themes() -> Any:
    return Theme.objects.filter(active=True).order_by("name_ru")


class FixMessageForm(forms.Form):
    """What changed, the message in Russian and English, and the holdout."""

    note = forms.CharField(
        label=gettext_lazy("What changed"),
        max_length=300,
        help_text=gettext_lazy("One short sentence, e.g. «теперь привозим за два дня»."),
    )
    subject = forms.CharField(label=gettext_lazy("Email subject"), max_length=200)
    text = forms.CharField(
        label=gettext_lazy("Message"),
        widget=forms.Textarea(attrs={"rows": 7}),
        help_text=TEMPLATE_HELP,
    )
    subject_en = forms.CharField(
        label=gettext_lazy("Email subject in English"), max_length=200, required=False
    )
    text_en = forms.CharField(
        label=gettext_lazy("Message in English"),
        widget=forms.Textarea(attrs={"rows": 7}),
        required=False,
        help_text=gettext_lazy(
            "For customers who read English; left empty, they get the Russian message."
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
    keep_template = forms.BooleanField(
        label=gettext_lazy("Keep this message as the theme's template"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if "theme" in self.fields:
            self.fields["theme"].label_from_instance = lambda theme: theme.name_ru  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for subject, text in (("subject", "text"), ("subject_en", "text_en")):
            if data.get(text):
                for problem in fix_template_problems(
                    subject=data.get(subject) or "", text=data[text]
                ):
                    self.add_error(text, problem)
        if data.get("keep_template") and not data.get("theme"):
            self.add_error("keep_template", _("Choose a theme to keep the template for."))
        return data


class FixForm(FixMessageForm):
    """A theme marked fixed: its customers, optionally only feedback within dates."""

    theme = forms.ModelChoiceField(label=gettext_lazy("Theme"), queryset=_themes())
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
    field_order = ["theme", "since", "until", "note"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("The range ends before it starts."))
        return data


class ItemsFixForm(FixMessageForm):
    """Items picked in the inbox marked fixed: exactly their customers."""

    items = forms.ModelMultipleChoiceField(
        queryset=Item.objects.all(), widget=forms.MultipleHiddenInput
    )
    theme = forms.ModelChoiceField(
        label=gettext_lazy("Theme"),
        queryset=_themes(),
        required=False,
        help_text=gettext_lazy(
            "Optional: the message starts from its template and names it. Only the picked "
            "items' customers hear of the fix."
        ),
    )
    field_order = ["items", "theme", "note"]


def common_theme(items: list[Item]) -> Theme | None:
    """The theme most of the picked items carry (the first by name on a tie), if any."""
    counts = Counter(slug for item in items for slug in item.themes)
    if not counts:
        return None
    top = max(counts.values())
    return _themes().filter(slug__in=[s for s, n in counts.items() if n == top]).first()


class ItemFilterForm(forms.Form):
    """Which inbox items the pick page lists."""

    q = forms.CharField(label=gettext_lazy("Words"), required=False, max_length=200)
    theme = forms.ChoiceField(label=gettext_lazy("Theme"), required=False)
    since = forms.DateField(
        label=gettext_lazy("Received from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, themes: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["theme"].choices = [("", _("Any theme")), *themes]  # type: ignore[attr-defined]
