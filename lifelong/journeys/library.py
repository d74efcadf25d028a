"""Ready-made journeys: one call installs the templates, topics and a draft journey to edit.

`library_install(slug)` creates what a journey needs and its first version (a draft).
Installing again returns the journey already there and leaves edited texts alone.

Category filters name the shop's own categories (`Product.category`); the defaults are
the demo shop's, and `categories=` replaces them for another catalogue:
"course" (courses), "tool" (equipment that lasts), "consumable" (what runs out).

Back in stock: the shop sends one `back_in_stock` event per customer who asked to be told,
with `{"skus": ["<sku>"]}` in the properties (the enrollment keeps `skus` for the template).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Channel
from lifelong.feedback.models import Survey, SurveyKind
from lifelong.feedback.survey_editor import survey_save
from lifelong.journeys.library_texts import TEXTS, TOPICS
from lifelong.journeys.models import Journey
from lifelong.journeys.services import journey_create
from lifelong.messaging.models import Template, Topic

HOLDOUT_PERCENT = 10
DEFAULT_CATEGORIES: dict[str, list[str]] = {
    "course": ["Онлайн-курсы"],
    "tool": ["Коврики", "Блоки и ремни", "Медитация"],
    "consumable": ["Чай и благовония", "Аромамасла и аюрведа"],
}
Categories = Mapping[str, Sequence[str]]
Graph = dict[str, Any]


class LibraryError(KeyError):
    pass


@dataclass(frozen=True)
class LibraryJourney:
    slug: str
    name: str
    name_en: str
    description: str
    description_en: str
    build: Callable[[Categories], Graph]

    def templates(self, categories: Categories | None = None) -> list[str]:
        """The template slugs the graph's send nodes use."""
        nodes = self.build(categories or DEFAULT_CATEGORIES)["nodes"]
        return [n["template"] for n in nodes if n["type"] in ("send", "survey")]


def _send(node_id: str, template: str, nxt: str | None = None) -> Graph:
    return {"id": node_id, "type": "send", "template": template, "next": nxt}


def _wait(node_id: str, nxt: str | None, *, days: int = 0, hours: float = 0) -> Graph:
    return {"id": node_id, "type": "wait", "days": days, "hours": hours, "next": nxt}


def _graph(
    trigger: Graph,
    nodes: list[Graph],
    *,
    goal_days: int = 30,
    reentry: Graph | None = None,
) -> Graph:
    return {
        "trigger": trigger,
        "start": nodes[0]["id"],
        "nodes": nodes,
        "goal": {"event": "order_placed", "within_days": goal_days},
        "reentry": reentry or {"policy": "once"},
        "holdout_percent": HOLDOUT_PERCENT,
    }


def _welcome(_c: Categories) -> Graph:
    return _graph(
        {"kind": "first_order"},
        [
            _send("thanks", "welcome-thanks", "wait_3d"),
            _wait("wait_3d", "howto", days=3),
            _send("howto", "welcome-howto", "wait_7d"),
            _wait("wait_7d", "invite", days=7),
            _send("invite", "welcome-invite"),
        ],
        goal_days=30,
    )


def _course(c: Categories) -> Graph:
    return _graph(
        {"kind": "order_placed", "categories": list(c["course"])},
        [
            _send("start", "course-start", "wait_7d"),
            _wait("wait_7d", "faq", days=7),
            _send("faq", "course-faq", "wait_23d"),
            _wait("wait_23d", "chat", days=23),
            _send("chat", "course-chat"),
        ],
        goal_days=30,
        reentry={"policy": "per_order"},
    )


