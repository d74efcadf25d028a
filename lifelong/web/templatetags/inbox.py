"""The customer card's conversations: an include that reads them itself (one query), so
the card's view stays as it is."""

from __future__ import annotations

from typing import Any

from django import template

from lifelong.feedback.models import Conversation

register = template.Library()

CARD_CONVERSATIONS = 10


@register.inclusion_tag("web/conversations/_customer.html")
def customer_conversations(customer: Any) -> dict[str, Any]:
    rows = list(
        Conversation.objects.filter(customer_id=customer.pk)
        .select_related("assignee")
        .order_by("-opened_at", "-pk")[:CARD_CONVERSATIONS]
    )
    return {"conversations": rows}
