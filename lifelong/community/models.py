"""Clubs: a closed Telegram group or channel, or a VK conversation, for the best customers.

- `Club`: one chat the bot administers, with its entry rule (a tier, a segment, an invitation
  by staff, or open to every customer with a linked messenger) and its removal policy.
- `ClubInvite`: the single-use invite link made for one customer (at most one per club and
  customer: a retry reuses it).
- `ClubMember`: a person in (or once in) the chat, matched to a customer when we can.
- `ClubActivity`: per member per day counters of messages, replies and reactions. Counts and
  times only; the text of a message is kept only when the club's owner turns `keep_texts` on
  (`ClubText`).
- `ClubUpdate`: the bot updates already applied, so a redelivered update changes nothing.

Writes go through `community.services`; the Bot API calls through `community.telegram`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from lifelong import clock


class ClubKind(models.TextChoices):
    TELEGRAM_GROUP = "telegram_group", _("Telegram group")
    TELEGRAM_CHANNEL = "telegram_channel", _("Telegram channel")
    VK_CHAT = "vk_chat", _("VK conversation")


TELEGRAM_KINDS = (ClubKind.TELEGRAM_GROUP, ClubKind.TELEGRAM_CHANNEL)


class EntryRule(models.TextChoices):
    TIER = "tier", _("customers of a tier or higher")
    SEGMENT = "segment", _("customers in a segment")
    STAFF = "staff", _("by staff invitation")
    OPEN = "open", _("every customer with a linked messenger")


class BotStatus(models.TextChoices):
    UNKNOWN = "", _("not checked yet")
    ADMIN = "administrator", _("administrator")
    MEMBER = "member", _("member without admin rights")
    GONE = "left", _("removed from the chat")


class Club(models.Model):
    """A chat the business's bot administers, and who may be in it.

    Entry by `tier` admits customers whose effective tier is `tier` or higher; by `segment`,
    the segment's current members; by `staff`, whoever staff invited; `open`, every customer
    with a linked chat on the club's messenger. A member who stops qualifying is removed
    `grace_days` after we first saw it (a tier can come back within the grace period), with
    `removal_text` (or our default) sent to them privately. Clubs are switched off, not
    deleted: members and history stay.
    """

    title = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=16, choices=ClubKind.choices, default=ClubKind.TELEGRAM_GROUP
    )
    chat_id = models.CharField(
        _("chat id"),
        max_length=32,
        help_text=_(
            "Telegram: the group's or channel's id, like -1001234567890. "
            "VK: the conversation's peer id, like 2000000001."
        ),
    )
    entry = models.CharField(
        _("who may join"), max_length=16, choices=EntryRule.choices, default=EntryRule.TIER
    )
    tier = models.ForeignKey(
        "loyalty.Tier",
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    segment = models.ForeignKey(
        "segments.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    grace_days = models.PositiveIntegerField(
        _("days before a member who no longer qualifies is removed"), default=14
    )
    invite_days = models.PositiveIntegerField(_("days an invite link stays valid"), default=7)
    invite_text = models.TextField(_("invitation text"), blank=True)
    removal_text = models.TextField(_("message to a removed member"), blank=True)
    keep_texts = models.BooleanField(_("keep the text of members' messages"), default=False)
    # VK has no single-use links: staff paste the conversation's reusable link here, and only
    # qualifying customers are ever shown it.
    vk_link = models.URLField(_("VK conversation link"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    # What the bot's own membership update (my_chat_member) last said.
    bot_status = models.CharField(
        _("bot"), max_length=16, choices=BotStatus.choices, default=BotStatus.UNKNOWN, blank=True
    )
    bot_can_invite = models.BooleanField(default=False)
    bot_can_restrict = models.BooleanField(default=False)
    bot_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("club")
        verbose_name_plural = _("clubs")
        ordering = ["title", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "chat_id"], name="club_chat_unique"),
            models.CheckConstraint(
                condition=~Q(entry="tier") | Q(tier__isnull=False), name="club_tier_rule_has_tier"
            ),
            models.CheckConstraint(
                condition=~Q(entry="segment") | Q(segment__isnull=False),
                name="club_segment_rule_has_segment",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def on_telegram(self) -> bool:
        return self.kind in TELEGRAM_KINDS


class InviteSource(models.TextChoices):
    JOURNEY = "journey", _("journey step")
    CAMPAIGN = "campaign", _("campaign")
    STAFF = "staff", pgettext_lazy("invitation source", "staff")


class ClubInvite(models.Model):
    """One customer's single-use link into one club.

    The row is claimed first (unique per club and customer) and the link is asked of Telegram
    after commit, so two retries never make two links; `link` stays empty until Telegram
    answered. An unused link past `expires_at` is revoked and replaced in the same row.
    """

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="invites")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="club_invites"
    )
    link = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=16, choices=InviteSource.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The last Bot API refusal, shown to staff (no rights to invite, chat not found).
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["club", "customer"], name="club_invite_once"),
            models.UniqueConstraint(
                fields=["link"], condition=~Q(link=""), name="club_invite_link_unique"
            ),
        ]
        indexes = [models.Index(fields=["customer"], name="club_invite_customer")]

    def __str__(self) -> str:
        return f"{self.club_id}:{self.customer_id}"


class MemberStatus(models.TextChoices):
    INVITED = "invited", _("invited")
    JOINED = "joined", _("in the club")
    LEFT = "left", _("left")
    REMOVED = "removed", _("removed")


class RemovalReason(models.TextChoices):
    TIER = "tier", _("tier went down")
    SEGMENT = "segment", _("left the segment")
    UNLINKED = "unlinked", _("messenger no longer linked")
    STAFF = "staff", _("removed by staff")
    CHAT_ADMIN = "chat_admin", _("removed by a chat admin")


class ClubMember(models.Model):
    """A person in (or once in) a club's chat.

    `customer` is set when the person came through one of our links or their user id is a
    customer's linked chat; people we cannot match (the owner, early members) are still
    counted by `user_id`. `lapsed_at` is when the removal sweep first saw the member no longer
    qualify; it is cleared if they qualify again and removal is due `grace_days` after it.
    """

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="club_memberships",
    )
    # The Telegram user id, or the VK user id in a VK club.
    user_id = models.BigIntegerField(null=True, blank=True)
    name = models.CharField(_("name in the chat"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=MemberStatus.choices, default=MemberStatus.INVITED
    )
    invite = models.ForeignKey(
        ClubInvite, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    joined_at = models.DateTimeField(_("joined"), null=True, blank=True)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=16, choices=RemovalReason.choices, blank=True)
    lapsed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["club", "customer"],
                condition=Q(customer__isnull=False),
                name="club_member_customer_unique",
            ),
            models.UniqueConstraint(
                fields=["club", "user_id"],
                condition=Q(user_id__isnull=False),
                name="club_member_user_unique",
            ),
        ]
        indexes = [
            # The club page lists members by status; the removal sweep walks joined members.
            models.Index(fields=["club", "status", "-joined_at"], name="club_member_status"),
            models.Index(fields=["customer"], name="club_member_customer"),
            models.Index(
                fields=["lapsed_at"],
                condition=Q(status="joined", lapsed_at__isnull=False),
                name="club_member_lapsed_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.club_id}:{self.customer_id or self.user_id}"


class ClubActivity(models.Model):
    """One member's activity in one club on one day (the club's calendar day, UTC).

    A row with no member holds the anonymous reactions of a channel, which Telegram reports
    only as totals per post.
    """

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="activity")
    member = models.ForeignKey(
        ClubMember, null=True, blank=True, on_delete=models.CASCADE, related_name="activity"
    )
    day = models.DateField()
    messages = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    reactions = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "day"],
                condition=Q(member__isnull=False),
                name="club_activity_member_day",
            ),
            models.UniqueConstraint(
                fields=["club", "day"],
                condition=Q(member__isnull=True),
                name="club_activity_anonymous_day",
            ),
        ]
        indexes = [models.Index(fields=["club", "day"], name="club_activity_club_day")]

    def __str__(self) -> str:
        return f"{self.club_id}:{self.member_id}:{self.day}"


class ClubText(models.Model):
    """A message's text, kept only while the club's `keep_texts` is on, and for 90 days at
    most (the removal sweep deletes older ones). Shown on the club's page to staff who may
    change the club."""

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="texts")
    member = models.ForeignKey(ClubMember, on_delete=models.CASCADE, related_name="texts")
    message_id = models.BigIntegerField()
    text = models.TextField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["club", "message_id"], name="club_text_once")
        ]
        indexes = [models.Index(fields=["club", "-sent_at"], name="club_text_recent")]


class ClubUpdate(models.Model):
    """A bot update already applied: its id is claimed before anything else is written, in the
    same transaction, so a redelivered update (Telegram retries until it gets a 2xx) is a
    no-op. Rows older than a week are pruned by the sweep: Telegram gives up after a day."""

    source = models.CharField(max_length=16)
    update_id = models.BigIntegerField()
    received_at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "update_id"], name="club_update_once")
        ]


# ---------------------------------------------------------------------------------------------
# Activity that counts, rewards for the month's most active, scheduled posts and early access
# (community.activity, community.rewards, community.posts, community.early_access).


WEEK_MESSAGES_DEFAULT = 3


class ClubActivityRule(models.Model):
    """How a club counts a member's ISO week as active (the `community_active_week` event).

    A club without a row counts `WEEK_MESSAGES_DEFAULT` messages.
    """

    club = models.OneToOneField(Club, on_delete=models.CASCADE, related_name="activity_rule")
    week_messages = models.PositiveIntegerField(
        _("messages in a week that make a member active"), default=WEEK_MESSAGES_DEFAULT
    )

    def __str__(self) -> str:
        return f"{self.club_id}: {self.week_messages}"


class RewardKind(models.TextChoices):
    POINTS = "points", _("Points")
    BADGE = "badge", _("Badge")
    THANKS = "thanks", _("Thank-you message")


class RewardSettings(models.Model):
    """The one row saying what the one-click rewards give (edited on the activity page)."""

    points = models.PositiveIntegerField(_("points for an active member"), default=100)
    # The badge is a customer tag: segments, journeys and the card already read tags.
    badge = models.CharField(
        _("badge (a customer tag)"), max_length=64, default="Активный участник клуба"
    )
    thanks_template = models.ForeignKey(
        "messaging.Template",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("thank-you message template"),
    )

    def __str__(self) -> str:
        return "community rewards"

    @classmethod
    def read(cls) -> RewardSettings:
        """The settings as they are; the defaults, unsaved, before the row exists."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class ClubReward(models.Model):
    """A reward given to a customer for a month's activity: once per customer, month and kind
    whichever list it was clicked in, so a double click (or two staff at once) gives once."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    month = models.DateField()  # the month's first day
    kind = models.CharField(max_length=16, choices=RewardKind.choices)
    club = models.ForeignKey(
        Club, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    points = models.PositiveIntegerField(default=0)
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "month", "kind"], name="club_reward_once_a_month"
            )
        ]
        indexes = [models.Index(fields=["month", "customer"], name="club_reward_month")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.month:%Y-%m}:{self.kind}"


class PostSchedule(models.TextChoices):
    ONCE = "once", _("Once")
    WEEKLY = "weekly", _("Every week")


class ClubPost(models.Model):
    """A post the bot makes in the club's chat from a template, once or every week.

    `next_run_at` is the next due moment (None once a one-off post is done or the post is
    paused); the posts sweep walks the partial index on it. Each run is one outbox message
    keyed by the post and the run's moment, so a sweep that runs twice posts once.
    """

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="posts")
    template = models.ForeignKey(
        "messaging.Template", on_delete=models.PROTECT, related_name="+", verbose_name=_("template")
    )
    schedule = models.CharField(
        _("when"), max_length=8, choices=PostSchedule.choices, default=PostSchedule.WEEKLY
    )
    once_at = models.DateTimeField(_("at"), null=True, blank=True)
    weekday = models.PositiveSmallIntegerField(_("weekday"), null=True, blank=True)  # 0: Monday
    time = models.TimeField(_("time"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_run_at"],
                condition=Q(active=True, next_run_at__isnull=False),
                name="club_post_due",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(schedule="once") | Q(once_at__isnull=False),
                name="club_post_once_has_moment",
            ),
            models.CheckConstraint(
                condition=~Q(schedule="weekly") | Q(weekday__isnull=False, time__isnull=False),
                name="club_post_weekly_has_day_and_time",
            ),
        ]

    def __str__(self) -> str:
        return f"post {self.pk} to {self.club_id}"


class EarlyAccess(models.Model):
    """Early access, a tier privilege (loyalty.privileges "early_access") with its settings: a
    product (SKU) or a collection (a product category) that customers of `tier` or higher,
    whose tier opens early access, see from `starts_at`, and everyone from `public_at`.

    `opened_at` is when the early-access sweep recorded `early_access_opened` for the
    qualifying customers (once each, by key). The shop asks the API whether a customer has
    access now, by the customer's id or by the signed token in the link they were sent.
    """

    name = models.CharField(_("name"), max_length=200)
    sku = models.CharField(_("product SKU"), max_length=64, blank=True)
    collection = models.CharField(_("collection (product category)"), max_length=128, blank=True)
    url = models.URLField(_("page in the shop"), max_length=500, blank=True)
    tier = models.ForeignKey(
        "loyalty.Tier", on_delete=models.PROTECT, related_name="+", verbose_name=_("from tier")
    )
    starts_at = models.DateTimeField(_("opens to the tier"))
    public_at = models.DateTimeField(_("opens to everyone"))
    opened_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["starts_at"], condition=Q(opened_at__isnull=True), name="early_access_due"
            ),
            models.Index(fields=["sku"], name="early_access_sku"),
            models.Index(fields=["collection"], name="early_access_collection"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(sku="") | ~Q(collection=""), name="early_access_names_goods"
            ),
            models.CheckConstraint(
                condition=Q(public_at__gt=models.F("starts_at")), name="early_access_before_all"
            ),
        ]

    def __str__(self) -> str:
        return self.name