def _tool(c: Categories) -> Graph:
    # The goal window is shorter than the walk on purpose: the consumables check at the end
    # looks at purchases after the goal, so a converted customer is not asked twice.
    return _graph(
        {"kind": "order_placed", "categories": list(c["tool"])},
        [
            _wait("wait_3d", "checklist", days=3),
            _send("checklist", "tool-checklist", "opened"),
            {
                "id": "opened",
                "type": "wait_event",
                "label": "Opened the checklist?",
                "events": ["message_opened"],
                "timeout_hours": 7 * 24,
                "on_event": "clicked",
                "on_timeout": "later",
            },
            {
                "id": "clicked",
                "type": "wait_event",
                "label": "Opened but did not click within 7 days",
                "events": ["message_clicked"],
                "timeout_hours": 7 * 24,
                "on_event": "later",
                "on_timeout": "mistakes",
            },
            _send("mistakes", "tool-mistakes", "later"),
            _wait("later", "consumables", days=7),
            {
                "id": "consumables",
                "type": "condition",
                "label": "Buys consumables",
                "rule": {
                    "op": "or",
                    "rules": [
                        {"kind": "bought", "category": name, "within_days": 45}
                        for name in c["consumable"]
                    ],
                },
                "yes": "active_master",
                "no": None,
            },
            {
                "id": "active_master",
                "type": "tag",
                "action": "add",
                "tag": "active_master",
                "next": "done",
            },
            {"id": "done", "type": "exit"},
        ],
        goal_days=14,
        reentry={"policy": "after_days", "days": 90},
    )


def _cart(_c: Categories) -> Graph:
    return _graph(
        {"kind": "cart_abandoned", "hours": 4},
        [
            _send("reminder_1", "cart-reminder-1", "wait_24h"),
            _wait("wait_24h", "ordered", hours=24),
            {
                "id": "ordered",
                "type": "condition",
                "label": "Ordered since",
                "rule": {"rules": [{"kind": "event", "type": "order_placed", "within_days": 2}]},
                "yes": "done",
                "no": "reminder_2",
            },
            _send("reminder_2", "cart-reminder-2", "done"),
            {"id": "done", "type": "exit"},
        ],
        goal_days=7,
        reentry={"policy": "after_days", "days": 7},
    )


def _winback(_c: Categories) -> Graph:
    return _graph(
        {"kind": "days_since_last_order", "days": 90},
        [
            _send("picks", "winback-picks", "wait_10d"),
            _wait("wait_10d", "ordered", days=10),
            {
                "id": "ordered",
                "type": "condition",
                "label": "Ordered since",
                "rule": {"rules": [{"kind": "last_order", "op": "within", "days": 10}]},
                "yes": None,
                "no": "last_word",
            },
            _send("last_word", "winback-last"),
        ],
        goal_days=30,
    )


def _replenish(_c: Categories) -> Graph:
    return _graph(
        {"kind": "replenishment_due"},
        [_send("reminder", "replenish-reminder")],
        goal_days=14,
    )


def _birthday(_c: Categories) -> Graph:
    return _graph(
        {"kind": "birthday", "days": 0},
        [
            {
                "id": "gift",
                "type": "award_points",
                "points": 100,
                "reason": "birthday",
                "next": "greeting",
            },
            _send("greeting", "birthday-greeting"),
        ],
        goal_days=14,
    )


ANNIVERSARY_POINTS = 100


def _anniversary(_c: Categories) -> Graph:
    return _graph(
        {"kind": "first_order_anniversary"},
        [
            {
                "id": "gift",
                "type": "award_points",
                "points": ANNIVERSARY_POINTS,
                "reason": "anniversary",
                "next": "thanks",
            },
            _send("thanks", "anniversary-thanks"),
        ],
        goal_days=30,
    )


# Customer Day: every year on 19 March, on the customer's own calendar.
CUSTOMER_DAY = {"kind": "calendar_date", "day": 19, "month": 3}
CUSTOMER_DAY_POINTS = 100


def _customer_day(_c: Categories) -> Graph:
    # The thanks (and the gift) are for people who bought: a subscriber who never ordered is
    # not thanked for being a customer.
    return _graph(
        CUSTOMER_DAY,
        [
            {
                "id": "bought",
                "type": "condition",
                "label": "Has ordered",
                "rule": {
                    "rules": [{"kind": "summary", "field": "orders_count", "op": "gte", "value": 1}]
                },
                "yes": "gift",
                "no": None,
            },
            {
                "id": "gift",
                "type": "award_points",
                "points": CUSTOMER_DAY_POINTS,
                "reason": "customer_day",
                "next": "thanks",
            },
            _send("thanks", "customer-day-thanks"),
        ],
        goal_days=14,
    )


