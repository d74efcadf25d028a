"""One-click rewards for the month's most active club members: points, a badge, a thank-you.

Each reward is given once per customer, month and kind, whichever list it was clicked in:
the `ClubReward` row is claimed first (its unique constraint settles a double click or two
staff at once), then in the same transaction
- points go through the ledger with the key `community_reward:<customer>:<YYYY-MM>:points`;
- the badge is a customer tag (`RewardSettings.badge`): segments, journeys and the card
  already read tags, so nothing new has to learn about badges;
- the thank-you is the chosen template through the outbox, keyed
  `community_reward:<customer>:<YYYY-MM>:thanks`, on the customer's preferred channel that
  can reach them.
Only a customer on the month's most-active list of the same scope (the club, or all clubs)
may be rewarded: the button is on that list, and a posted customer id off it (a hand-made
request, or a page so old its customer has since dropped off) is refused, not trusted.
Every reward is audited.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.community.activity import most_active
from lifelong.community.models import Club, ClubReward, RewardKind, RewardSettings
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import customer_tag_add
from lifelong.lib.errors import DomainError
from lifelong.loyalty.services import points_award
from lifelong.messaging.services import channel_choose, message_enqueue


class RewardError(DomainError):
    """A reward that cannot be given as asked (nothing set up to give, no way to reach)."""


def reward_key(*, customer_id: int, month: dt.date, kind: str) -> str:
    return f"community_reward:{customer_id}:{month:%Y-%m}:{kind}"


def reward_give(
    *, customer: Customer, month: dt.date, kind: str, by: User, club: Club | None = None
) -> bool:
    """Give one reward for `month`; False when this customer already had it for the month."""
    if kind not in RewardKind.values:
        raise RewardError(f"unknown reward {kind!r}", field="kind")
    month = month.replace(day=1)
    if customer.pk not in {row.customer_id for row in most_active(month=month, club=club)}:
        raise RewardError(
            _("%(name)s is not on this month's most active list.")
            % {"name": customer.display_name},
            field="customer",
        )
    rewards = RewardSettings.read()
    key = reward_key(customer_id=customer.pk, month=month, kind=kind)
    if kind == RewardKind.POINTS and not rewards.points:
        raise RewardError(_("Set the points of the reward first."), field="points")
    channel = None
    if kind == RewardKind.THANKS:
        template = rewards.thanks_template
        if template is None:
            raise RewardError(_("Choose the thank-you template first."), field="thanks_template")
        channel = channel_choose(
            customer=customer, purpose=Purpose.TRANSACTIONAL, template=template
        )
        if channel is None:
            raise RewardError(
                _("No channel reaches this customer with that template."), field="channel"
            )
    try:
        with transaction.atomic():
            reward = ClubReward.objects.create(
                customer=customer,
                month=month,
                kind=kind,
                club=club,
                points=rewards.points if kind == RewardKind.POINTS else 0,
                given_by=by,
            )
            if kind == RewardKind.POINTS:
                points_award(
                    customer_id=customer.pk,
                    points=rewards.points,
                    key=key,
                    comment=f"club activity {month:%Y-%m}",
                )
            elif kind == RewardKind.BADGE:
                customer_tag_add(customer=customer, name=rewards.badge, actor=by)
            else:
                assert channel is not None
                # Thanks for taking part, asked for by nobody but staff: not a promotion, so
                # it needs no marketing consent (like a reply in the inbox).
                message_enqueue(
                    customer=customer,
                    dedupe_key=key,
                    channel=channel,
                    purpose=Purpose.TRANSACTIONAL,
                    template=rewards.thanks_template,
                )
            audit_record(
                actor=by,
                action="community.reward",
                obj=customer,
                changes={"kind": kind, "month": f"{month:%Y-%m}", "reward": reward.pk},
            )
    except IntegrityError:
        # The unique row: a double click, or a colleague was quicker.
        return False
    return True
