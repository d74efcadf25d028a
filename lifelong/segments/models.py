"""Lifecycle stages, RFM scores, loyal types and rule segments of customers.

The Customer table belongs to `customers`; everything computed about a customer
lives in `CustomerState`, one row per customer, refreshed by sweeps.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.lib.finite_json import FiniteJSONEncoder


class Stage(models.TextChoices):
    LEAD = "lead", _("Lead")
    NEW = "new", _("New")
    REPEAT = "repeat", _("Repeat")
    LOYAL = "loyal", _("Loyal")
    AT_RISK = "at_risk", _("At risk")
    SLEEPING = "sleeping", _("Sleeping")
    CHURNED = "churned", _("Churned")


class RfmSegment(models.TextChoices):
    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALISTS = "potential_loyalists", _("Potential loyalists")
    NEW = "new", _("New")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose them")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")


class LoyalType(models.TextChoices):
    PROFITABLE = "profitable", _("Profitable devotee")
    LIMITED = "limited", _("Limited devotee")
    LAZY = "lazy", _("Lazy devotee")


class LifecycleRules(models.Model):
    """The one row of thresholds behind stages and loyal types (edited in the UI).

    Defaults, and why (docs/segments.md has the full rules):
    - at_risk_factor k = 2: a customer is at risk once the silence since the last
      order is twice their own mean gap between orders, (last - first) / (count - 1);
    - default_gap_days = 60: the gap assumed for one-order customers, so a new
      customer turns at risk after k x 60 = 120 days;
    - min_gap_days = 7: two orders on the same day must not make the next day "at risk";
    - loyal_min_orders = 5 and loyal_within_days = 90: loyal is five or more orders
      with the last one in the past quarter;
    - sleeping_after_days = 180, churned_after_days = 365: absolute silences;
    - at_risk_below_p_alive is empty (off): when set, a buyer whose BG/NBD P(alive)
      from the daily CLV scoring is below it is at risk too, whatever their own gap;
    - devotees (loyal types) need frequency score >= 4; limited when at least 50 % of
      their orders carried a discount, lazy when their average order scores <= 2,
      profitable when recency score >= 3.
    """

    at_risk_factor = models.DecimalField(
        _("at risk after k x own gap"), max_digits=5, decimal_places=2, default=Decimal("2.00")
    )
    default_gap_days = models.PositiveIntegerField(_("gap for one-order customers"), default=60)
    min_gap_days = models.PositiveIntegerField(_("shortest gap considered"), default=7)
    loyal_min_orders = models.PositiveIntegerField(_("loyal: minimum orders"), default=5)
    loyal_within_days = models.PositiveIntegerField(_("loyal: last order within days"), default=90)
    sleeping_after_days = models.PositiveIntegerField(_("sleeping after days"), default=180)
    churned_after_days = models.PositiveIntegerField(_("churned after days"), default=365)
    devotee_min_frequency_score = models.PositiveSmallIntegerField(
        _("devotees: minimum frequency score"), default=4
    )
    limited_min_discount_share = models.DecimalField(
        _("limited devotees: minimum share of discounted orders"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.50"),
    )
    lazy_max_aov_score = models.PositiveSmallIntegerField(
        _("lazy devotees: maximum average order score"), default=2
    )
    profitable_min_recency_score = models.PositiveSmallIntegerField(
        _("profitable devotees: minimum recency score"), default=3
    )
    at_risk_below_p_alive = models.DecimalField(
        _("at risk when P(alive) is below"),
        max_digits=3,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Empty: off. Uses the P(alive) of the daily CLV scoring."),
    )
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("lifecycle rules")
        verbose_name_plural = _("lifecycle rules")

    @classmethod
    def current(cls) -> LifecycleRules:
        """The settings row, created with the documented defaults on first use."""
        rules, _created = cls.objects.get_or_create(pk=1)
        return rules

    def clean(self) -> None:
        if self.sleeping_after_days >= self.churned_after_days:
            raise ValidationError({"sleeping_after_days": _("Sleeping must start before churned.")})
        if self.at_risk_factor <= 0:
            raise ValidationError({"at_risk_factor": _("The factor must be positive.")})
        if not Decimal("0") <= self.limited_min_discount_share <= Decimal("1"):
            raise ValidationError({"limited_min_discount_share": _("A share is between 0 and 1.")})
        threshold = self.at_risk_below_p_alive
        if threshold is not None and not Decimal("0") < threshold <= Decimal("1"):
            raise ValidationError(
                {"at_risk_below_p_alive": _("A probability threshold is above 0 and at most 1.")}
            )


class CustomerState(models.Model):
    """What the sweeps computed about one customer: stage, RFM scores, segment, loyal type,
    and the CLV scores of `scoring.clv_scores_refresh`.

    An empty `stage` means "not classified yet". RFM fields and the model scores
    (p_alive, expected_purchases_90d, p_purchase_90d, predicted_clv) are null for
    customers without counted orders. loyalty_value = predicted_clv + referral_value +
    engagement_value, null when all three are absent or zero.
    """

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="state"
    )
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices, blank=True)
    stage_since = models.DateTimeField(_("stage since"), null=True, blank=True)
    rfm_recency = models.PositiveSmallIntegerField(_("recency score"), null=True, blank=True)
    rfm_frequency = models.PositiveSmallIntegerField(_("frequency score"), null=True, blank=True)
    rfm_monetary = models.PositiveSmallIntegerField(_("monetary score"), null=True, blank=True)
    aov_score = models.PositiveSmallIntegerField(_("average order score"), null=True, blank=True)
    discount_share = models.FloatField(_("share of discounted orders"), null=True, blank=True)
    rfm_segment = models.CharField(
        _("RFM segment"), max_length=24, choices=RfmSegment.choices, blank=True
    )
    loyal_type = models.CharField(
        _("loyal type"), max_length=16, choices=LoyalType.choices, blank=True
    )
    # The order summary (count, net spend) discount_share was computed at: while the
    # customer's summary still equals it, their orders have not changed and rfm_refresh
    # does not read them again.
    discount_basis_orders = models.PositiveIntegerField(null=True, blank=True, editable=False)
    discount_basis_spent = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, editable=False
    )
    p_alive = models.FloatField(_("P(alive)"), null=True, blank=True)
    expected_purchases_90d = models.FloatField(
        _("expected purchases in 90 days"), null=True, blank=True
    )
    # What the card shows one-time buyers instead of their P(alive), which is 1 for all of
    # them by the model's construction.
    p_purchase_90d = models.FloatField(_("chance of a purchase in 90 days"), null=True, blank=True)
    predicted_clv = models.DecimalField(
        _("predicted CLV, 12 months"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    referral_value = models.DecimalField(
        _("referral value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    engagement_value = models.DecimalField(
        _("engagement value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    loyalty_value = models.DecimalField(
        _("loyalty value"), max_digits=14, decimal_places=2, null=True, blank=True
    )

    class Meta:
        verbose_name = _("customer state")
        verbose_name_plural = _("customer states")
        indexes = [
            models.Index(fields=["stage"]),
            models.Index(fields=["rfm_segment"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.stage}"


class StageChange(models.Model):
    """One lifecycle transition, appended by `stages_refresh`; never updated."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(_("from"), max_length=16, choices=Stage.choices, blank=True)
    to_stage = models.CharField(_("to"), max_length=16, choices=Stage.choices)
    at = models.DateTimeField(_("when"), default=clock.now)

    class Meta:
        indexes = [models.Index(fields=["customer", "at"]), models.Index(fields=["at"])]
        ordering = ["-at", "-id"]


