"""Customer profiles: names, contacts, birthdays, cities and where they came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lifelong.demo import names
from lifelong.demo.dice import Dice, Weights
from lifelong.demo.moments import local_moment

CUSTOMER_PREFIX = "demo-c"
HISTORY_DAYS = 730
LEAD_SHARE = 0.12


@dataclass(frozen=True)
class City:
    name: str
    time_zone: str
    weight: float


CITIES = (
    City("Москва", "Europe/Moscow", 34),
    City("Санкт-Петербург", "Europe/Moscow", 16),
    City("Казань", "Europe/Moscow", 5),
    City("Нижний Новгород", "Europe/Moscow", 4),
    City("Краснодар", "Europe/Moscow", 5),
    City("Сочи", "Europe/Moscow", 3),
    City("Калининград", "Europe/Kaliningrad", 2),
    City("Самара", "Europe/Samara", 3),
    City("Екатеринбург", "Asia/Yekaterinburg", 7),
    City("Челябинск", "Asia/Yekaterinburg", 3),
    City("Омск", "Asia/Omsk", 2),
    City("Новосибирск", "Asia/Novosibirsk", 6),
    City("Красноярск", "Asia/Krasnoyarsk", 3),
    City("Иркутск", "Asia/Irkutsk", 2),
    City("Владивосток", "Asia/Vladivostok", 2),
)
_CITY_WEIGHTS = Weights([c.weight for c in CITIES])

SOURCES = ("instagram", "yandex", "friend", "offline", "vk")
_SOURCE_WEIGHTS = Weights([0.34, 0.26, 0.18, 0.14, 0.08])

LEVELS = ("новичок", "практикующий", "преподаватель")
_LEVEL_WEIGHTS = Weights([0.46, 0.5, 0.04])
STYLES = ("хатха", "аштанга", "инь-йога", "кундалини", "йога-нидра", "виньяса")

_EMAIL_DOMAINS = ("yandex.ru", "mail.ru", "gmail.com", "bk.ru", "inbox.ru", "ya.ru", "rambler.ru")
_EMAIL_DOMAIN_WEIGHTS = Weights([0.32, 0.24, 0.24, 0.06, 0.05, 0.05, 0.04])


@dataclass(frozen=True)
class Person:
    index: int
    external_id: str
    first_name: str
    patronymic: str
    last_name: str
    gender: str  # "m" or "f", as in customers.models.Gender
    birthday: dt.date | None
    email: str
    phone: str
    telegram_chat_id: str
    city: City
    source: str
    level: str
    style: str
    tags: tuple[str, ...]
    created_at: dt.datetime
    is_lead: bool  # signed up for news but never bought

    @property
    def female(self) -> bool:
        return self.gender == "f"

    @property
    def attributes(self) -> dict[str, str]:
        attributes = {"city": self.city.name, "level": self.level}
        if self.style:
            attributes["yoga_style"] = self.style
        return attributes


class _Contacts:
    """Hands out e-mail addresses and phones that no other demo customer has."""

    def __init__(self, dice: Dice) -> None:
        self.dice = dice
        self.emails: set[str] = set()
        self.phones: set[str] = set()

    def email(self, first: str, last: str, birthday: dt.date | None) -> str:
        dice = self.dice
        f, la = names.translit(first), names.translit(last)
        year = f"{birthday.year % 100:02d}" if birthday else str(dice.between(1, 98))
        local = dice.pick(
            (f"{f}.{la}", f"{la}.{f[0]}", f"{f}{la[:4]}{year}", f"{f}_{year}", f"{la}{f[0]}")
        )
        domain = dice.weighted(_EMAIL_DOMAINS, _EMAIL_DOMAIN_WEIGHTS)
        address = f"{local}@{domain}"
        while address in self.emails:
            address = f"{local}{dice.between(1, 999)}@{domain}"
        self.emails.add(address)
        return address

    def phone(self) -> str:
        number = ""
        while not number or number in self.phones:
            number = f"+79{self.dice.below(10**9):09d}"
        self.phones.add(number)
        return number


def people_generate(dice: Dice, *, count: int, end: dt.datetime) -> list[Person]:
    """`count` customers who joined over the last two years, more of them recently."""
    contacts = _Contacts(dice)
    return [_person(dice, contacts, index=i, end=end) for i in range(count)]


def _person(dice: Dice, contacts: _Contacts, *, index: int, end: dt.datetime) -> Person:
    female = dice.chance(0.78)  # a yoga shop's audience
    first = dice.pick(names.FEMALE_FIRST_NAMES if female else names.MALE_FIRST_NAMES)
    surnames = names.NON_INFLECTING_SURNAMES if dice.chance(0.12) else names.INFLECTING_SURNAMES
    last = names.surname_for(dice.pick(surnames), female=female)
    patronymic = names.patronymic_for(dice.below(len(names.PATRONYMICS)), female=female)
    birthday = None
    if dice.chance(0.85):
        age_years = min(max(dice.normal(35, 9), 18), 72)
        birthday = end.date() - dt.timedelta(days=int(age_years * 365.25))
    city = dice.weighted(CITIES, _CITY_WEIGHTS)
    source = dice.weighted(SOURCES, _SOURCE_WEIGHTS)
    # Studio walk-ins often leave only a phone; online buyers always an e-mail.
    has_email = source != "offline" or dice.chance(0.5)
    has_phone = not has_email or dice.chance(0.9)
    level = dice.weighted(LEVELS, _LEVEL_WEIGHTS)
    days_ago = HISTORY_DAYS * dice.random() ** 1.25  # the shop grows: more recent sign-ups
    created_at = local_moment(
        dice, near=end - dt.timedelta(days=days_ago), time_zone=city.time_zone
    )
    if created_at > end:
        created_at = end - dt.timedelta(minutes=dice.between(5, 600))
    return Person(
        index=index,
        external_id=f"{CUSTOMER_PREFIX}{index + 1:05d}",
        first_name=first,
        patronymic=patronymic if dice.chance(0.7) else "",
        last_name=last,
        gender="f" if female else "m",
        birthday=birthday,
        email=contacts.email(first, last, birthday) if has_email else "",
        phone=contacts.phone() if has_phone else "",
        telegram_chat_id=str(dice.between(10**8, 7 * 10**9)) if dice.chance(0.25) else "",
        city=city,
        source=source,
        level=level,
        style=dice.pick(STYLES) if dice.chance(0.6) else "",
        tags=_tags(dice, level=level, source=source, female=female),
        created_at=created_at,
        is_lead=dice.chance(LEAD_SHARE),
    )


def _tags(dice: Dice, *, level: str, source: str, female: bool) -> tuple[str, ...]:
    tags = []
    if level == "преподаватель":
        tags.append("преподаватель")
    if source == "offline":
        tags.append("студия на Покровке")
    if dice.chance(0.02):
        tags.append("блогер")
    if dice.chance(0.015):
        tags.append("корпоративный клиент")
    if female and dice.chance(0.05):
        tags.append("йога для беременных")
    return tuple(sorted(tags))
