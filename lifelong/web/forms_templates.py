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
from lifelong.messaging.variants import EMAIL, MAX_BUTTONS, MESSENGER, SHORT, SMS, buttons_of

# The one translation the UI edits; the model takes any language code.
TRANSLATION = "en"
# The text fields of each variant, in the editor's order (see messaging/variants.py).
TEXT_FIELDS = ("subject", "body_text", "body_html", "sms_text", "messenger_text", "short_text")
# Form field -> template field of the translation.
TRANSLATED = {f"en_{name}": name for name in TEXT_FIELDS}
# What the preview says it shows.
VARIANT_LABELS = {
    EMAIL: gettext_lazy("Email"),
    SMS: gettext_lazy("SMS text"),
    MESSENGER: gettext_lazy("Messenger text"),
    SHORT: gettext_lazy("Short text"),
}
# Form fields of the messenger buttons: (label field, url field) per row, per language.
BUTTONS = [(f"button_{n}_label", f"button_{n}_url") for n in range(1, MAX_BUTTONS + 1)]
EN_BUTTONS = [(f"en_{label}", f"en_{url}") for label, url in BUTTONS]
# VK cuts a button's label at 40 characters; Telegram shows about as much.
BUTTON_LABEL_MAX = 40


def _text_area(rows: int, *, code: bool = True) -> forms.Textarea:
    attrs = {"rows": str(rows), "spellcheck": "false" if code else "true"}
    if code:
        attrs["class"] = "code"
    return forms.Textarea(attrs=attrs)


def _sms_area() -> forms.Textarea:
    area = _text_area(4)
    # sms_counter.js counts segments as the text is typed (sms_segments.py counts the same).
    area.attrs.update({"class": "code", "data-sms-counter": "1"})
    return area


def problem_text(problem: TemplateProblem) -> str:
    if problem.line:
        return _("Line %(line)d: %(message)s") % {"line": problem.line, "message": problem.message}
    return problem.message


def buttons_rows(value: Any) -> list[dict[str, str]]:
    """Stored buttons as the editor's rows (always MAX_BUTTONS of them, blanks at the end)."""
    rows = [{"label": b.label, "url": b.url} for b in buttons_of(value)]
    return rows + [{"label": "", "url": ""}] * (MAX_BUTTONS - len(rows))


