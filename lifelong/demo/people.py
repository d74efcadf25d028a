"""Customer profiles: names, contacts, birthdays, cities and where they came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from lifelong.demo import names
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
_CITY_P = np.array([c.weight for c in CITIES]) / sum(c.weight for c in CITIES)

SOURCES = ("instagram", "yandex", "friend", "offline", "vk")
_SOURCE_P = np.array([0.34, 0.26, 0.18, 0.14, 0.08])

LEVELS = ("новичок", "практикующий", "преподаватель")
_LEVEL_P = np.array([0.46, 0.5, 0.04])
STYLES = ("хатха", "аштанга", "инь-йога", "кундалини", "йога-нидра", "виньяса")

_EMAIL_DOMAINS = ("yandex.ru", "mail.ru", "gmail.com", "bk.ru", "inbox.ru", "ya.ru", "rambler.ru")
_EMAIL_DOMAIN_P = np.array([0.32, 0.24, 0.24, 0.06, 0.05, 0.05, 0.04])


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

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.emails: set[str] = set()
        self.phones: set[str] = set()

    def email(self, first: str, last: str, birthday: dt.date | None) -> str:
        rng = self.rng
        f, la = names.translit(first), names.translit(last)
        year = f"{birthday.year % 100:02d}" if birthday else str(int(rng.integers(1, 99)))
        local = (f"{f}.{la}", f"{la}.{f[0]}", f"{f}{la[:4]}{year}", f"{f}_{year}", f"{la}{f[0]}")[
            int(rng.integers(0, 5))
        ]
        domain = str(rng.choice(_EMAIL_DOMAINS, p=_EMAIL_DOMAIN_P))
        address = f"{local}@{domain}"
        while address in self.emails:
            address = f"{local}{int(rng.integers(1, 1000))}@{domain}"
        self.emails.add(address)
        return address

    def phone(self) -> str:
        number = ""
        while not number or number in self.phones:
            number = "+79" + "".join(str(d) for d in self.rng.integers(0, 10, size=9))
        self.phones.add(number)
        return number


def people_generate(rng: np.random.Generator, *, count: int, end: dt.datetime) -> list[Person]:
    """`count` customers who joined over the last two years, more of them recently."""
    contacts = _Contacts(rng)
    return [_person(rng, contacts, index=i, end=end) for i in range(count)]


def _person(
    rng: np.random.Generator, contacts: _Contacts, *, index: int, end: dt.datetime
) -> Person:
    female = rng.random() < 0.78  # a yoga shop's audience
    pool = names.FEMALE_FIRST_NAMES if female else names.MALE_FIRST_NAMES
    first = str(pool[int(rng.integers(0, len(pool)))])
    surnames = names.NON_INFLECTING_SURNAMES if rng.random() < 0.12 else names.INFLECTING_SURNAMES
    last = names.surname_for(str(surnames[int(rng.integers(0, len(surnames)))]), female=female)
    patronymic = names.patronymic_for(int(rng.integers(0, len(names.PATRONYMICS))), female=female)
    birthday = None
    if rng.random() < 0.85:
        age_days = int(np.clip(rng.normal(35, 9), 18, 72) * 365.25)
        birthday = end.date() - dt.timedelta(days=age_days)
    city = CITIES[int(rng.choice(len(CITIES), p=_CITY_P))]
    source = str(rng.choice(SOURCES, p=_SOURCE_P))
    # Studio walk-ins often leave only a phone; online buyers always an e-mail.
    has_email = source != "offline" or rng.random() < 0.5
    has_phone = not has_email or rng.random() < 0.9
    level = str(rng.choice(LEVELS, p=_LEVEL_P))
    tags = _tags(rng, level=level, source=source, female=female)
    days_ago = HISTORY_DAYS * rng.random() ** 1.25  # the shop grows: more recent sign-ups
    created_at = local_moment(rng, near=end - dt.timedelta(days=days_ago), time_zone=city.time_zone)
    if created_at > end:
        created_at = end - dt.timedelta(minutes=int(rng.integers(5, 600)))
    return Person(
        index=index,
        external_id=f"{CUSTOMER_PREFIX}{index + 1:05d}",
        first_name=first,
        patronymic=patronymic if rng.random() < 0.7 else "",
        last_name=last,
        gender="f" if female else "m",
        birthday=birthday,
        email=contacts.email(first, last, birthday) if has_email else "",
        phone=contacts.phone() if has_phone else "",
        telegram_chat_id=str(int(rng.integers(10**8, 7 * 10**9))) if rng.random() < 0.25 else "",
        city=city,
        source=source,
        level=level,
        style=str(rng.choice(STYLES)) if rng.random() < 0.6 else "",
        tags=tags,
        created_at=created_at,
        is_lead=bool(rng.random() < LEAD_SHARE),
    )


def _tags(rng: np.random.Generator, *, level: str, source: str, female: bool) -> tuple[str, ...]:
    tags = []
    if level == "преподаватель":
        tags.append("преподаватель")
    if source == "offline":
        tags.append("студия на Покровке")
    if rng.random() < 0.02:
        tags.append("блогер")
    if rng.random() < 0.015:
        tags.append("корпоративный клиент")
    if female and rng.random() < 0.05:
        tags.append("йога для беременных")
    return tuple(sorted(tags))