ENGAGEMENT_EVENTS = ("review_posted", "survey_answered", "community_post", "message_replied")


class ClvSettings(models.Model):
    """The one row of settings behind the CLV scoring and the loyalty value (edited in the UI).

    Defaults, and why (docs/segments.md):
    - months = 12, monthly_discount_rate = 0.01: a year of purchases, discounted at
      about 12.7 % a year, the usual cost of capital of a small shop;
    - holdout_weeks = 26: the calibration report hides the last half-year from the model
      and checks its forecast against it;
    - engagement is counted over engagement_days = 365, each event worth its weight in
      money: a review 300 (it sells to others), a community post 150, a survey answer 100,
      a reply to a message 50.
    """

    months = models.PositiveSmallIntegerField(_("CLV horizon, months"), default=12)
    monthly_discount_rate = models.DecimalField(
        _("monthly discount rate"), max_digits=5, decimal_places=4, default=Decimal("0.0100")
    )
    holdout_weeks = models.PositiveSmallIntegerField(_("holdout period, weeks"), default=26)
    engagement_days = models.PositiveIntegerField(_("engagement counted over days"), default=365)
    weight_review_posted = models.DecimalField(
        _("value of a review"), max_digits=10, decimal_places=2, default=Decimal("300")
    )
    weight_survey_answered = models.DecimalField(
        _("value of a survey answer"), max_digits=10, decimal_places=2, default=Decimal("100")
    )
    weight_community_post = models.DecimalField(
        _("value of a community post"), max_digits=10, decimal_places=2, default=Decimal("150")
    )
    weight_message_replied = models.DecimalField(
        _("value of a reply to a message"), max_digits=10, decimal_places=2, default=Decimal("50")
    )

    class Meta:
        verbose_name = _("CLV settings")
        verbose_name_plural = _("CLV settings")

    @classmethod
    def current(cls) -> ClvSettings:
        """The settings row, created with the documented defaults on first use."""
        row, _created = cls.objects.get_or_create(pk=1)
        return row

    def engagement_weights(self) -> dict[str, Decimal]:
        """Event type -> value of one event, for the types in ENGAGEMENT_EVENTS."""
        return {kind: getattr(self, f"weight_{kind}") for kind in ENGAGEMENT_EVENTS}

    def clean(self) -> None:
        if not 1 <= self.months <= 120:
            raise ValidationError({"months": _("Between 1 and 120 months.")})
        if not Decimal("0") <= self.monthly_discount_rate < Decimal("1"):
            raise ValidationError({"monthly_discount_rate": _("A rate is between 0 and 1.")})
        if self.holdout_weeks < 1:
            raise ValidationError({"holdout_weeks": _("At least one week.")})


