"""Facts from the shop: products, orders with their lines, refunds and returns."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.customers.models import Customer


class Product(models.Model):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    category = models.CharField(_("category"), max_length=128, blank=True, db_index=True)
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(_("currency"), max_length=3, default="RUB")
    replenishment_days = models.PositiveIntegerField(
        _("replenishment cycle, days"), null=True, blank=True
    )
    active = models.BooleanField(_("active"), default=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class OrderStatus(models.TextChoices):
    PLACED = "placed", _("Placed")
    PAID = "paid", _("Paid")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


class Order(models.Model):
    """An order as the shop reports it. Cancelled orders do not count in the summary."""

    external_id = models.CharField(_("external id"), max_length=128)
    # (customer, placed_at) below serves lookups by customer; no separate index.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    status = models.CharField(
        _("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    placed_at = models.DateTimeField(_("placed"), default=clock.now)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="RUB")
    refunded_total = models.DecimalField(
        _("refunded"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    discount = models.DecimalField(
        _("discount"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    coupon = models.CharField(_("coupon"), max_length=64, blank=True)
    channel = models.CharField(_("sales channel"), max_length=64, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "placed_at"]),
            models.Index(fields=["placed_at"]),
        ]
        constraints = [
            # Not unique=True: that adds a LIKE-pattern index on PostgreSQL nobody queries.
            models.UniqueConstraint(fields=["external_id"], name="order_external_id_unique")
        ]
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return self.external_id

    @property
    def net_total(self) -> Decimal:
        return self.total - self.refunded_total


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL)
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    price = models.DecimalField(_("price"), max_digits=14, decimal_places=2)

    @property
    def total(self) -> Decimal:
        return self.price * self.quantity


class Refund(models.Model):
    """Money given back on an order; `is_return` when goods came back too."""

    external_id = models.CharField(_("external id"), max_length=128, unique=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    is_return = models.BooleanField(_("goods returned"), default=False)
    created_at = models.DateTimeField(default=clock.now)


class RefundLine(models.Model):
    """What a refund gave back by line: `quantity` units of the order's line with `sku`.

    Named by SKU, not by line id: an order upsert may replace its lines.
    """

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(_("SKU"), max_length=64)
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["refund", "sku"], name="refund_line_sku_once"),
        ]


class SummaryPending(models.Model):
    """A customer whose order summary waits for a refresh after a bulk write to their orders.

    Written in the same transaction as the orders that made the summary stale, so a crash
    between an import's batches leaves the customer queued, never forgotten;
    `commerce.summaries.summaries_refresh_pending` (the import's last step, and a sweep)
    refreshes the queue set-based and removes what it refreshed.
    """

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    # The totals of the orders created or changed since the summary was last exact, capped
    # at what total_spent can hold: the stale total_spent plus this bounds the true spend
    # from above, which is all the import's check of the spend column needs.
    spend_added = models.DecimalField(max_digits=14, decimal_places=2)
