"""`{% customer_tier customer %}`: the customer card's tier section, with its own queries, so the
card shows it without its view knowing about tiers."""

from __future__ import annotations

from typing import Any

from django import template

from lifelong.customers.models import Customer
from lifelong.web.views.customers_tier import tier_section

register = template.Library()


@register.inclusion_tag("web/customers/_tier.html", takes_context=True)
def customer_tier(context: dict[str, Any], customer: Customer) -> dict[str, Any]:
    return {**tier_section(customer, context["request"].user), "request": context["request"]}