def _tier_welcome(_c: Categories) -> Graph:
    # Each step up is welcomed once (keyed by its event); staff-set tiers and downgrades are not.
    return _graph(
        {"kind": "event", "event_type": "tier_changed", "properties": {"direction": "up"}},
        [_send("welcome", "tier-welcome")],
        goal_days=30,
        reentry={"policy": "per_event"},
    )


def _back_in_stock(_c: Categories) -> Graph:
    return _graph(
        {"kind": "event", "event_type": "back_in_stock"},
        [_send("notice", "back-in-stock")],
        goal_days=14,
        reentry={"policy": "after_days", "days": 1},
    )


NPS_SURVEY_NAME = "NPS после доставки"


def _nps_survey() -> int:
    """The ready NPS survey the journey asks, made once with the usual questions (a
    detractor is asked what went wrong, a passive what kept them from 10)."""
    survey = Survey.objects.filter(name=NPS_SURVEY_NAME, kind=SurveyKind.NPS).first()
    if survey is None:
        survey = survey_save(
            survey=None,
            values={"name": NPS_SURVEY_NAME, "kind": SurveyKind.NPS, "language": "ru"},
            questions=[],
            actor=None,
        )
    return survey.pk


def _nps_after_delivery(_c: Categories) -> Graph:
    # One relationship NPS however many orders arrive: the survey's throttle (90 days, all
    # NPS surveys) skips a customer asked or answering recently, visibly in the step record.
    return _graph(
        {"kind": "order_delivered"},
        [
            _wait("wait", "ask", days=14),
            {
                "id": "ask",
                "type": "survey",
                "survey": _nps_survey(),
                "template": "nps-after-delivery",
                "channel": "preferred",
                "next": None,
            },
        ],
        goal_days=30,
        reentry={"policy": "per_order"},
    )


LIBRARY: tuple[LibraryJourney, ...] = (
    LibraryJourney(
        "welcome",
        "Приветственная серия",
        "Welcome series",
        "После первого заказа: спасибо сразу, как всё устроено через 3 дня, "
        "приглашение в сообщество через 10.",
        "After the first order: thanks at once, how things work in 3 days, "
        "a community invitation in 10.",
        _welcome,
    ),
    LibraryJourney(
        "course-followup",
        "После покупки курса",
        "After buying a course",
        "Спасибо и чек-лист для старта сразу, ответы на вопросы новичков через 7 дней, "
        "приглашение в закрытый чат через 30.",
        "Thanks and a starter checklist at once, beginners' questions in 7 days, "
        "a closed chat invitation in 30.",
        _course,
    ),
    LibraryJourney(
        "tool-followup",
        "После покупки инвентаря",
        "After buying equipment",
        "Что проверить — на 3-й день; открыл, но не кликнул за 7 дней — видео о 5 ошибках; "
        "покупает расходники — метка «active_master».",
        "What to check on day 3; opened but did not click in 7 days — a video on 5 "
        "mistakes; buys consumables — tagged “active_master”.",
        _tool,
    ),
    LibraryJourney(
        "abandoned-cart",
        "Брошенная корзина",
        "Abandoned cart",
        "Через 4 часа без заказа — напоминание, через сутки — второе и последнее.",
        "After 4 hours without an order a reminder, a day later a second and last one.",
        _cart,
    ),
    LibraryJourney(
        "winback",
        "Разбудить уснувших",
        "Win back sleeping customers",
        "90 дней без заказа: подборка по прошлой покупке, через 10 дней — "
        "мягкий вопрос, писать ли дальше.",
        "90 days without an order: picks based on the last purchase, 10 days later a "
        "gentle question whether to keep writing.",
        _winback,
    ),
    LibraryJourney(
        "replenishment",
        "Пора пополнить запас",
        "Time to restock",
        "Когда по циклу товара пора покупать снова — напоминание.",
        "A reminder when a product's cycle says it is running out.",
        _replenish,
    ),
    LibraryJourney(
        "birthday",
        "День рождения",
        "Birthday",
        "В день рождения: 100 бонусных баллов и поздравление.",
        "On the birthday: 100 bonus points and a greeting.",
        _birthday,
    ),
    LibraryJourney(
        "first-order-anniversary",
        "Годовщина первой покупки",
        "First purchase anniversary",
        "Спасибо в годовщину первого заказа.",
        "A thank-you on the anniversary of the first order.",
        _anniversary,
    ),
    LibraryJourney(
        "customer-day",
        "День клиента",
        "Customer Day",
        "Каждый год 19 марта, по часам клиента, тем, кто хоть раз покупал: спасибо, что вы "
        "с нами, и 100 бонусных баллов в подарок.",
        "Every year on 19 March, on the customer's clock, to everyone who has bought: thank "
        "you for being with us, and 100 bonus points as a gift.",
        _customer_day,
    ),
    LibraryJourney(
        "tier-welcome",
        "Добро пожаловать на новый уровень",
        "Welcome to the tier",
        "Когда клиент поднимается на уровень выше: название уровня и что он теперь открывает.",
        "When a customer moves up a tier: the tier's name and what it opens now.",
        _tier_welcome,
    ),
    LibraryJourney(
        "back-in-stock",
        "Снова в наличии",
        "Back in stock",
        "Магазин присылает событие back_in_stock со skus на каждого, кто ждал товар; "
        "мы сообщаем, что он вернулся.",
        "The shop sends a back_in_stock event with skus for everyone waiting for an item; "
        "we tell them it is back.",
        _back_in_stock,
    ),
    LibraryJourney(
        "nps-after-delivery",
        "Вопрос после доставки (NPS)",
        "A question after delivery (NPS)",
        "Через 14 дней после доставки — один вопрос «порекомендовали бы вы нас?»: "
        "цифры прямо в письме, кнопки в Telegram; не чаще раза в 90 дней на клиента.",
        "14 days after delivery, one question, “would you recommend us?”: numbers right in "
        "the email, buttons in Telegram; at most once in 90 days per customer.",
        _nps_after_delivery,
    ),
)


