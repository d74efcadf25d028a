"""The loyalty programme: its settings, earning rules and the double-entry points ledger.

The ledger (see ledger.py for how postings are made and how holds fit):
- `Account`: one per customer, plus one per system kind (issued, redeemed, expired,
  adjusted). A customer account has four buckets: available, pending (earned, inside the
  return window), held (reserved at checkout) and status (points for tiers, never spent).
- `Transaction`: one business fact with a unique idempotency key and its reason (the rule,
  the order, the journey step, the staff member and comment). Never updated or deleted.
- `Entry`: a signed integer amount on one account's bucket. The entries of a transaction sum
  to zero, spendable buckets and the status bucket each on their own. Never updated or deleted.
- `Lot`: the points of one earn, with their own pending period and expiry. Every customer
  entry in the pending or available bucket names the lot it adds to or draws from, so
  `Lot.remaining` always equals the sum of that lot's entries.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.loyalty.privileges import PRIVILEGES


class Rounding(models.TextChoices):
    DOWN = "down", _("Down to a whole point")
    NEAREST = "nearest", _("To the nearest whole point (half up)")


class DebtPolicy(models.TextChoices):
    DEBT = "debt", _("Allow a debt that the next earn repays")
    CAP = "cap", _("Stop at zero and record the shortfall")


class Programme(models.Model):
    """The one row of programme settings (edited on the loyalty settings page, audited)."""

    enabled = models.BooleanField(_("programme is on"), default=False)
    # Purchases made before the programme started earn nothing.
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    name_one = models.CharField(_("points' name, one (1 балл)"), max_length=40, default="балл")
    name_few = models.CharField(_("points' name, few (2 балла)"), max_length=40, default="балла")
    name_many = models.CharField(
        _("points' name, many (5 баллов)"), max_length=40, default="баллов"
    )
    rounding = models.CharField(
        _("rounding of earned points"),
        max_length=8,
        choices=Rounding.choices,
        default=Rounding.DOWN,
    )
    point_value = models.DecimalField(
        _("value of one point, roubles"), max_digits=8, decimal_places=2, default=Decimal("1")
    )
    pending_days = models.PositiveIntegerField(
        _("days before earned points can be spent (return window)"), default=14
    )
    expiry_months = models.PositiveIntegerField(
        _("months an earned lot lives (0: never expires)"), default=12
    )
    max_share_percent = models.PositiveIntegerField(
        _("largest share of an order payable with points, %"), default=50
    )
    debt_policy = models.CharField(
        _("when a refund takes back points already spent"),
        max_length=8,
        choices=DebtPolicy.choices,
        default=DebtPolicy.DEBT,
    )
    tier_window_months = models.PositiveIntegerField(
        _("months of activity that count for a tier (rolling window)"), default=12
    )
    tier_grace_days = models.PositiveIntegerField(
        _("days of grace before a tier goes down"), default=30
    )

    def __str__(self) -> str:
        return "loyalty programme"

    @classmethod
    def current(cls) -> Programme:
        """The settings row, created with the defaults on first use."""
        row, _created = cls.objects.get_or_create(pk=1)
        return row

    @classmethod
    def read(cls) -> Programme:
        """The settings as they are, for pages that only read: the defaults, unsaved, before the
        row exists (a GET never writes)."""
        return cls.objects.filter(pk=1).first() or cls()

    def clean(self) -> None:
        if self.point_value <= 0:
            raise ValidationError({"point_value": _("A point must be worth more than zero.")})
        if self.max_share_percent > 100:
            raise ValidationError({"max_share_percent": _("A share is at most 100 %.")})
        if self.pending_days > 365:
            raise ValidationError({"pending_days": _("At most 365 days.")})
        if not 1 <= self.tier_window_months <= 60:
            raise ValidationError({"tier_window_months": _("From 1 to 60 months.")})
        if self.tier_grace_days > 365:
            raise ValidationError({"tier_grace_days": _("At most 365 days.")})
        if self.expiry_months and self.expiry_months * 30 <= self.pending_days:
            raise ValidationError(
                {"expiry_months": _("Points must live longer than their pending period.")}
            )

    def points_name(self, points: int) -> str:
        """The name agreeing with the number, by the Russian rule: 1 балл, 3 балла, 5 баллов."""
        n = abs(points)
        if n % 10 == 1 and n % 100 != 11:
            return self.name_one
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return self.name_few
        return self.name_many


class RuleKind(models.TextChoices):
    PURCHASE = "purchase", _("Purchases: the base rate")
    CATEGORY = "category", _("Purchases: a category multiplier")
    PRODUCT = "product", _("Purchases: a product multiplier")
    EVENT = "event", _("An action (event)")


class RateMode(models.TextChoices):
    PER_ROUBLES = "per_roubles", _("points per N roubles")
    PERCENT = "percent", _("percent of the amount, in points' value")


# A cooldown longer than this is a cap: "once per N days" says it better.
COOLDOWN_MAX_MINUTES = 30 * 24 * 60


class EarningRule(models.Model):
    """One way to earn points; rules are data, edited on the loyalty settings page.

    Purchases: one active `purchase` rule gives the base rate; `category` and `product`
    rules multiply it for matching lines (the largest multiplier wins). Events: each active
    `event` rule awards `points` (spendable) and `status_points` (for tiers) for an event type,
    at most `cap_count` times per `cap_days` per customer (0: no cap), and never twice to the
    same customer within `cooldown_minutes` (0: no cooldown), so a flood of events (a chat
    member posting a thousand messages a minute) earns what one event does.
    """

    kind = models.CharField(_("kind"), max_length=16, choices=RuleKind.choices)
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    mode = models.CharField(
        _("rate"), max_length=16, choices=RateMode.choices, default=RateMode.PER_ROUBLES
    )
    rate = models.DecimalField(
        _("points per N roubles, or percent"),
        max_digits=8,
        decimal_places=2,
        default=Decimal("1"),
    )
    per_roubles = models.PositiveIntegerField(_("N roubles"), default=100)
    category = models.CharField(_("category"), max_length=128, blank=True)
    sku = models.CharField(_("product SKU"), max_length=64, blank=True)
    multiplier = models.DecimalField(
        _("multiplier"), max_digits=6, decimal_places=2, default=Decimal("1")
    )
    event_type = models.CharField(_("event type"), max_length=64, blank=True, db_index=True)
    points = models.PositiveIntegerField(_("points"), default=0)
    status_points = models.PositiveIntegerField(_("status points"), default=0)
    cap_count = models.PositiveIntegerField(_("at most N times"), default=0)
    cap_days = models.PositiveIntegerField(_("per N days"), default=0)
    cooldown_minutes = models.PositiveIntegerField(_("at least N minutes apart"), default=0)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["kind", "pk"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.kind == RuleKind.PURCHASE and (self.rate <= 0 or self.per_roubles == 0):
            errors["rate"] = _("The rate must be positive.")
        if self.kind == RuleKind.CATEGORY and not self.category:
            errors["category"] = _("Name the category.")
        if self.kind == RuleKind.PRODUCT and not self.sku:
            errors["sku"] = _("Name the product's SKU.")
        if self.kind in (RuleKind.CATEGORY, RuleKind.PRODUCT) and self.multiplier <= 0:
            errors["multiplier"] = _("The multiplier must be positive.")
        if self.kind == RuleKind.EVENT:
            if not self.event_type:
                errors["event_type"] = _("Name the event type.")
            if not self.points and not self.status_points:
                errors["points"] = _("Award some points or status points.")
            if bool(self.cap_count) != bool(self.cap_days):
                errors["cap_days"] = _("A cap needs both a count and a period.")
            if self.cooldown_minutes > COOLDOWN_MAX_MINUTES:
                errors["cooldown_minutes"] = _("At most 30 days (43 200 minutes).")
        if errors:
            raise ValidationError(errors)


class AccountKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    ISSUED = "issued", _("Issued")
    REDEEMED = "redeemed", _("Redeemed")
    EXPIRED = "expired", _("Expired")
    ADJUSTED = "adjusted", _("Adjusted")


class Bucket(models.IntegerChoices):
    AVAILABLE = 1, _("available")
    PENDING = 2, _("pending")
    HELD = 3, _("held")
    STATUS = 4, _("status")


class Account(models.Model):
    """A customer's points, or a system account. Customer balances are caches of the entries.

    System accounts keep no cached balance: one hot row updated by every posting would
    serialise all writers; their totals are sums over their entries.
    """

    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    customer = models.OneToOneField(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="points_account",
    )
    available = models.BigIntegerField(default=0)
    pending = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    status = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=~Q(kind="customer"), name="account_system_kind_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind="customer", customer__isnull=False)
                | (~Q(kind="customer") & Q(customer__isnull=True)),
                name="account_customer_iff_customer_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.customer_id or ''}".strip()

    def balance(self, bucket: int) -> int:
        return int(getattr(self, BUCKET_FIELDS[bucket]))


BUCKET_FIELDS: dict[int, str] = {
    Bucket.AVAILABLE: "available",
    Bucket.PENDING: "pending",
    Bucket.HELD: "held",
    Bucket.STATUS: "status",
}


class TxKind(models.TextChoices):
    EARN = "earn", _("Earned for a purchase")
    AWARD = "award", _("Awarded for an action")
    RELEASE = "release", _("Became spendable")
    REDEEM = "redeem", _("Spent")
    EXPIRE = "expire", _("Expired")
    REVERSE = "reverse", _("Taken back: refund or cancellation")
    RESTORE = "restore", _("Given back: refund or cancellation")
    ADJUST = "adjust", _("Adjusted by staff")
    MERGE = "merge", _("Moved from a merged customer")
    # Posted by the checkout API (see ledger.py, "Holds").
    HOLD = "hold", _("Held at checkout")
    CONFIRM = "confirm", _("Checkout confirmed")
    UNHOLD = "unhold", _("Hold released")


class ImmutableQuerySet(models.QuerySet[Any]):
    """Ledger rows are facts: a queryset cannot update or delete them."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError(f"{self.model.__name__} rows are never updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError(f"{self.model.__name__} rows are never deleted")


