"""The customer card's conversations: an include that reads them itself (a fixed number of
queries), so the card's view stays as it is."""

from __future__ import annotations

from typing import Any

from django import template

from lifelong.web.conversation_thread import CONVERSATIONS_READ, customer_threads

register = template.Library()


@register.inclusion_tag("web/conversations/_customer.html", takes_context=True)
def customer_conversations(context: template.Context, customer: Any) -> dict[str, Any]:
    """Nothing for a staff member the inbox would not show the conversations to."""
    request = context["request"]
    if not request.user.can(CONVERSATIONS_READ):
        return {"threads": []}
    return {"threads": customer_threads(customer.pk, request.LANGUAGE_CODE)}
