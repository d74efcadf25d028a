"""The outbox and what governs it: channel set-up, templates, sending policy, suppressions.

Every outbound message is first a `Message` row with a unique dedupe key; `dispatch_due`
delivers it later. Nothing is sent from inside a request or a journey step.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.customers.models import Customer, Purpose
from lifelong.lib.encryption import EncryptedJSONField

# Not a customer channel: a signed HTTP call to the business's own system (journey node).
WEBHOOK = "webhook"


class ChannelConfig(models.Model):
    """How one channel is delivered: which transport, its credentials, and its own cap.

    Credentials live here (not in the environment) because the owner sets them up in the UI;
    the settings are stored encrypted as a whole.
    """

    channel = models.CharField(_("channel"), max_length=16, unique=True)
    transport = models.CharField(_("transport"), max_length=32)
    config = EncryptedJSONField(_("settings"), default=dict, blank=True)
    active = models.BooleanField(_("active"), default=True)
    # Per-channel marketing cap: at most cap_count messages per cap_hours (0 = no cap).
    cap_count = models.PositiveIntegerField(_("messages per window"), default=0)
    cap_hours = models.PositiveIntegerField(_("window, hours"), default=24)

    def __str__(self) -> str:
        return f"{self.channel} → {self.transport}"


class SendingPolicy(models.Model):
    """The single row of business rules for marketing sends (edited in the UI)."""

    cap_count = models.PositiveIntegerField(_("marketing messages per window"), default=3)
    cap_hours = models.PositiveIntegerField(_("window, hours"), default=168)
    # Times, not "21:00": a row made on first use is compared before it is ever read back.
    quiet_start = models.TimeField(_("quiet hours start"), default=dt.time(21))
    quiet_end = models.TimeField(_("quiet hours end"), default=dt.time(9))
    # A deferred marketing message older than this is dropped as expired.
    expire_hours = models.PositiveIntegerField(
        _("marketing messages expire after, hours"), default=72
    )
    max_attempts = models.PositiveSmallIntegerField(_("attempts before failing"), default=6)
    open_pixel = models.BooleanField(_("track opens with a pixel"), default=True)

    @classmethod
    def current(cls) -> SendingPolicy:
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy


class BrandVoice(models.Model):
    """How the business sounds on one channel: sender name, greeting, signature.

    The email row also carries how it looks: the designer's colours and logo.
    """

    channel = models.CharField(_("channel"), max_length=16, unique=True)
    sender_name = models.CharField(_("sender name"), max_length=100, blank=True)
    greeting = models.CharField(_("greeting"), max_length=200, blank=True)
    signature = models.TextField(_("signature"), blank=True)
    color_accent = models.CharField(_("accent colour"), max_length=7, default="#2f6f4f")
    color_text = models.CharField(_("text colour"), max_length=7, default="#222222")
    color_background = models.CharField(_("background colour"), max_length=7, default="#f4f1ec")
    logo_url = models.URLField(_("logo address"), max_length=1000, blank=True)


class Template(models.Model):
    """Staff-written message text, rendered only by the sandboxed Jinja2 environment."""

    slug = models.SlugField(_("code"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    channel = models.CharField(_("channel"), max_length=16)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.MARKETING
    )
    topic = models.SlugField(_("topic"), max_length=40, blank=True)
    # The email variant: subject, HTML and its text part.
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body_text = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True)
    # One variant per other kind of channel (see messaging/variants.py): what a template
    # says by SMS, in a messenger (with link buttons [{"label": ..., "url": ...}], both
    # templates too), and a short text any channel without its own variant falls back to.
    # Never the email body: 418 characters are seven SMS.
    sms_text = models.TextField(_("SMS text"), blank=True)
    messenger_text = models.TextField(_("messenger text"), blank=True)
    messenger_buttons = models.JSONField(_("messenger buttons"), default=list, blank=True)
    short_text = models.TextField(_("short text"), blank=True)
    # Other languages: {"en": {"subject": ..., "body_text": ..., "body_html": ...,
    # "sms_text": ..., "messenger_text": ..., "messenger_buttons": [...], "short_text": ...}};
    # the customer's language picks one, the fields above are the default (Russian).
    translations = models.JSONField(_("translations"), default=dict, blank=True)
    # Email: From shows the customer's personal manager's name (the channel's sender name
    # for customers without one), so a privileged customer hears from a person.
    sender_manager = models.BooleanField(
        _("sender name: the customer's personal manager"), default=False
    )
    # The email designer's blocks ({"blocks": [...], "brand": {...}}); empty for a template
    # written by hand. Saving a design writes body_html and body_text from it.
    design = models.JSONField(_("email design"), default=dict, blank=True)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.name


class Topic(models.Model):
    """A kind of marketing mail a customer can opt out of alone (news, offers, reminders)."""

    slug = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("name in English"), max_length=100, blank=True)

    def __str__(self) -> str:
        return self.name


class TopicOptOut(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="topic_opt_outs")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE)
    at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "topic"], name="topic_opt_out_unique")
        ]


class Status(models.TextChoices):
    QUEUED = "queued", _("Queued")
    DEFERRED = "deferred", _("Deferred")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    SUPPRESSED = "suppressed", _("Suppressed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    UNKNOWN = "unknown", _("Unknown")


DUE_STATUSES = (Status.QUEUED, Status.DEFERRED)
DONE_STATUSES = (Status.SENT, Status.DELIVERED)


class Message(models.Model):
    """One outbound message. The dedupe key makes every producer idempotent.

    Indexes. A status change cannot be a heap-only update (status is in the sweeps'
    partial indexes, sent_at in the caps' index), so every index on this table is written
    again on each of a message's three or four status changes: each one kept names the
    query that pays for it, below. Not indexed: customer alone (the two customer indexes
    lead with it), topic and template (no query filters messages by them; deleting a
    template, a rare staff act, reads the table once to unlink its messages).
    """

    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
    )
    # Unique: the idempotency of every producer (message_enqueue looks keys up).
    dedupe_key = models.CharField(max_length=200)
    channel = models.CharField(_("channel"), max_length=16)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    topic = models.SlugField(_("topic"), max_length=40, blank=True, db_index=False)
    template = models.ForeignKey(
        Template, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    to = models.CharField(_("to"), max_length=1000, blank=True)
    transport = models.CharField(_("transport"), max_length=32, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body_text = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True)
    payload = models.JSONField(default=dict, blank=True)  # webhook body, push data

    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    next_attempt_at = models.DateTimeField(default=clock.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The dispatcher run that holds a `sending` row, and until when (see dispatch recovery).
    claim = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)

    created_at = models.DateTimeField(default=clock.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    # Where it came from (plain ids: the outbox must not depend on the journeys app).
    journey_id = models.BigIntegerField(null=True, blank=True)
    enrollment_id = models.BigIntegerField(null=True, blank=True)
    node_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="message_dedupe_key_unique")
        ]
        indexes = [
            # The dispatch sweep: due rows only, so the index stays small. The claim reads
            # them ORDER BY next_attempt_at, id: with id in the index a queue due at one
            # instant is still read in order and stops at the batch, not sorted whole.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="message_due",
                condition=Q(status__in=["queued", "deferred"]),
            ),
            # Stale claims after a crash.
            models.Index(
                fields=["claimed_until"], name="message_sending", condition=Q(status="sending")
            ),
            # The customer card and inbox list a customer's messages newest first; a
            # customer merge and a customer's deletion find their messages by it.
            models.Index(fields=["customer", "-created_at"]),
            # Frequency caps count a customer's recent sends (gates.py, every claim).
            models.Index(fields=["customer", "sent_at"]),
            # Delivery receipts and replies find a message by the provider's id (SMS
            # status hooks, email References), and so does `lifelong mail-log-reconcile`.
            models.Index(fields=["channel", "provider_id"]),
            # A journey's report counts its messages per node.
            models.Index(fields=["journey_id", "node_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.pk} {self.status}"

    @property
    def is_marketing(self) -> bool:
        return self.purpose == Purpose.MARKETING


class MessageLink(models.Model):
    """A link inside a sent message. A click resolves this row, never a URL from the request."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="links")
    url = models.URLField(max_length=2000)
    clicks = models.PositiveIntegerField(default=0)


class PushSubscription(models.Model):
    """A browser's Web Push subscription (endpoint and keys), given on the customer portal."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint"], name="push_subscription_endpoint_unique")
        ]


class Suppression(models.Model):
    """An address we must not send to again (hard bounce, complaint, invalid number)."""

    channel = models.CharField(_("channel"), max_length=16)
    address = models.CharField(_("address"), max_length=500)
    reason = models.CharField(_("reason"), max_length=200)
    at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "address"], name="suppression_unique")
        ]
