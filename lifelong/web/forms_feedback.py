"""Forms of the themes page: a theme with its rules, and the "try a text" box."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from lifelong.feedback.fix_messages import fix_template_problems, template_stored, theme_template
from lifelong.feedback.models import Language, Theme
from lifelong.feedback.services import TEMPLATE_FIELDS, THEME_FIELDS, rule_phrases_clean


class ThemeForm(forms.ModelForm):
    """A theme and its rules, one word or phrase per line in each language."""

    rules_ru = forms.CharField(
        label=_("Russian words and phrases"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "One per line, in any form: «доставкой» also finds «доставка». A phrase finds its "
            "words in this order, with up to three words between: «курьер опоздал»."
        ),
    )
    rules_en = forms.CharField(
        label=_("English words and phrases"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    class Meta:
        model = Theme
        fields = (*THEME_FIELDS, *TEMPLATE_FIELDS)
        help_texts = {
            "slug": _("Latin letters; shown in exports and the command's output."),
            "fix_subject_ru": _(
                "The «you told us, we fixed it» message of this theme: the fix form starts from it."
            ),
            "fix_text_ru": _(
                "A template: {{ name }} is the customer's first name, {{ told }} what they "
                "told us, {{ theme }} the theme's name and {{ note }} what changed."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            # A new theme starts with the default message; its page edits it.
            for name in TEMPLATE_FIELDS:
                del self.fields[name]
        elif not self.is_bound:
            for language in Language.values:
                subject, text = theme_template(self.instance, language)
                self.initial[f"fix_subject_{language}"] = subject
                self.initial[f"fix_text_{language}"] = text
        if self.instance.pk and not self.is_bound:
            for language in Language.values:
                phrases = self.instance.rules.filter(language=language).values_list(
                    "phrase", flat=True
                )
                self.initial[f"rules_{language}"] = "\n".join(phrases)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for language in Language.values:
            subject, text = f"fix_subject_{language}", f"fix_text_{language}"
            if subject not in self.fields:
                continue
            for problem in fix_template_problems(
                subject=data.get(subject) or "", text=data.get(text) or ""
            ):
                self.add_error(text, problem)
            # The default is stored as nothing, so a better default reaches this theme too.
            data[subject], data[text] = template_stored(
                language, data.get(subject) or "", data.get(text) or ""
            )
        return data

    def clean_rules_ru(self) -> list[str]:
        return rule_phrases_clean(self.cleaned_data["rules_ru"], language=Language.RU)

    def clean_rules_en(self) -> list[str]:
        return rule_phrases_clean(self.cleaned_data["rules_en"], language=Language.EN)


class TryForm(forms.Form):
    """A text to tag with the current rules, and the score that came with it."""

    text = forms.CharField(
        label=_("Text"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    score = forms.IntegerField(label=_("Score"), required=False, min_value=0, max_value=10)
    scale = forms.ChoiceField(
        label=_("Scale"),
        choices=[("nps", _("NPS 0–10")), ("csat", _("CSAT 1–5"))],
        initial="nps",
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        score, scale = data.get("score"), data.get("scale") or "nps"
        if score is not None and scale == "csat" and not 1 <= score <= 5:
            self.add_error("score", _("A CSAT score is 1 to 5."))
        data["scale"] = scale
        return data