class TemplateForm(forms.ModelForm):
    en_subject = forms.CharField(label=gettext_lazy("Subject"), required=False, max_length=300)
    en_body_text = forms.CharField(label=gettext_lazy("Text"), required=False, widget=_text_area(8))
    en_body_html = forms.CharField(label=gettext_lazy("HTML"), required=False, widget=_text_area(8))
    en_sms_text = forms.CharField(
        label=gettext_lazy("SMS text"), required=False, widget=_sms_area()
    )
    en_messenger_text = forms.CharField(
        label=gettext_lazy("Messenger text"), required=False, widget=_text_area(6)
    )
    en_short_text = forms.CharField(
        label=gettext_lazy("Short text"), required=False, widget=_text_area(3)
    )

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
            "sms_text",
            "messenger_text",
            "short_text",
            "sender_manager",
        ]
        labels = {
            "channel": gettext_lazy("Written mainly for"),
            "body_text": gettext_lazy("Text part"),
            "sms_text": gettext_lazy("SMS text"),
            "messenger_text": gettext_lazy("Messenger text"),
            "short_text": gettext_lazy("Short text"),
        }
        help_texts = {
            "short_text": gettext_lazy(
                "Sent on any channel this template has no text of its own for (push, and "
                "SMS or messengers when their text is empty). Never the email."
            ),
        }
        widgets = {
            "channel": forms.Select(choices=Channel.choices),
            "body_text": _text_area(12),
            "body_html": _text_area(12),
            "sms_text": _sms_area(),
            "messenger_text": _text_area(8),
            "short_text": _text_area(3),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for label, url in BUTTONS + EN_BUTTONS:
            self.fields[label] = forms.CharField(
                label=gettext_lazy("Button"), required=False, max_length=BUTTON_LABEL_MAX
            )
            self.fields[url] = forms.CharField(
                label=gettext_lazy("Link"), required=False, max_length=1000
            )
            self.fields[label].widget.attrs["placeholder"] = _("Label")
            self.fields[url].widget.attrs["placeholder"] = "https://… {{ links.preferences }}"
        if self.is_bound:
            return
        translation = (self.instance.translations or {}).get(TRANSLATION) or {}
        if not isinstance(translation, Mapping):
            translation = {}
        for field, source in TRANSLATED.items():
            self.initial[field] = translation.get(source, "")
        for rows, value in (
            (BUTTONS, self.instance.messenger_buttons),
            (EN_BUTTONS, translation.get("messenger_buttons")),
        ):
            for (label, url), button in zip(rows, buttons_rows(value), strict=True):
                self.initial[label], self.initial[url] = button["label"], button["url"]

    def button_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        """The button fields in (label, link) pairs, for the page."""
        return [(self[label], self[url]) for label, url in BUTTONS]

    def en_button_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[label], self[url]) for label, url in EN_BUTTONS]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("channel") and data["channel"] not in Channel.values:
            self.add_error("channel", _("Unknown channel."))
        self._check({name: name for name in TEXT_FIELDS})
        self._buttons = self._clean_buttons(BUTTONS)
        if not any((data.get(name) or "").strip() for name in TEXT_FIELDS if name != "subject"):
            raise forms.ValidationError(
                _("Write at least one text: the email, the SMS, the messenger or the short text.")
            )
        self._en_buttons = self._clean_buttons(EN_BUTTONS)
        if data.get("en_subject") and not (data.get("en_body_text") or data.get("en_body_html")):
            self.add_error("en_body_text", _("A translation needs its text."))
        self._check(TRANSLATED)
        return data

    def _clean_buttons(self, rows: list[tuple[str, str]]) -> list[dict[str, str]]:
        buttons = []
        for label, url in rows:
            text = (self.cleaned_data.get(label) or "").strip()
            link = (self.cleaned_data.get(url) or "").strip()
            if not (text or link):
                continue
            if not text:
                self.add_error(label, _("A button needs its label."))
            if not link:
                self.add_error(url, _("A button needs its link."))
            elif not link.startswith(("https://", "http://", "{{")):
                self.add_error(
                    url,
                    _(
                        "A link starts with https:// or is a variable such as "
                        "{{ links.preferences }}."
                    ),
                )
            for field, source in ((label, text), (url, link)):
                for problem in template_validate(subject=source, body_text="", body_html=""):
                    self.add_error(field, problem_text(problem))
            buttons.append({"label": text, "url": link})
        return buttons

    def _check(self, fields: Mapping[str, str]) -> None:
        """Validate the template fields named by `fields` (form field -> template field)."""
        for field, source in fields.items():
            value = self.cleaned_data.get(field) or ""
            if not value or field not in self.fields:
                continue
            # Each text is checked as what it is: a subject, a plain text or HTML.
            kind = source if source in ("subject", "body_html") else "body_text"
            for problem in template_validate(**{**EMPTY, kind: value}):
                self.add_error(field, problem_text(problem))

    def save(self, commit: bool = True) -> Template:
        template = super().save(commit=False)
        template.messenger_buttons = self._buttons
        translations = dict(template.translations or {})
        values: dict[str, Any] = {
            source: self.cleaned_data.get(field) or "" for field, source in TRANSLATED.items()
        }
        if any(values.values()) or self._en_buttons:
            translations[TRANSLATION] = {**values, "messenger_buttons": self._en_buttons}
        else:
            translations.pop(TRANSLATION, None)
        template.translations = translations
        template.updated_at = clock.now()
        if commit:
            template.save()
        return template


EMPTY = {"subject": "", "body_text": "", "body_html": ""}


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