class ClvProblem(models.TextChoices):
    """Why a fit gave no forecast (stored on the fit and in its calibration report)."""

    FEW_REPEAT_BUYERS = "few_repeat_buyers", _("not enough repeat buyers to forecast")
    NOT_FINITE = "not_finite", _("the model gave no finite forecast for this history")


class ClvModelFit(models.Model):
    """One run of the CLV scoring: fitted parameters and the calibration report.

    `bgnbd` is {r, alpha, a, b} in weeks; `gamma_gamma` is {p, q, gamma}, or null when
    there were no repeat buyers to fit it. `calibration` is the holdout report
    (see `scoring.calibration_report`), or null when the history is shorter than the
    holdout period. A run whose history cannot support a forecast records why in
    `problem` and leaves `bgnbd` and `log_likelihood` empty; its report may carry a
    `problem` of its own. No NaN or infinity is ever stored: the JSON encoder refuses them.
    """

    fitted_at = models.DateTimeField(_("fitted"), default=clock.now)
    duration_seconds = models.FloatField(_("duration, seconds"), default=0.0)
    customers = models.PositiveIntegerField(_("customers"), default=0)
    repeat_customers = models.PositiveIntegerField(_("repeat customers"), default=0)
    problem = models.CharField(
        _("no forecast because"), max_length=32, choices=ClvProblem.choices, blank=True
    )
    bgnbd = models.JSONField(
        _("BG/NBD parameters"), null=True, blank=True, encoder=FiniteJSONEncoder
    )
    log_likelihood = models.FloatField(_("log-likelihood"), null=True, blank=True)
    gamma_gamma = models.JSONField(
        _("Gamma-Gamma parameters"), null=True, blank=True, encoder=FiniteJSONEncoder
    )
    months = models.PositiveSmallIntegerField(_("CLV horizon, months"))
    monthly_discount_rate = models.DecimalField(
        _("monthly discount rate"), max_digits=5, decimal_places=4
    )
    calibration = models.JSONField(
        _("calibration report"), null=True, blank=True, encoder=FiniteJSONEncoder
    )

    class Meta:
        verbose_name = _("CLV model fit")
        verbose_name_plural = _("CLV model fits")
        ordering = ["-fitted_at", "-id"]


class ChurnKind(models.TextChoices):
    PREVENTABLE = "preventable", _("Preventable")
    NATURAL = "natural", _("Natural")


class ChurnReason(models.Model):
    """Why a customer left, when we know it. Preventable reasons are the ones to act on."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="churn_reasons")
    kind = models.CharField(_("kind"), max_length=16, choices=ChurnKind.choices)
    reason = models.CharField(_("reason"), max_length=200)
    note = models.TextField(_("note"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    recorded_at = models.DateTimeField(_("recorded"), default=clock.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]


class Segment(models.Model):
    """A named rule over customers; members are kept in SegmentMembership by the sweeps.

    `rules` is a rule tree; the services validate it (`segments.rules.rules_parse`) before
    they save it.
    """

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"))
    active = models.BooleanField(_("active"), default=True)
    member_count = models.PositiveIntegerField(_("members"), default=0)
    refreshed_at = models.DateTimeField(_("refreshed"), null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    """A customer currently in a segment, since when. Leaving deletes the row."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_memberships"
    )
    since = models.DateTimeField(_("since"), default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "customer"], name="segment_membership_unique"
            )
        ]
        indexes = [models.Index(fields=["customer"])]
