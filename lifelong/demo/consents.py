"""Consent history with its evidence: where, on which form, under which wording; some withdrawn."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lifelong.demo.dice import Dice
from lifelong.demo.moments import later
from lifelong.demo.people import Person

WITHDRAW_SHARE = 0.12
BOT_FORM = "@prana_yoga_bot"
# Where people say "stop" on each channel.
_WITHDRAW_VIA = {
    "email": ("unsubscribe_link", "Ссылка «Отписаться» в письме"),
    "sms": ("sms_stop", "Ответ СТОП на SMS"),
    "telegram": ("telegram_bot", "/stop"),
}
_LEAD_FORMS = (
    "Подписка в подвале сайта",
    "Гайд «Утренняя практика за 15 минут»",
    "Запись на бесплатный урок",
)
# Blocks of big Russian ISPs, so the evidence looks like what a real form records.
_IP_BLOCKS = ((95, 24), (178, 140), (188, 162), (85, 140), (91, 76), (5, 228), (176, 59))


@dataclass(frozen=True)
class ConsentPlan:
    person: Person
    channel: str
    purpose: str
    granted: bool
    at: dt.datetime
    source: str
    form: str
    text_version: str
    ip: str | None


def consents_plan(dice: Dice, *, people: list[Person], end: dt.datetime) -> list[ConsentPlan]:
    """Grants at checkout, lead forms and the Telegram bot, then some withdrawals."""
    revision_at = end - dt.timedelta(days=300)  # the consent wording was revised once
    plans: list[ConsentPlan] = []
    for person in people:
        grants = _grants(dice, person=person, end=end, revision_at=revision_at)
        plans.extend(grants)
        for grant in grants:
            if grant.purpose == "marketing" and dice.chance(WITHDRAW_SHARE):
                at = later(dice, grant.at, low_hours=24, high_hours=24 * 300)
                if at <= end:
                    source, form = _WITHDRAW_VIA[grant.channel]
                    plans.append(
                        ConsentPlan(
                            person,
                            grant.channel,
                            "marketing",
                            False,
                            at,
                            source,
                            form,
                            grant.text_version,
                            None,
                        )
                    )
    return plans


def _grants(
    dice: Dice, *, person: Person, end: dt.datetime, revision_at: dt.datetime
) -> list[ConsentPlan]:
    grants: list[ConsentPlan] = []

    def grant(
        channel: str, purpose: str, *, at: dt.datetime, source: str, form: str, ip: str | None
    ) -> None:
        kind = "offer" if purpose == "transactional" else "marketing"
        version = f"{kind}-{'v2' if at >= revision_at else 'v1'}"
        grants.append(ConsentPlan(person, channel, purpose, True, at, source, form, version, ip))

    joined, ip = person.created_at, _ip(dice)
    if person.is_lead:
        if person.email:
            form = dice.pick(_LEAD_FORMS)
            grant("email", "marketing", at=joined, source="lead_form", form=form, ip=ip)
    else:
        in_studio = person.source == "offline"
        form = "Касса студии" if in_studio else "Оформление заказа"
        web_ip = None if in_studio else ip
        for channel, contact in (("email", person.email), ("sms", person.phone)):
            if not contact:
                continue
            purposes = ["transactional"]
            if dice.chance(0.62 if channel == "email" else 0.28):
                purposes.append("marketing")
            for purpose in purposes:
                grant(channel, purpose, at=joined, source="checkout", form=form, ip=web_ip)
    if person.telegram_chat_id:
        at = later(dice, joined, low_hours=0.1, high_hours=24 * 60)
        if at <= end:
            purposes = ["transactional", "marketing"] if dice.chance(0.7) else ["transactional"]
            for purpose in purposes:
                grant("telegram", purpose, at=at, source="telegram_bot", form=BOT_FORM, ip=None)
    return grants


def _ip(dice: Dice) -> str:
    a, b = dice.pick(_IP_BLOCKS)
    return f"{a}.{b + dice.between(0, 3)}.{dice.between(0, 255)}.{dice.between(1, 254)}"
