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

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
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
    # The "you told us, we fixed it" message of this theme (feedback/fix_messages.py), a
    # template like any message's; left empty, the default of its language is used.
    fix_subject_ru = models.CharField(_("subject in Russian"), max_length=200, blank=True)
    fix_text_ru = models.TextField(_("message in Russian"), blank=True)
    fix_subject_en = models.CharField(_("subject in English"), max_length=200, blank=True)
    fix_text_en = models.TextField(_("message in English"), blank=True)

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
            # Insights: response rates by the period an invite was made in.
            models.Index(fields=["created_at"], name="feedback_invite_created"),
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
    # Staff corrected the themes (corrections.py): a later re-tag keeps them, and what the
    # tagger said is kept beside them for the theme rules to learn from.
    tagger_themes = models.JSONField(default=list, blank=True)
    themes_corrected_at = models.DateTimeField(null=True, blank=True)
    themes_corrected_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(_("answered"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)
    editable_until = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["survey", "-submitted_at"], name="feedback_response_survey"),
            # The throttle: "answered within the window".
            models.Index(fields=["customer", "-submitted_at"], name="feedback_response_recent"),
            # Insights and the weekly digest: every survey's answers in a span of time.
            models.Index(fields=["submitted_at"], name="feedback_response_at"),
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


# The conversations inbox: every inbound thing a customer (or a review site) tells the
# business becomes an Item, grouped into one open Conversation per customer, which staff
# assign, comment on internally, reply to, and close.


class ConversationStatus(models.TextChoices):
    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING = "waiting", _("Waiting for the customer")
    CLOSED = "closed", _("Closed")


# Statuses in which the SLA clock runs: the next step is ours.
OUR_MOVE = (ConversationStatus.NEW, ConversationStatus.IN_PROGRESS)


class ItemSource(models.TextChoices):
    MESSAGE = "message", _("Message reply")
    SURVEY = "survey", _("Survey response")
    YANDEX_MAPS = "yandex_maps", _("Yandex Maps")
    TWO_GIS = "2gis", _("2GIS")
    MARKETPLACE = "marketplace", _("Marketplace")
    OTHER = "other", _("Other review")


REVIEW_SOURCES = (
    ItemSource.YANDEX_MAPS,
    ItemSource.TWO_GIS,
    ItemSource.MARKETPLACE,
    ItemSource.OTHER,
)


class InboxSettings(models.Model):
    """The single row of inbox rules (edited in the UI): how soon a new item must be
    answered, and which items are urgent. `signers` are the named people a reply may be
    signed by, one "Name, position" a line."""

    urgent_hours = models.PositiveSmallIntegerField(
        _("answer urgent items within (hours)"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(720)],
    )
    normal_hours = models.PositiveSmallIntegerField(
        _("answer other items within (hours)"),
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(720)],
    )
    detractor_max = models.PositiveSmallIntegerField(
        _("an NPS score up to this is urgent"),
        default=6,
        validators=[MaxValueValidator(10)],
    )
    low_rating_max = models.PositiveSmallIntegerField(
        _("a rating (1–5) up to this is urgent"),
        default=3,
        validators=[MaxValueValidator(5)],
    )
    negative_urgent = models.BooleanField(_("negative text is urgent"), default=True)
    signers = models.TextField(
        _("signers, one «Name, position» a line"),
        blank=True,
        default="",
    )

    class Meta:
        verbose_name = _("inbox settings")

    @classmethod
    def current(cls) -> InboxSettings:
        row, _created = cls.objects.get_or_create(pk=1)
        return row

    def signer_lines(self) -> list[str]:
        return [" ".join(line.split()) for line in self.signers.splitlines() if line.strip()]


