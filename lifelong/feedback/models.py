"""Feedback: the themes a comment is sorted into, and the rules staff edit to find them.

A theme's rules are words and phrases in Russian or English, written the way staff would say
them («курьер опоздал», "out of stock"); the tagger (themes.py) lemmatises both the rule and
the text, so one rule matches every inflected form.

Surveys: a Survey of one to seven ordered Questions (a follow-up shows only when an earlier
answer falls in a range); an Invite per customer per send, reached by a sealed link; at most
one Response per invite, with its Answers, score, comment, themes and sentiment. The
conversations inbox joins this app later.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
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


class SurveyKind(models.TextChoices):
    NPS = "nps", _("Relationship NPS")
    CSAT = "csat", _("Satisfaction (CSAT)")
    CES = "ces", _("Effort (CES)")
    CUSTOM = "custom", _("Custom")


class Survey(models.Model):
    """A questionnaire sent to customers. `throttle_days`: an invited customer is not invited
    to it again for that long, nor after answering it; a relationship NPS throttles across
    every relationship NPS survey, whatever channel sent it."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=8, choices=SurveyKind.choices)
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.RU
    )
    active = models.BooleanField(_("active"), default=True)
    throttle_days = models.PositiveSmallIntegerField(
        _("ask a customer at most once in (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(730)],
    )
    link_days = models.PositiveSmallIntegerField(
        _("the link works for (days)"),
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
    )
    created_at = models.DateTimeField(_("created"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class QuestionKind(models.TextChoices):
    NPS = "nps", _("Likelihood to recommend, 0–10")
    CSAT = "csat", _("Satisfaction, 1–5")
    CES = "ces", _("Effort, 1–7")
    SINGLE = "single", _("One choice")
    MULTIPLE = "multiple", _("Several choices")
    TEXT = "text", _("Free text")


# The scale of each scored kind: the lowest and the highest answer.
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
MAX_QUESTIONS = 7


class Question(models.Model):
    """One question in its place. A follow-up (`show_if` set) is asked only when the answer to
    that earlier scored question lies within show_if_min…show_if_max («a 4 of 5 →
    what kept you from 5?»). The text is plain: shown escaped, never rendered as a template."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=8, choices=QuestionKind.choices)
    text = models.CharField(_("question"), max_length=300)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    show_if = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="follow_ups",
        verbose_name=_("ask only after the question"),
    )
    show_if_min = models.SmallIntegerField(_("when its answer is at least"), null=True, blank=True)
    show_if_max = models.SmallIntegerField(_("and at most"), null=True, blank=True)

    class Meta:
        ordering = ["survey", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "position"], name="feedback_question_position"
            )
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def scale(self) -> tuple[int, int] | None:
        return SCALES.get(self.kind)

    def shown_after(self, score: int | None) -> bool:
        """Whether this question is asked, given the answer to the one it follows up."""
        if self.show_if_id is None:
            return True
        if score is None:
            return False
        low = self.show_if_min if self.show_if_min is not None else -100
        high = self.show_if_max if self.show_if_max is not None else 100
        return low <= score <= high


class Invite(models.Model):
    """One customer asked one survey once. The link carries a sealed token naming the invite;
    `dedupe_key` is unique, so asking again with the same key (a journey node run twice)
    returns the same invite, and it is also the outbox message's dedupe key."""

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="invites")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="survey_invites"
    )
    dedupe_key = models.CharField(max_length=200)
    channel = models.CharField(_("channel"), max_length=10, blank=True)
    enrollment = models.ForeignKey(
        "journeys.Enrollment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    node = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(_("created"), default=clock.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    # The score tapped in the message itself (a messenger button), before any page opened.
    first_score = models.SmallIntegerField(null=True, blank=True)
    first_score_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="feedback_invite_dedupe_key")
        ]
        indexes = [
            # The throttle: this customer's recent invites.
            models.Index(fields=["customer", "-created_at"], name="feedback_invite_recent"),
            models.Index(fields=["survey", "-created_at"], name="feedback_invite_survey"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.customer_id}"


class Response(models.Model):
    """The customer's answer to one invite: one per invite (the unique invite makes a double
    submission store one row), editable until `editable_until`. `score` is the answer to the
    survey's first scored question; `comment` joins the free-text answers; themes and
    sentiment come from the tagger."""

    invite = models.OneToOneField(Invite, on_delete=models.CASCADE, related_name="response")
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="survey_responses"
    )
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    themes = models.JSONField(_("themes"), default=list, blank=True)
    sentiment = models.CharField(_("sentiment"), max_length=10, blank=True)
    polarity = models.FloatField(null=True, blank=True)
    submitted_at = models.DateTimeField(_("answered"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)
    editable_until = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["survey", "-submitted_at"], name="feedback_response_survey"),
            # The throttle: "answered within the window".
            models.Index(fields=["customer", "-submitted_at"], name="feedback_response_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.survey}: {self.score}"


class Answer(models.Model):
    """One question's answer in a response: a number on the scale, the choices ticked (their
    texts as shown), or free text."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    number = models.SmallIntegerField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="feedback_answer_unique")
        ]
