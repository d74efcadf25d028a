"""What «Прана» sells: yoga and wellness goods, online courses and retreats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

SKU_PREFIX = "PRANA-"


@dataclass(frozen=True)
class Category:
    name: str
    popularity: float  # share of order lines before a customer's own taste is applied
    max_quantity: int = 1
    delivered_at_once: bool = False  # digital goods and bookings: nothing ships


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    category: Category
    price: Decimal
    replenishment_days: int | None = None


MATS = Category("Коврики", 0.16)
PROPS = Category("Блоки и ремни", 0.14, max_quantity=2)
CLOTHES = Category("Одежда", 0.14, max_quantity=2)
TEA = Category("Чай и благовония", 0.24, max_quantity=3)
AROMA = Category("Аромамасла и аюрведа", 0.10, max_quantity=2)
MEDITATION = Category("Медитация", 0.07)
COURSES = Category("Онлайн-курсы", 0.12, delivered_at_once=True)
RETREATS = Category("Ретриты", 0.03, delivered_at_once=True)

CATEGORIES = (MATS, PROPS, CLOTHES, TEA, AROMA, MEDITATION, COURSES, RETREATS)


def _item(code: str, name: str, category: Category, price: int, cycle: int | None = None) -> Item:
    return Item(
        f"{SKU_PREFIX}{code}", name, category, Decimal(price).quantize(Decimal("0.01")), cycle
    )


ITEMS = (
    _item("MAT-PRO6", "Коврик «Прана Про», 6 мм", MATS, 5990),
    _item("MAT-TRAVEL", "Коврик дорожный складной, 1,5 мм", MATS, 3490),
    _item("MAT-CORK", "Коврик пробковый, 4 мм", MATS, 7490),
    _item("MAT-TPE", "Коврик TPE для начинающих, 6 мм", MATS, 2490),
    _item("MAT-JUTE", "Коврик джутовый, 5 мм", MATS, 4290),
    _item("PROP-BLOCK-CORK", "Блок пробковый", PROPS, 990),
    _item("PROP-BLOCK-EVA", "Блок EVA", PROPS, 590),
    _item("PROP-STRAP", "Ремень хлопковый, 2,5 м", PROPS, 690),
    _item("PROP-BOLSTER", "Болстер с гречневой лузгой", PROPS, 3490),
    _item("PROP-BLANKET", "Плед для шавасаны", PROPS, 2790),
    _item("WEAR-LEGGINGS", "Легинсы с высокой посадкой", CLOTHES, 3990),
    _item("WEAR-TOP", "Топ спортивный", CLOTHES, 2490),
    _item("WEAR-TEE", "Футболка из органического хлопка", CLOTHES, 1990),
    _item("WEAR-SOCKS", "Носки нескользящие", CLOTHES, 790),
    _item("WEAR-HOODIE", "Худи оверсайз «Прана»", CLOTHES, 5490),
    _item("TEA-PUER", "Пуэр Шу, 100 г", TEA, 890, 30),
    _item("TEA-IVAN", "Иван-чай ферментированный, 100 г", TEA, 490, 30),
    _item("TEA-MASALA", "Масала-чай, 150 г", TEA, 650, 30),
    _item("TEA-EVENING", "Травяной сбор «Вечерний», 80 г", TEA, 550, 30),
    _item("INC-SANDAL", "Благовония «Сандал», 20 палочек", TEA, 350, 45),
    _item("INC-NAGCHAMPA", "Благовония «Наг Чампа», 15 г", TEA, 320, 45),
    _item("INC-PALOSANTO", "Пало санто, 3 палочки", TEA, 690, 45),
    _item("OIL-LAVENDER", "Эфирное масло лаванды, 10 мл", AROMA, 590, 60),
    _item("OIL-EUCALYPTUS", "Эфирное масло эвкалипта, 10 мл", AROMA, 590, 60),
    _item("AYU-MASSAGE", "Масло для абхьянги, 200 мл", AROMA, 890, 60),
    _item("AYU-NETI", "Нети-пот керамический", AROMA, 990),
    _item("AYU-TONGUE", "Скребок для языка, медь", AROMA, 450),
    _item("MED-CUSHION", "Подушка для медитации", MEDITATION, 2990),
    _item("MED-BOWL", "Поющая чаша, 12 см", MEDITATION, 4500),
    _item("MED-MALA", "Чётки из рудракши, 108 бусин", MEDITATION, 1200),
    _item("MED-TIMER", "Таймер для медитации", MEDITATION, 1790),
    _item("COURSE-BEGIN", "Онлайн-курс «Йога для начинающих»", COURSES, 4900),
    _item("COURSE-BACK", "Онлайн-курс «Здоровая спина»", COURSES, 3900),
    _item("COURSE-BREATH", "Онлайн-курс «Пранаяма: 21 день»", COURSES, 2900),
    _item("COURSE-MIND", "Онлайн-курс «Медитация осознанности»", COURSES, 3500),
    _item("CLUB-MONTH", "Онлайн-студия, подписка на месяц", COURSES, 1490, 30),
    _item("RETREAT-ALTAI", "Ретрит на Алтае, 7 дней", RETREATS, 69000),
    _item("RETREAT-KARELIA", "Ретрит в Карелии, выходные", RETREATS, 24000),
    _item("RETREAT-SILENCE", "Ретрит тишины в Подмосковье, 3 дня", RETREATS, 29000),
    _item("RETREAT-GEORGIA", "Йога-тур по Грузии, 8 дней", RETREATS, 89000),
)

ITEMS_BY_CATEGORY = {c.name: tuple(i for i in ITEMS if i.category == c) for c in CATEGORIES}