class _Immutable(models.Model):
    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError(f"{type(self).__name__} rows are never deleted")


class Transaction(_Immutable):
    """One balanced posting with its idempotency key and its reason."""

    key = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=TxKind.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # When the fact happened (an earn's lot dates count from it); created_at is when posted.
    occurred_at = models.DateTimeField(default=clock.now)
    created_at = models.DateTimeField(default=clock.now)
    rule = models.ForeignKey(
        EarningRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order = models.ForeignKey(
        "commerce.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund = models.ForeignKey(
        "commerce.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    event = models.ForeignKey(
        "events.Event",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    enrollment_id = models.BigIntegerField(null=True, blank=True)
    node_id = models.CharField(max_length=64, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    comment = models.CharField(max_length=500, blank=True)
    # Points a refund could not take back under the "stop at zero" policy: recorded, not lost.
    shortfall = models.PositiveIntegerField(default=0)
    # An order's earn: per SKU [sku, quantity, money, money x multiplier] as earned, so a
    # refund by lines takes back exactly what those lines earned (refunds.py).
    lines = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key"], name="loyalty_transaction_key")]
        indexes = [
            models.Index(fields=["customer", "created_at"]),
            models.Index(fields=["order", "kind"]),
            models.Index(fields=["rule", "customer", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return self.key


class Lot(models.Model):
    """The points of one earn. `remaining` is a cache of the sum of the lot's entries."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    source = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="lot")
    points = models.PositiveIntegerField()
    remaining = models.IntegerField()
    pending_until = models.DateTimeField(null=True, blank=True)
    released = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Burns draw oldest-expiring first among the customer's lots that have points left.
            models.Index(
                fields=["customer", "expires_at"],
                condition=Q(remaining__gt=0),
                name="lot_customer_open",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_expiry_due"
            ),
            models.Index(
                fields=["pending_until"], condition=Q(released=False), name="lot_release_due"
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.points}"

    @property
    def bucket(self) -> int:
        return Bucket.AVAILABLE if self.released else Bucket.PENDING


class Entry(_Immutable):
    """A signed amount on one account's bucket; customer pending/available entries name a lot."""

    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    # (account, id) below serves a customer's history; no separate index.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    bucket = models.PositiveSmallIntegerField(choices=Bucket.choices)
    points = models.BigIntegerField()
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )

    class Meta:
        indexes = [
            models.Index(fields=["account", "id"]),
            # Tier qualification sums a customer's status points by their transactions' dates.
            models.Index(
                fields=["account", "transaction"], condition=Q(bucket=4), name="entry_status"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} {self.get_bucket_display()}"


class Cursor(models.Model):
    """How far the earning sweep has read the event log."""

    name = models.CharField(max_length=40, unique=True)
    last_event_id = models.BigIntegerField(default=0)


class HoldStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CONFIRMED = "confirmed", _("Confirmed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class Hold(models.Model):
    """Points reserved against an order at checkout (see holds.py and ledger.py, "Holds").

    `status` changes only under the customer's account lock, in the same transaction as the
    ledger posting that justifies it (`hold:<id>`, `hold:<id>:confirm`, `hold:<id>:release`).
    """

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    order_external_id = models.CharField(max_length=128)
    points = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=HoldStatus.choices, default=HoldStatus.OPEN)
    confirmed_points = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open hold per order: a checkout retried without Idempotency-Key cannot
            # reserve the same order's points twice.
            models.UniqueConstraint(
                fields=["customer", "order_external_id"],
                condition=Q(status="open"),
                name="hold_one_open_per_order",
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="open"), name="hold_open_due"),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk}: {self.points} ({self.status})"


# Tiers (see tiers.py for qualification, the review sweep and the events they write).

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour like #1f6feb."))


class Tier(models.Model):
    """A status level with a living name (Новичок, Знаток, Эксперт, Гуру).

    A higher `position` is a higher tier. A customer qualifies when ANY threshold that is not
    zero is met over the programme's rolling window (status points, or spend, or orders), so the
    status page can say «ещё 2 заказа или 3 400 ₽». A tier with no threshold at all is the
    entry level: every customer holds it until they reach a higher one. An `invitation_only`
    tier is never reached by qualification, only set by staff. Tiers are switched off, never
    deleted.
    """

    slug = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    colour = models.CharField(_("colour"), max_length=7, default="#6e7781", validators=[HEX_COLOUR])
    position = models.PositiveIntegerField(_("position (higher is a higher tier)"), unique=True)
    min_status_points = models.PositiveIntegerField(_("status points in the window"), default=0)
    min_spend = models.DecimalField(
        _("spend in the window, roubles"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    min_orders = models.PositiveIntegerField(_("orders in the window"), default=0)
    invitation_only = models.BooleanField(_("by invitation only"), default=False)
    earn_multiplier = models.DecimalField(
        _("purchase points multiplier"), max_digits=6, decimal_places=2, default=Decimal("1")
    )
    privileges = models.JSONField(_("privileges"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name

    @property
    def open_to_all(self) -> bool:
        """No threshold: every customer qualifies (the entry level)."""
        return not (self.min_status_points or self.min_spend or self.min_orders)

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.earn_multiplier is not None and self.earn_multiplier <= 0:
            errors["earn_multiplier"] = _("The multiplier must be positive.")
        if self.min_spend is not None and self.min_spend < 0:
            errors["min_spend"] = _("Spend cannot be negative.")
        if not isinstance(self.privileges, list) or any(
            p not in PRIVILEGES for p in self.privileges
        ):
            errors["privileges"] = _("Unknown privilege.")
        if errors:
            raise ValidationError(errors)


class CustomerTier(models.Model):
    """A customer's tier: one row per customer who has or had one.

    `tier` is the qualified tier; `review_at` is the earliest moment it may go down (the last
    time the customer was seen qualifying for it, plus the window, plus the grace period).
    A manual tier always carries `manual_until`: it lapses then, and a manual level never
    silently becomes a floor. `changes` counts tier changes: the n-th change writes the event
    keyed `tier_changed:<customer>:<n>`, so each change is announced exactly once.
    """

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.PROTECT, related_name="loyalty_tier"
    )
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    since = models.DateTimeField(_("in this tier since"), null=True, blank=True)
    qualified_at = models.DateTimeField(_("last seen qualifying"), null=True, blank=True)
    review_at = models.DateTimeField(_("earliest downgrade"), null=True, blank=True)
    manual_tier = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tier set by staff"),
    )
    manual_until = models.DateTimeField(_("set by staff until"), null=True, blank=True)
    manual_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    manual_reason = models.CharField(_("reason"), max_length=500, blank=True)
    # The effective tier's slug as last announced, and how many changes were announced.
    shown = models.CharField(max_length=40, blank=True)
    changes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(manual_tier__isnull=True) | Q(manual_until__isnull=False),
                name="customer_tier_manual_has_until",
            ),
        ]
        indexes = [
            # The review sweep walks these two partial indexes by date.
            models.Index(
                fields=["review_at"], condition=Q(review_at__isnull=False), name="tier_review_due"
            ),
            models.Index(
                fields=["manual_until"],
                condition=Q(manual_tier__isnull=False),
                name="tier_manual_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.shown or '-'}"


# Referrals (see referrals.py: codes and links, attribution at the friend's first order,
# the guards, and rewards posted through the ledger).


class ReferralCondition(models.TextChoices):
    FIRST_ORDER = "first_order", _("At once, when the friend's first order is paid")
    RETURN_WINDOW = (
        "return_window",
        _("When the friend's first order has passed the return window (the pending period)"),
    )


class ReferralSettings(models.Model):
    """The one row of referral settings (edited on the referrals page, audited)."""

    enabled = models.BooleanField(_("referrals are on"), default=False)
    # First orders paid before the start are not attributed (set when first switched on).
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    referrer_points = models.PositiveIntegerField(_("points to the referrer"), default=0)
    friend_points = models.PositiveIntegerField(_("points to the friend"), default=0)
    condition = models.CharField(
        _("rewards are given"),
        max_length=16,
        choices=ReferralCondition.choices,
        default=ReferralCondition.RETURN_WINDOW,
    )
    min_order_total = models.DecimalField(
        _("smallest first order, roubles"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    limit_count = models.PositiveIntegerField(_("at most N rewarded friends"), default=0)
    limit_days = models.PositiveIntegerField(_("per N days, per referrer"), default=0)
    shop_url = models.URLField(_("shop address the referral link opens"), blank=True)

    def __str__(self) -> str:
        return "referral settings"

    @classmethod
    def current(cls) -> ReferralSettings:
        """The settings row, created with the defaults on first use."""
        row, _created = cls.objects.get_or_create(pk=1)
        return row

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if bool(self.limit_count) != bool(self.limit_days):
            errors["limit_days"] = _("A limit needs both a count and a period.")
        if self.min_order_total is not None and self.min_order_total < 0:
            errors["min_order_total"] = _("The smallest order cannot be negative.")
        if self.shop_url and not self.shop_url.lower().startswith(("https://", "http://")):
            errors["shop_url"] = _("An address starting with https://.")
        if self.enabled and not self.shop_url:
            errors["shop_url"] = _("Referral links need the shop's address.")
        if errors:
            raise ValidationError(errors)


class ReferralCode(models.Model):
    """A customer's referral code (made on first use); `visits` counts its link's visits."""

    # Deleted with the customer (only the demo deletes customers); the points stay in the ledger.
    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )
    code = models.CharField(max_length=16)
    visits = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code"], name="referral_code_unique")]

    def __str__(self) -> str:
        return self.code


class ReferralStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for the condition")
    CONVERTED = "converted", _("Converted")
    REFUSED = "refused", _("Refused")


class RefusalReason(models.TextChoices):
    SAME_CUSTOMER = "same_customer", _("The friend is the referrer")
    SAME_EMAIL = "same_email", _("Same email as the referrer")
    SAME_PHONE = "same_phone", _("Same phone as the referrer")
    SAME_PAYMENT = "same_payment", _("Same payment card as the referrer")
    SAME_ADDRESS = "same_address", _("Same address as the referrer")
    NOT_NEW = "not_new", _("The friend had bought before naming the code")
    ORDER_RETURNED = "order_returned", _("The first order was cancelled or refunded")
    ORDER_SMALL = "order_small", _("The first order is below the smallest amount")
    LIMIT = "limit", _("The referrer's limit for the period was reached")


class Referral(models.Model):
    """A friend who came with a referrer's code, recorded at the friend's first paid order.

    A friend is referred once (the one-to-one). The referral waits until `due_at` (the
    condition), then is decided once: converted (rewards posted with the keys
    `referral:<id>:referrer` and `referral:<id>:friend`, and a `referral_converted` event) or
    refused with its `reason`.
    """

    referrer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    friend = models.OneToOneField("customers.Customer", on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=16)
    # Where the code came from: the customer's `referral_code` attribute or the order's coupon.
    via = models.CharField(max_length=16)
    order = models.ForeignKey("commerce.Order", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=16, choices=ReferralStatus.choices, default=ReferralStatus.WAITING
    )
    reason = models.CharField(max_length=24, choices=RefusalReason.choices, blank=True)
    ordered_at = models.DateTimeField()
    due_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    referrer_points = models.PositiveIntegerField(default=0)
    friend_points = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(status="waiting"), name="referral_waiting_due"
            ),
            # A referrer's friends (summary, limit per period) by the time of the first order.
            models.Index(fields=["referrer", "ordered_at"], name="referral_referrer"),
        ]

    def __str__(self) -> str:
        return f"referral {self.pk}: {self.referrer_id} -> {self.friend_id} ({self.status})"
