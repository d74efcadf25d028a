"""Russian grammar, money and dates for message templates, over lifelong.lib.russian."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from jinja2 import Undefined, pass_context
from jinja2.runtime import Context

from lifelong import clock
from lifelong.lib import russian
from lifelong.lib.zones import zone_of
from lifelong.messaging.templating.limits import TemplateRenderError

CURRENCY_SIGNS = {
    "RUB": "₽",
    "USD": "$",
    "EUR": "€",
    "KZT": "₸",
    "BYN": "Br",
    "UAH": "₴",
    "GBP": "£",
    "CNY": "¥",
}
MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _blank(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


def _gender_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("gender") or "")
    return "" if _blank(value) else str(value)


def filter_case(value: Any, case: str, gender: str | None = None) -> str:
    """`{{ customer.first_name|case("datv") }}`; on the customer itself: first name and
    patronymic with the customer's gender (`{{ customer|case("datv") }}`)."""
    if _blank(value):
        return ""
    if isinstance(value, Mapping):
        name = " ".join(str(value.get(k) or "") for k in ("first_name", "patronymic")).strip()
        return russian.name_case(name, case, gender or _gender_of(value) or None)
    return russian.name_case(str(value), case, gender or None)


def filter_plural(value: Any, word: str) -> str:
    """`{{ points|plural("балл") }}` -> "25 баллов"."""
    if _blank(value):
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise TemplateRenderError(
            _("plural needs a number, not %(value)r.") % {"value": value}
        ) from exc
    return russian.plural(number, word)


def filter_gendered(value: Any, masculine: str, feminine: str, neutral: str | None = None) -> str:
    """`{{ customer|gendered("дорогой", "дорогая") }}` (also takes "m"/"f" directly)."""
    return russian.gendered(_gender_of(value), masculine, feminine, neutral)


def filter_verb(value: Any, verb: str) -> str:
    """`{{ customer|verb("купил") }}` -> "купила" for her, "купил(а)" when we do not know."""
    return russian.verb_past(verb, _gender_of(value))


def filter_money(value: Any, currency: str = "RUB") -> str:
    """`{{ last_order.total|money(last_order.currency) }}` -> "1 990 ₽" ("1 990,50 ₽")."""
    if _blank(value) or value == "":
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise TemplateRenderError(
            _("money needs a number, not %(value)r.") % {"value": value}
        ) from exc
    whole = int(amount)
    cents = abs(amount - whole) * 100
    text = russian.format_number(abs(whole))
    if cents:
        text += f",{int(cents):02d}"
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SIGNS.get(str(currency).upper(), str(currency).upper())
    return f"{sign}{text}\u00a0{symbol}"


def _context_customer(context: Context) -> Mapping[str, Any]:
    customer = context.get("customer")
    return customer if isinstance(customer, Mapping) else {}


@pass_context
def filter_date(context: Context, value: Any, style: str = "") -> str:
    """`{{ last_order.placed_at|date }}` -> "2 марта" ("2 марта 2025" for another year).

    style "full" always adds the year, "short" gives 02.03.2026. Times are shown in the
    customer's time zone and month names in their language.
    """
    if _blank(value) or value == "":
        return ""
    customer = _context_customer(context)
    zone = zone_of(str(customer.get("time_zone") or settings.TIME_ZONE))
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise TemplateRenderError(
                _("date needs a date, not %(value)r.") % {"value": value}
            ) from exc
    if isinstance(value, dt.datetime):
        value = value.astimezone(zone).date() if value.tzinfo else value.date()
    if not isinstance(value, dt.date):
        raise TemplateRenderError(_("date needs a date, not %(value)r.") % {"value": value})
    if style == "short":
        return value.strftime("%d.%m.%Y")
    english = customer.get("language") == "en"
    month = (MONTHS_EN if english else MONTHS_GENITIVE)[value.month - 1]
    text = f"{value.day} {month}"
    if style == "full" or value.year != clock.now().astimezone(zone).year:
        text += f" {value.year}"
    return text
