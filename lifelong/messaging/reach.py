"""Which channel reaches each customer of a group (the journey engine asks once per send node)."""

from __future__ import annotations

from collections.abc import Sequence

from lifelong.customers.models import Customer
from lifelong.messaging.models import Template
from lifelong.messaging.services import channel_choose


def channels_choose(
    customers: Sequence[Customer], *, purpose: str, template: Template | None = None
) -> dict[int, str | None]:
    """Per customer id, what `channel_choose` answers for that customer."""
    return {
        customer.pk: channel_choose(customer=customer, purpose=purpose, template=template)
        for customer in customers
    }
