"""Feedback: the themes a comment is sorted into, and the rules staff edit to find them.

A theme's rules are words and phrases in Russian or English, written the way staff would say
them («курьер опоздал», "out of stock"); the tagger (themes.py) lemmatises both the rule and
the text, so one rule matches every inflected form. Surveys and the conversations inbox join
this app later.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifelong import clock


class Language(models.TextChoices):
    RU = "ru", _("Russian")
    EN = "en", _("English")


class Theme(models.Model):
    """A theme comments are tagged with (delivery, price, …); switched off, never deleted,
    so tags already given keep their meaning."""

    slug = models.SlugField(
        _("code"),
        max_length=40,
        unique=True,
        validators=[
            RegexValidator(r"^[a-z][a-z0-9_-]*$", _("Latin lower-case letters and digits."))
        ],
    )
    name_ru = models.CharField(_("name in Russian"), max_length=80)
    name_en = models.CharField(_("name in English"), max_length=80)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)

    class Meta:
        ordering = ["name_ru"]

    def __str__(self) -> str:
        return self.name_ru

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") else self.name_ru


class ThemeRule(models.Model):
    """One word or phrase that signals its theme. A phrase's words must appear in this order,
    with at most three other words between neighbours («заказ так и не пришёл»), none
    after a preposition («под заказ»)."""

    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, related_name="rules")
    language = models.CharField(_("language"), max_length=2, choices=Language.choices)
    phrase = models.CharField(_("word or phrase"), max_length=120)

    class Meta:
        ordering = ["theme", "language", "phrase"]
        constraints = [
            models.UniqueConstraint(
                fields=["theme", "language", "phrase"], name="feedback_rule_unique"
            )
        ]

    def __str__(self) -> str:
        return self.phrase
