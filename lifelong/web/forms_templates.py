"""Forms of the template editor: message templates, brand voices, and the live preview.

Template text is checked by `messaging.templating.template_validate`, the same sandbox
that renders it, so every problem shows under its field with its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong import clock
from lifelong.customers.models import Channel
from lifelong.messaging.models import BrandVoice, Template
from lifelong.messaging.templating import TemplateProblem, template_validate

# The one translation the UI edits; the model takes any language code.
TRANSLATION = "en"
# Form field -> template field of the translation.
TRANSLATED = {
    "en_subject": "subject",
    "en_body_text": "body_text",
    "en_body_html": "body_html",
}


def _text_area(rows: int, *, code: bool = True) -> forms.Textarea:
    attrs = {"rows": str(rows), "spellcheck": "false" if code else "true"}
    if code:
        attrs["class"] = "code"
    return forms.Textarea(attrs=attrs)


def problem_text(problem: TemplateProblem) -> str:
    if problem.line:
        return _("Line %(line)d: %(message)s") % {"line": problem.line, "message": problem.message}
    return problem.message


class TemplateForm(forms.ModelForm):
    en_subject = forms.CharField(label=gettext_lazy("Subject"), required=False, max_length=300)
    en_body_text = forms.CharField(label=gettext_lazy("Text"), required=False, widget=_text_area(8))
    en_body_html = forms.CharField(label=gettext_lazy("HTML"), required=False, widget=_text_area(8))

    class Meta:
        model = Template
        fields = [
            "name",
            "slug",
            "channel",
            "purpose",
            "topic",
            "subject",
            "body_text",
            "body_html",
            "sender_manager",
        ]
        widgets = {
            "channel": forms.Select(choices=Channel.choices),
            "body_text": _text_area(12),
            "body_html": _text_area(12),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["body_text"].required = True
        translation = (self.instance.translations or {}).get(TRANSLATION) or {}
        if not self.is_bound and isinstance(translation, Mapping):
            for field, source in TRANSLATED.items():
                self.initial[field] = translation.get(source, "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("channel") and data["channel"] not in Channel.values:
            self.add_error("channel", _("Unknown channel."))
        self._check({name: name for name in ("subject", "body_text", "body_html")})
        if any(data.get(field) for field in TRANSLATED):
            if not data.get("en_body_text"):
                self.add_error("en_body_text", _("A translation needs its text."))
            self._check(TRANSLATED)
        return data

    def _check(self, fields: Mapping[str, str]) -> None:
        """Validate the template fields named by `fields` (form field -> template field)."""
        values = {source: self.cleaned_data.get(field) or "" for field, source in fields.items()}
        form_field = {source: field for field, source in fields.items()}
        for problem in template_validate(**values):
            field = form_field[problem.field]
            if field in self.fields:
                self.add_error(field, problem_text(problem))

    def save(self, commit: bool = True) -> Template:
        template = super().save(commit=False)
        translations = dict(template.translations or {})
        values = {
            source: self.cleaned_data.get(field) or "" for field, source in TRANSLATED.items()
        }
        if values["body_text"]:
            translations[TRANSLATION] = values
        else:
            translations.pop(TRANSLATION, None)
        template.translations = translations
        template.updated_at = clock.now()
        if commit:
            template.save()
        return template


class BrandVoiceForm(forms.ModelForm):
    class Meta:
        model = BrandVoice
        fields = ["channel", "sender_name", "greeting", "signature"]
        widgets = {
            "channel": forms.HiddenInput(),
            "signature": _text_area(3),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_channel(self) -> str:
        channel = self.cleaned_data["channel"]
        if channel not in Channel.values:
            raise forms.ValidationError(_("Unknown channel."))
        return str(channel)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        problems = template_validate(
            subject=data.get("greeting") or "", body_text=data.get("signature") or "", body_html=""
        )
        for problem in problems:
            field = "greeting" if problem.field == "subject" else "signature"
            self.add_error(field, problem_text(problem))
        return data


class PreviewForm(forms.Form):
    """Which customer a preview renders for: a recent buyer from the list or a search."""

    customer = forms.IntegerField(label=gettext_lazy("Customer"), required=False)
    find = forms.CharField(
        label=gettext_lazy("or find by email, phone or id"), required=False, max_length=200
    )
    preview_channel = forms.ChoiceField(
        label=gettext_lazy("Channel"), required=False, choices=Channel.choices
    )