class Conversation(models.Model):
    """Everything one customer told us until it was closed: at most one is open per
    customer (a review from someone we do not know opens its own, customer None).
    `due_at` is the SLA time of the oldest unanswered item, None when the next move is the
    customer's; `escalated_at` marks the due time already escalated to a task."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="conversations",
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=ConversationStatus.choices,
        default=ConversationStatus.NEW,
    )
    assignee = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        verbose_name=_("assignee"),
    )
    urgent = models.BooleanField(_("urgent"), default=False)
    due_at = models.DateTimeField(_("answer by"), null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(_("opened"), default=clock.now)
    last_activity_at = models.DateTimeField(_("last activity"), default=clock.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # Denormalised from the items so the list filters without joins.
    sources = models.JSONField(default=list, blank=True)
    themes = models.JSONField(default=list, blank=True)
    preview = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=~Q(status="closed"),
                name="feedback_conversation_one_open",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-last_activity_at"], name="feedback_conv_list"),
            models.Index(fields=["assignee", "status"], name="feedback_conv_assignee"),
            models.Index(fields=["customer", "-opened_at"], name="feedback_conv_customer"),
            # The escalation sweep: due, our move, not yet escalated.
            models.Index(
                fields=["due_at"],
                name="feedback_conv_due",
                condition=Q(escalated_at__isnull=True, status__in=["new", "in_progress"]),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}"

    @property
    def is_overdue(self) -> bool:
        return self.status in OUR_MOVE and self.due_at is not None and self.due_at < clock.now()


class Item(models.Model):
    """One inbound thing: a reply on a channel (with the outbox message it answers when
    known), a survey response with a comment or a low score, or an outside review.
    `source_key` makes recording it idempotent."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="items")
    source = models.CharField(_("source"), max_length=12, choices=ItemSource.choices)
    source_key = models.CharField(max_length=200)
    channel = models.CharField(_("channel"), max_length=16, blank=True)
    text = models.TextField(_("text"), blank=True)
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    author = models.CharField(_("author"), max_length=200, blank=True)
    url = models.URLField(_("link"), max_length=1000, blank=True)
    # The sender's own id for a mail (Message-ID) a reply threads to.
    external_id = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey(
        "messaging.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    response = models.ForeignKey(
        Response, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    themes = models.JSONField(_("themes"), default=list, blank=True)
    sentiment = models.CharField(_("sentiment"), max_length=10, blank=True)
    urgent = models.BooleanField(_("urgent"), default=False)
    received_at = models.DateTimeField(_("received"), default=clock.now)
    # As on Response: staff's themes win over any later re-tag; the tagger's are kept.
    tagger_themes = models.JSONField(default=list, blank=True)
    themes_corrected_at = models.DateTimeField(null=True, blank=True)
    themes_corrected_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The staff members the text names («спасибо Ольге»), set by the tagger with the themes;
    # praise or complaint is the item's sentiment. The join table's user index answers
    # "the items praising Ольга".
    mentioned_staff = models.ManyToManyField(
        "accounts.User", blank=True, related_name="feedback_mentions"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_key"], name="feedback_item_source_key")
        ]
        indexes = [
            models.Index(fields=["conversation", "received_at"], name="feedback_item_conv"),
            # The themes page's "recent corrections" (only corrected rows are indexed).
            models.Index(
                fields=["-themes_corrected_at"],
                name="feedback_item_corrected",
                condition=Q(themes_corrected_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class Comment(models.Model):
    """An internal note on a conversation: staff only, never sent."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    text = models.TextField(_("comment"))
    created_at = models.DateTimeField(default=clock.now)


class Reply(models.Model):
    """A staff reply, signed by a named person, and the outbox message it became.
    `dedupe_key` comes from the reply form, so a double submit records one reply."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    signer = models.CharField(_("signed by"), max_length=200)
    text = models.TextField(_("reply"))
    channel = models.CharField(_("channel"), max_length=16)
    dedupe_key = models.CharField(max_length=200)
    message = models.ForeignKey(
        "messaging.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="feedback_reply_dedupe_key")
        ]
        indexes = [models.Index(fields=["conversation", "created_at"], name="feedback_reply_conv")]


class ReviewAsk(models.Model):
    """The single row of where a happy customer may leave a public review (the Public
    reviews page): off until the owner switches it on and gives at least one page. Only
    NPS promoters (9–10) are asked; the ask is a message whose links are click-tracked."""

    enabled = models.BooleanField(_("ask promoters for a public review"), default=False)
    yandex_maps_url = models.URLField(_("Yandex Maps page"), max_length=500, blank=True)
    two_gis_url = models.URLField(_("2GIS page"), max_length=500, blank=True)
    marketplace_name = models.CharField(_("marketplace name"), max_length=60, blank=True)
    marketplace_url = models.URLField(_("marketplace page"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("review ask")

    @classmethod
    def current(cls) -> ReviewAsk:
        row, _created = cls.objects.get_or_create(pk=1)
        return row

    def places(self) -> list[tuple[str, str]]:
        """(name, address) of each page given, in a fixed order; empty when switched off."""
        if not self.enabled:
            return []
        pages = [
            (str(_("Yandex Maps")), self.yandex_maps_url),
            (str(_("2GIS")), self.two_gis_url),
            (self.marketplace_name or str(_("Marketplace")), self.marketplace_url),
        ]
        return [(name, url) for name, url in pages if url]


class FixStatus(models.TextChoices):
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")


def holdout_salt_new() -> str:
    return secrets.token_hex(8)


class Fix(models.Model):
    """Staff's word that a theme customers complained about is fixed ("you told us, we fixed
    it"): the note of what changed and the message text sent to each customer whose feedback
    carried the theme, less a holdout drawn per customer (fixes.py, fix_results.py).

    The holdout draw hashes `holdout_salt` with the customer's external id, never row ids: a
    fix's own salt keeps one fix's holdout apart from another's, and the same salt and
    customers draw the same holdout in any database (the demo rebuilds its fix exactly)."""

    # A theme's fix affects the customers whose feedback carried the theme; a fix of items
    # staff picked in the inbox affects exactly those items' customers (its theme, if any,
    # only lent its message template).
    theme = models.ForeignKey(
        Theme, on_delete=models.PROTECT, related_name="fixes", null=True, blank=True
    )
    items = models.ManyToManyField(Item, blank=True, related_name="fixes")
    note = models.CharField(_("what changed"), max_length=300)
    # Templates (fix_messages.py); customers who read English get the English ones if given.
    subject = models.CharField(_("subject"), max_length=200)
    text = models.TextField(_("message"))
    subject_en = models.CharField(_("subject in English"), max_length=200, blank=True)
    text_en = models.TextField(_("message in English"), blank=True)
    feedback_since = models.DateField(_("feedback from"), null=True, blank=True)
    feedback_until = models.DateField(_("feedback until"), null=True, blank=True)
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout, %"), default=10, validators=[MaxValueValidator(50)]
    )
    holdout_salt = models.CharField(max_length=32, default=holdout_salt_new, editable=False)
    staff = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=8, choices=FixStatus.choices, default=FixStatus.SENDING)
    created_at = models.DateTimeField(_("created"), default=clock.now)

    class Meta:
        verbose_name = _("fix")
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=50), name="feedback_fix_holdout_max"
            )
        ]


class FixRecipient(models.Model):
    """One affected customer of a fix: kept back (holdout) or sent the message once. `channel`
    is the channel that could reach them when the fix was announced (also for the holdout, so
    both groups are compared among customers we could reach); empty when none could."""

    fix = models.ForeignKey(Fix, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    holdout = models.BooleanField(default=False)
    channel = models.CharField(max_length=16, blank=True)
    message = models.ForeignKey(
        "messaging.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fix", "customer"], name="feedback_fixrecipient_once")
        ]
