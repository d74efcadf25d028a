"""Two years of orders from a repeat-purchase process like the one BG/NBD assumes.

Each buyer has a purchase rate (gamma across buyers) and a chance to drop out after each
purchase (beta across buyers). Consumables pull the next order towards their cycle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from lifelong.demo.catalogue import CATEGORIES, ITEMS_BY_CATEGORY, Item
from lifelong.demo.dice import Dice, Weights
from lifelong.demo.moments import later, local_moment
from lifelong.demo.people import Person

ORDER_PREFIX = "demo-o"
REFUND_PREFIX = "demo-r"

RATE_SHAPE, RATE_SCALE_DAYS = 1.1, 1 / 75  # mean: one purchase every ~68 days while active
DROPOUT_A, DROPOUT_B = 1.2, 3.5  # mean dropout after a purchase: ~26 %
RESTOCK_LOYALTY = 0.55  # share of consumable buyers who come back when it runs out
CANCEL_SHARE = 0.04
REFUND_SHARE = 0.035
MAX_ORDERS = 60

_POPULARITY = [c.popularity for c in CATEGORIES]
_LINE_COUNTS = (1, 2, 3, 4)
_LINE_COUNT_WEIGHTS = Weights([0.5, 0.3, 0.15, 0.05])
_RETURN_REASONS = (
    "Не подошёл размер",
    "Брак: отслаивается покрытие",
    "Товар не вскрыт, вернули в срок",
    "Пришёл не тот цвет",
)
_REFUND_REASONS = ("Поездка на ретрит отменена по болезни", "Формат курса не подошёл")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    item: Item
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.item.price * self.quantity


@dataclass(frozen=True)
class Refund:
    external_id: str
    at: dt.datetime
    amount: Decimal
    reason: str
    is_return: bool


@dataclass(frozen=True)
class PlannedOrder:
    external_id: str
    person: Person
    placed_at: dt.datetime
    lines: tuple[Line, ...]
    discount: Decimal
    coupon: str
    channel: str
    status: str  # as commerce.models.OrderStatus, after everything up to `end` happened
    paid_at: dt.datetime | None
    delivered_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    refund: Refund | None

    @property
    def total(self) -> Decimal:
        return sum((ln.total for ln in self.lines), Decimal("0")) - self.discount

    @property
    def refunded_total(self) -> Decimal:
        return self.refund.amount if self.refund else Decimal("0")

    @property
    def updated_at(self) -> dt.datetime:
        moments = (self.placed_at, self.paid_at, self.delivered_at, self.cancelled_at)
        return max(
            [m for m in moments if m is not None] + ([self.refund.at] if self.refund else [])
        )


def orders_plan(dice: Dice, *, people: list[Person], end: dt.datetime) -> list[PlannedOrder]:
    """Every order of every buyer, numbered in the order the shop received them."""
    orders: list[PlannedOrder] = []
    for person in people:
        if not person.is_lead:
            orders.extend(_customer_orders(dice, person=person, end=end))
    orders.sort(key=lambda o: (o.placed_at, o.person.index))
    numbered = []
    refunds = 0
    for n, order in enumerate(orders, start=1):
        refund = order.refund
        if refund is not None:
            refunds += 1
            refund = dataclasses.replace(refund, external_id=f"{REFUND_PREFIX}{refunds:05d}")
        numbered.append(
            dataclasses.replace(order, external_id=f"{ORDER_PREFIX}{n:06d}", refund=refund)
        )
    return numbered


def _customer_orders(dice: Dice, *, person: Person, end: dt.datetime) -> list[PlannedOrder]:
    rate = float(dice.rng.gamma(RATE_SHAPE, RATE_SCALE_DAYS))
    dropout = float(dice.rng.beta(DROPOUT_A, DROPOUT_B))
    taste = Weights(dice.rng.dirichlet([p * 8 for p in _POPULARITY]).tolist())
    orders: list[PlannedOrder] = []
    at = person.created_at
    restock: Item | None = None
    while at <= end and len(orders) < MAX_ORDERS:
        lines = _basket(dice, taste=taste, restock=restock)
        orders.append(
            _order(dice, person=person, placed_at=at, lines=lines, first=not orders, end=end)
        )
        if dice.chance(dropout):
            break
        restock, gap_days = _next_gap(dice, lines=lines, rate=rate)
        at = local_moment(
            dice, near=at + dt.timedelta(days=max(1.0, gap_days)), time_zone=person.city.time_zone
        )
    return orders


def _next_gap(dice: Dice, *, lines: tuple[Line, ...], rate: float) -> tuple[Item | None, float]:
    """Days to the next purchase, and the consumable that prompts it, if any."""
    cycles = [ln for ln in lines if ln.item.replenishment_days]
    if cycles and dice.chance(RESTOCK_LOYALTY):
        line = min(cycles, key=lambda ln: ln.item.replenishment_days or 0)
        cycle = (line.item.replenishment_days or 0) * line.quantity
        return line.item, cycle * min(max(dice.normal(1.0, 0.15), 0.6), 1.6)
    return None, dice.exponential(1 / rate)


def _basket(dice: Dice, *, taste: Weights, restock: Item | None) -> tuple[Line, ...]:
    quantities: dict[Item, int] = {}
    if restock is not None:
        quantities[restock] = 1
    for _ in range(dice.weighted(_LINE_COUNTS, _LINE_COUNT_WEIGHTS) - len(quantities)):
        category = dice.weighted(CATEGORIES, taste)
        item = dice.pick(ITEMS_BY_CATEGORY[category.name])
        many = category.max_quantity > 1 and dice.chance(0.3)
        quantities.setdefault(item, dice.between(2, category.max_quantity) if many else 1)
    return tuple(Line(item, qty) for item, qty in quantities.items())


def _order(
    dice: Dice,
    *,
    person: Person,
    placed_at: dt.datetime,
    lines: tuple[Line, ...],
    first: bool,
    end: dt.datetime,
) -> PlannedOrder:
    subtotal = sum((ln.total for ln in lines), Decimal("0"))
    coupon, percent = "", 0
    if first and dice.chance(0.3):
        coupon, percent = "WELCOME10", 10
    elif not first and dice.chance(0.08):
        coupon, percent = "PRANA15", 15
    discount = (subtotal * percent / 100).quantize(Decimal("1")).quantize(CENT)
    in_studio = dice.chance(0.6 if person.source == "offline" else 0.04)
    channel = "studio" if in_studio else ("app" if dice.chance(0.2) else "web")
    order = PlannedOrder(
        external_id="",
        person=person,
        placed_at=placed_at,
        lines=lines,
        discount=discount,
        coupon=coupon,
        channel=channel,
        status="placed",
        paid_at=None,
        delivered_at=None,
        cancelled_at=None,
        refund=None,
    )
    if not in_studio and dice.chance(CANCEL_SHARE):
        cancelled_at = later(dice, placed_at, low_hours=1, high_hours=30)
        if cancelled_at <= end:
            return dataclasses.replace(order, status="cancelled", cancelled_at=cancelled_at)
        return order
    paid_at = later(dice, placed_at, low_hours=0, high_hours=0 if in_studio else 0.7)
    if paid_at > end:
        return order
    nothing_ships = in_studio or all(ln.item.category.delivered_at_once for ln in lines)
    delivered_at = (
        later(dice, paid_at, low_hours=0, high_hours=0.2)
        if nothing_ships
        else later(dice, paid_at, low_hours=30, high_hours=24 * 7)
    )
    if delivered_at > end:
        return dataclasses.replace(order, status="paid", paid_at=paid_at)
    order = dataclasses.replace(
        order, status="delivered", paid_at=paid_at, delivered_at=delivered_at
    )
    if dice.chance(REFUND_SHARE):
        return _with_refund(dice, order=order, end=end)
    return order


def _with_refund(dice: Dice, *, order: PlannedOrder, end: dt.datetime) -> PlannedOrder:
    assert order.delivered_at is not None
    at = later(dice, order.delivered_at, low_hours=24, high_hours=24 * 14)
    if at > end:
        return order
    total = order.total
    partial = len(order.lines) > 1 and dice.chance(0.4)
    amount = min(ln.total for ln in order.lines) if partial else total
    ships = not all(ln.item.category.delivered_at_once for ln in order.lines)
    refund = Refund(
        external_id="",
        at=at,
        amount=min(amount, total),
        reason=dice.pick(_RETURN_REASONS if ships else _REFUND_REASONS),
        is_return=ships,
    )
    status = "refunded" if refund.amount == total else order.status
    return dataclasses.replace(order, refund=refund, status=status)
