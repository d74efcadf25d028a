"""The demo's loyalty programme over its history, replayed through the real ledger and sweeps.

The clock is set back to the day the shop switched the programme on (`clock.rewound`) and
moved on four weeks at a time, a day at a time over the last days. Each step does what the
shop's days did:
- the expiry and hold sweeps run;
- customers paying an order of the step with points spend them at checkout, before the
  order's earn is read (so the earn counts only the money paid);
- the step's events are recorded (order statuses, refunds and returns, reviews, surveys,
  completed profiles, posts in the club); the referral sweep attributes friends' first
  orders and rewards both sides after the return window; the earning sweep reads them,
  taking back the earn and giving back the burn of what was refunded;
- birthday gifts are awarded; pending points whose return window closed are released;
- about quarterly, the tier sweep moves customers up at once and down at review dates.

Every posting goes through the ledger: the sweeps, the hold services, and `Book` with
`ledger_write` for the bulk checkout burns and gifts (as the sweeps post theirs), so the demo
passes `lifelong loyalty verify` and shows what the ledger really writes. Over the last days
checkout goes through holds (reserve, confirm, at times for less, or cancel with the order);
the history ends with a few holds of checkouts still in progress, and the customers whose
tier opens a personal manager get the shop's support lead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.demo.dice import Dice
from lifelong.demo.loyalty import (
    BIRTHDAY_POINTS,
    BIRTHDAY_REASON,
    Gift,
    actions_plan,
    birthdays_plan,
    managers_assign,
    programme_switch_on,
    referrals_switch_on,
)
from lifelong.demo.people import HISTORY_DAYS, Person
from lifelong.demo.purchases import ORDER_PREFIX
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.holds import (
    HoldConflict,
    hold_cancel,
    hold_confirm,
    hold_reserve,
    loyalty_holds_expire,
)
from lifelong.loyalty.ledger import NotEnoughPoints, book_lock_many, ledger_write, posted_keys
from lifelong.loyalty.models import Account, AccountKind, Programme, TxKind
from lifelong.loyalty.referral_sweep import loyalty_referrals
from lifelong.loyalty.services import award_post
from lifelong.loyalty.sweeps import loyalty_expire_due, loyalty_release_pending
from lifelong.loyalty.tier_sweeps import loyalty_tiers_review

# The shop started the programme ten weeks into the demo's two years (it had customers to
# refer friends by then) and its points live six months: the early lots have expired, the
# latest expire soon (every earn, release and expiry is a real posting).
PROGRAMME_DAYS = HISTORY_DAYS - 70
STEP = dt.timedelta(days=28)
CHECKOUT_DAYS = 10  # the last days: a step a day, and checkout through holds
# The tier sweep writes the row of every customer active since its last run: about quarterly
# here (the upgrades and the reviews land on those dates), and once more at the end.
TIER_REVIEW_STEPS = 3
BURN_SHARE = 0.35  # of the paid orders whose customer has at least BURN_MIN available
BURN_MIN = 150
CONFIRM_LESS_SHARE = 0.15  # the cart changed between reserve and payment
HOLD_TIMEOUT = 900
OPEN_HOLDS = 6


def loyalty_history_write(
    dice: Dice,
    *,
    order_events: list[Event],
    people: list[Person],
    customer_ids: dict[int, int],
    owner: User,
    manager: User,
    end: dt.datetime,
) -> None:
    """Record the order events in time order while the programme runs over them."""
    started = end - dt.timedelta(days=PROGRAMME_DAYS)
    actions = actions_plan(
        dice, order_events=order_events, people=people, customer_ids=customer_ids, end=end
    )
    # Stable: an order's own events keep their order when two share a minute.
    events = sorted([*order_events, *actions], key=lambda e: e.occurred_at)
    gifts = birthdays_plan(
        people=people, customer_ids=customer_ids, order_events=order_events, start=started, end=end
    )
    checkout_from = end - dt.timedelta(days=CHECKOUT_DAYS)
    with clock.rewound(started):
        done = _until(events, started)
        events_record(events[:done])
        programme_switch_on(owner=owner)
        referrals_switch_on(
            dice, owner=owner, people=people, customer_ids=customer_ids, started=started
        )
        gifts_done, moment, steps = 0, started, 0
        while moment < end:
            moment = min(moment + (STEP if moment < checkout_from else dt.timedelta(days=1)), end)
            steps += 1
            _advance_to(moment)
            loyalty_expire_due()
            loyalty_holds_expire()
            upto = _until(events, moment, done)
            window = events[done:upto]
            _checkouts(dice, window, holds=moment > checkout_from)
            events_record(window)
            loyalty_referrals()
            loyalty_earn()
            gifts_upto = _until(gifts, moment, gifts_done)
            _gifts(gifts[gifts_done:gifts_upto])
            loyalty_release_pending()
            if steps % TIER_REVIEW_STEPS == 0 or moment == end:
                loyalty_tiers_review()
            done, gifts_done = upto, gifts_upto
        _holds_open(dice)
        managers_assign(owner=owner, manager=manager)


def _until(rows: Sequence[Event | Gift], moment: dt.datetime, start: int = 0) -> int:
    """The index past the rows (sorted by time) at or before `moment`."""
    index = start
    while index < len(rows) and _at(rows[index]) <= moment:
        index += 1
    return index


def _at(row: Event | Gift) -> dt.datetime:
    return row.occurred_at if isinstance(row, Event) else row.at


def _advance_to(moment: dt.datetime) -> None:
    delta = moment - clock.now()
    if delta > dt.timedelta(0):
        clock.advance(delta)


def _checkouts(dice: Dice, window: list[Event], *, holds: bool) -> None:
    """Some customers pay part of the step's orders with points; over the last month through
    checkout holds, and a hold is cancelled with its order."""
    payments = [e for e in window if e.type in ("order_paid", "order_cancelled")]
    customers = {e.customer_id for e in payments}
    left = dict(
        Account.objects.filter(customer_id__in=customers).values_list("customer_id", "available")
    )
    programme = Programme.current()
    burns: list[tuple[Event, int]] = []
    for event in payments:
        assert event.customer_id is not None
        available = left.get(event.customer_id, 0)
        if available < BURN_MIN or not dice.chance(BURN_SHARE):
            continue
        if event.type == "order_cancelled" and not holds:
            continue
        cap = int(float(event.properties["total"]) * programme.max_share_percent / 100) // int(
            programme.point_value
        )
        points = min(available, cap)
        if points < BURN_MIN // 2:
            continue
        left[event.customer_id] = available - points
        burns.append((event, points))
    if holds:
        for event, points in burns:
            _checkout_hold(dice, event, points)
    else:
        _redeems(burns)


def _redeems(burns: list[tuple[Event, int]]) -> None:
    """Checkout burns of one step, as `points_redeem` posts them, written in one go."""
    if not burns:
        return
    books = book_lock_many([e.customer_id for e, _points in burns if e.customer_id])
    keys = [f"redeem:order:{e.properties['order_id']}" for e, _points in burns]
    absent = set(keys) - posted_keys(keys)
    for (event, points), key in zip(burns, keys, strict=True):
        assert event.customer_id is not None
        book = books[event.customer_id]
        book.absent = absent
        posting = book.posting(
            key=key,
            kind=TxKind.REDEEM,
            occurred_at=event.occurred_at,
            order_id=event.properties["order_id"],
        )
        if posting is None or book.account.available < points:
            continue
        book.draw(posting, points)
        book.system(posting, AccountKind.REDEEMED, points)
    ledger_write(list(books.values()))


def _checkout_hold(dice: Dice, event: Event, points: int) -> None:
    """The checkout API's way: reserve, then confirm (perhaps for less) or cancel."""
    assert event.customer_id is not None
    try:
        hold = hold_reserve(
            customer_id=event.customer_id,
            order_external_id=event.properties["external_id"],
            points=points,
            timeout_seconds=HOLD_TIMEOUT,
        )
    except (NotEnoughPoints, HoldConflict):
        return
    if event.type == "order_cancelled":
        hold_cancel(hold_id=hold.pk)
        return
    less = dice.chance(CONFIRM_LESS_SHARE) and points > 1
    hold_confirm(hold_id=hold.pk, points=dice.between(1, points - 1) if less else points)


