"""Campaigns: one-off, scheduled and recurring sends to a segment, with A/B tests and holdouts.

A `Campaign` says what to send, to whom, how and when. Each send is a `CampaignRun` (a one-off
campaign has one, a recurring one a run per occurrence), and each run gives every customer of
its audience exactly one `CampaignRecipient` row: the arm they fell in, whether a message was
queued or why not, and the message. The outbox (`messaging.Message`) does the rest; consent,
caps, quiet hours and suppressions are checked again by the dispatcher at send time.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from lifelong import clock
from lifelong.community.models import Club
from lifelong.customers.models import Customer, Purpose
from lifelong.messaging.models import Template
from lifelong.segments.models import Segment

# The campaign's channel when each customer gets their preferred one (or the first fallback
# that reaches them, as `messaging.services.channel_choose` decides).
PREFERRED = "preferred"
MAX_HOLDOUT_PERCENT = 50


def salt_make() -> str:
    return secrets.token_hex(8)


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    # Waiting for its next run (a one-off campaign's send time, a recurring one's next date).
    SCHEDULED = "scheduled", _("Scheduled")
    # No run planned any more, and the last is under way (queueing, or an A/B test waiting for
    # its winner) or its messages are still due in the outbox (a window, a throttle, a cap).
    SENDING = "sending", _("Sending")
    # Every message has left the outbox (sent, or failed or dropped by the dispatcher).
    # «Рассылка отправлена»: the campaign's own gender, not the message's.
    SENT = "sent", pgettext_lazy("campaign status", "Sent")
    CANCELLED = "cancelled", _("Cancelled")


class Recurrence(models.TextChoices):
    ONCE = "once", _("Once")
    DAILY = "daily", _("Every day")
    WEEKLY = "weekly", _("Every week")
    # The Nth weekday of every month ("the first Monday"); nth = -1 is the last one.
    MONTHLY = "monthly", _("Every month")
    # Calendar dates every year (holidays, the shop's Customer Day): `recur_dates`.
    DATES = "dates", _("On calendar dates")


class AbMetric(models.TextChoices):
    OPENED = "opened", _("Opens")
    CLICKED = "clicked", _("Clicks")
    REPLIED = "replied", _("Replies")
    CONVERTED = "converted", _("Goal conversions")


class Campaign(models.Model):
    """What to send, to whom, on which channel, when; with its holdout and A/B test.

    Audience: the members of `segment`, or the live customers matching `rules` (a rule tree
    in the format of `segments.rules`) when no segment is set. Exactly one of the two.
    A/B: with `template_b` set, `ab_sample_percent` of the sendable audience is split evenly
    between A and B; after `ab_wait_hours` the variant with the better `ab_metric` (ties go to
    A) goes to the rest. A sample of 100 % is a plain split with no rest.
    Times of day (`send_time`, the send window) are wall-clock times: `send_time` on the
    shop's clock (settings.TIME_ZONE), the window on each customer's own clock.
    """

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )

    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    rules = models.JSONField(_("rules"), default=dict, blank=True)

    channel = models.CharField(_("channel"), max_length=16, default=PREFERRED)
    template = models.ForeignKey(
        Template, verbose_name=_("template"), on_delete=models.PROTECT, related_name="+"
    )
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.MARKETING
    )
    # Empty: the template's topic.
    topic = models.SlugField(_("topic"), max_length=40, blank=True)

    # An invitation to this club: the audience narrows to the customers the club admits and
    # who are not in it or invited yet, and each message carries the customer's own
    # single-use join address (`{{ club_invite_url }}` in the template).
    club = models.ForeignKey(
        Club,
        verbose_name=_("invite to the club"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )

    holdout_percent = models.PositiveSmallIntegerField(_("holdout, %"), default=10)
    # Per campaign, so one campaign's holdout is not every campaign's holdout.
    salt = models.CharField(max_length=32, default=salt_make, editable=False)

    template_b = models.ForeignKey(
        Template,
        verbose_name=_("template B"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    ab_sample_percent = models.PositiveSmallIntegerField(_("test sample, %"), default=20)
    ab_metric = models.CharField(
        _("winner by"), max_length=10, choices=AbMetric.choices, default=AbMetric.CLICKED
    )
    ab_wait_hours = models.PositiveSmallIntegerField(_("pick the winner after, hours"), default=4)

    # In each customer's own time zone; both empty: any time (quiet hours still apply).
    window_start = models.TimeField(_("send from"), null=True, blank=True)
    window_end = models.TimeField(_("send until"), null=True, blank=True)
    per_minute = models.PositiveIntegerField(_("messages per minute"), default=0)  # 0: no limit

    goal_event = models.CharField(_("goal"), max_length=64, default="order_placed")
    goal_days = models.PositiveSmallIntegerField(_("goal window, days"), default=7)

    recurrence = models.CharField(
        _("repeat"), max_length=8, choices=Recurrence.choices, default=Recurrence.ONCE
    )
    # ONCE: the moment to send (empty: at launch).
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # DAILY / WEEKLY / MONTHLY / DATES: the time of day on the shop's clock.
    send_time = models.TimeField(_("time of day"), null=True, blank=True)
    weekday = models.PositiveSmallIntegerField(_("weekday"), null=True, blank=True)  # 0 = Monday
    nth = models.SmallIntegerField(_("which one in the month"), null=True, blank=True)  # 1..4, -1
    recur_dates = models.JSONField(_("dates"), default=list, blank=True)  # ["03-08", "12-31"]
    recur_until = models.DateField(_("repeat until"), null=True, blank=True)

    # When the sweep starts the next run; empty when none is planned.
    next_run_at = models.DateTimeField(null=True, blank=True)
    runs_count = models.PositiveIntegerField(default=0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_run_at"], name="campaign_due", condition=Q(status="scheduled")
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=MAX_HOLDOUT_PERCENT),
                name="campaign_holdout_percent_max",
            ),
            models.CheckConstraint(
                condition=Q(ab_sample_percent__gte=2, ab_sample_percent__lte=100),
                name="campaign_ab_sample_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_ab(self) -> bool:
        return self.template_b_id is not None

    @property
    def is_recurring(self) -> bool:
        return self.recurrence != Recurrence.ONCE


class RunStatus(models.TextChoices):
    # Recipients are being decided and messages queued, batch by batch.
    QUEUEING = "queueing", _("Queueing")
    # A/B: the sample is queued; the winner is picked at `decide_at`.
    TESTING = "testing", _("Testing")
    # A/B: the winner is being queued for the rest of the audience.
    QUEUEING_REST = "rest", _("Queueing the winner")
    DONE = "done", _("Queued")
    CANCELLED = "cancelled", _("Cancelled")


class CampaignRun(models.Model):
    """One send of a campaign: its audience as of the run, its progress and its A/B decision.

    Progress: `audience_total` is counted when the run starts; `processed` grows with each
    batch (recipients decided), so processed / audience_total is the progress bar. `cursor`
    is the last customer id decided (phase one) and `rest_cursor` the last recipient id given
    the winner (phase two): a batch and its cursor commit together, so a crash repeats at most
    the uncommitted batch, and the dedupe keys make even that a no-op.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUEING)
    scheduled_for = models.DateTimeField()
    started_at = models.DateTimeField(default=clock.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    audience_total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    held_out = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)
    rest_cursor = models.BigIntegerField(default=0)
    # Throttling: one clock per moment the send window opens, {"open" or the opening instant
    # (ISO): the earliest moment its next message may go}. "open" paces the customers whose
    # window is open now; those waiting for a later opening get that opening's own pace, so
    # one New York customer does not push every Moscow customer after them to New York's
    # morning. An opening's clock joins "open" once it has passed.
    throttle_clocks = models.JSONField(default=dict, blank=True)

    # A/B: when the winner is picked, which one, and the figures it was picked on:
    # {"metric": ..., "a": {"n": .., "hits": ..}, "b": {...}}.
    decide_at = models.DateTimeField(null=True, blank=True)
    winner = models.CharField(max_length=1, blank=True)  # "a" or "b"
    winner_decided_at = models.DateTimeField(null=True, blank=True)
    winner_figures = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="campaign_run_unique")
        ]
        indexes = [
            models.Index(
                fields=["status"],
                name="campaign_run_active",
                condition=Q(status__in=["queueing", "testing", "rest"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} #{self.number} {self.status}"


class Arm(models.TextChoices):
    A = "a", _("Variant A")
    B = "b", _("Variant B")
    # A/B: the audience outside the test sample, who get the winner.
    REST = "rest", _("Winner")
    HOLDOUT = "holdout", _("Holdout")


class RecipientStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    # A/B rest waiting for the winner.
    WAITING = "waiting", _("Waiting for the winner")
    SKIPPED = "skipped", _("Skipped")
    HOLDOUT = "holdout", _("Held out")


class SkipReason(models.TextChoices):
    NO_CHANNEL = "no_channel", _("No address on a channel we can use")
    NO_CONSENT = "no_consent", _("No marketing consent on the channel")
    SUPPRESSED = "suppressed", _("Address is suppressed")
    OPTED_OUT = "opted_out", _("Opted out of the topic")
    # A club invitation: by the time of the send the club no longer admits them, or they
    # are in it or invited already, or the club is switched off.
    NOT_ADMITTED = "not_admitted", _("Not admitted to the club, or already in it")
    # The campaign was cancelled before this recipient's message went out.
    CANCELLED = "cancelled", _("The campaign was cancelled before the message went out")


class CampaignRecipient(models.Model):
    """One customer in one run: their arm, the outcome and the message.

    Skipped and held-out recipients have no message. Delivery, opens and clicks are read from
    the message itself. `decided_at` anchors the goal window in every arm alike.
    """

    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="recipients")
    # Plain id of the campaign as well: results group by it without a join.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    arm = models.CharField(max_length=8, choices=Arm.choices)
    status = models.CharField(max_length=8, choices=RecipientStatus.choices)
    reason = models.CharField(max_length=12, choices=SkipReason.choices, blank=True)
    channel = models.CharField(max_length=16, blank=True)
    # A plain id (the outbox may prune messages; results then count them as not sent).
    message_id = models.BigIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(default=clock.now)
    # decided_at + the campaign's goal_days: results count the recipient once this has passed.
    goal_until = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="campaign_recipient_unique")
        ]
        indexes = [
            models.Index(fields=["campaign", "arm", "status"]),
            models.Index(fields=["run", "arm", "status"]),
            models.Index(fields=["message_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.customer_id} {self.arm} {self.status}"