def library_available() -> list[LibraryJourney]:
    """The ready journeys whose code no journey uses yet: what a shop can still install."""
    taken = set(
        Journey.objects.filter(slug__in=[e.slug for e in LIBRARY]).values_list("slug", flat=True)
    )
    return [entry for entry in LIBRARY if entry.slug not in taken]


def library_entry(slug: str) -> LibraryJourney:
    for entry in LIBRARY:
        if entry.slug == slug:
            return entry
    raise LibraryError(slug)


@transaction.atomic
def library_install(
    slug: str, *, actor: User | None = None, categories: Categories | None = None
) -> Journey:
    """Install a ready-made journey as a draft with its templates and topics.

    Idempotent: a journey with this slug is returned as it is, and existing templates
    (perhaps edited by the business) are never overwritten.
    """
    entry = library_entry(slug)
    existing = Journey.objects.filter(slug=slug).first()
    if existing is not None:
        return existing
    chosen = {**DEFAULT_CATEGORIES, **(categories or {})}
    definition = entry.build(chosen)
    topics_ensure()
    for template in entry.templates(chosen):
        template_ensure(template)
    journey = journey_create(
        name=entry.name,
        slug=slug,
        definition=definition,
        description=entry.description,
        actor=actor,
    )
    if actor is not None:
        audit_record(
            actor=actor, action="journey.library_install", obj=journey, changes={"library": slug}
        )
    # journey_create sets the version on its own copy of the row.
    journey.refresh_from_db()
    return journey


def topics_ensure() -> None:
    for slug, name, name_en in TOPICS:
        Topic.objects.get_or_create(slug=slug, defaults={"name": name, "name_en": name_en})


def template_ensure(slug: str) -> Template:
    text = TEXTS[slug]
    template, _created = Template.objects.get_or_create(
        slug=slug,
        defaults={
            "name": text.name,
            # Written for e-mail first (it has a subject); a messenger gets the same text with
            # the preferences link as a button, SMS and the other channels a short text.
            "channel": Channel.EMAIL,
            "purpose": text.purpose,
            "topic": text.topic,
            "subject": text.subject,
            "body_text": text.body_text(),
            "messenger_text": text.messenger_text(),
            "messenger_buttons": text.messenger_buttons(),
            "sms_text": text.sms_text(),
            "short_text": text.sms_text(),
            "translations": text.translations(),
        },
    )
    return template