def _gifts(gifts: list[Gift]) -> None:
    """Birthday gifts, as the ready birthday journey gives them (its reason, its points)."""
    if not gifts:
        return
    books = book_lock_many([g.customer_id for g in gifts])
    keys = [f"birthday:{g.customer_id}:{g.at.year}" for g in gifts]
    absent = set(keys) - posted_keys(keys)
    programme = Programme.current()
    for gift, key in zip(gifts, keys, strict=True):
        book = books[gift.customer_id]
        book.absent = absent
        posting = book.posting(
            key=key, kind=TxKind.AWARD, occurred_at=gift.at, comment=BIRTHDAY_REASON
        )
        if posting is not None:
            award_post(book, posting, points=BIRTHDAY_POINTS, status_points=0, programme=programme)
    ledger_write(list(books.values()))


def _holds_open(dice: Dice) -> None:
    """A few checkouts in progress as the history ends: their holds time out, or not, later."""
    rich = list(
        Account.objects.filter(kind=AccountKind.CUSTOMER, available__gte=BURN_MIN * 2)
        .order_by("pk")
        .values_list("customer_id", "available")
    )
    for number in range(min(OPEN_HOLDS, len(rich))):
        customer_id, available = rich[dice.below(len(rich))]
        try:
            hold_reserve(
                customer_id=customer_id,
                order_external_id=f"{ORDER_PREFIX}cart-{number + 1:03d}",
                points=dice.between(BURN_MIN // 2, available // 2),
                timeout_seconds=dice.between(HOLD_TIMEOUT, 20 * 3600),
            )
        except (NotEnoughPoints, HoldConflict):
            continue
