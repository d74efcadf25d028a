"""The filters of a message template: Russian grammar, money and dates (over
lifelong.lib.russian), and Jinja's built-in filters with their sizes checked.

Every filter's result is checked and charged to the render (limits.built); the built-ins
whose arguments multiply what they build (a width, a separator, a fill, a format) also
compute that size first and refuse it before building.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping, Sized
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from jinja2 import Environment, Undefined, pass_context, pass_environment, pass_eval_context
from jinja2 import filters as jinja
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup, soft_str

from lifelong import clock
from lifelong.lib import russian
from lifelong.lib.zones import zone_of
from lifelong.loyalty.status import plural_form
from lifelong.messaging.templating.limits import (
    MAX_RANGE,
    TemplateRenderError,
    built,
    check_items,
    check_size,
    footprint,
    joined_size,
    printf_size,
    tick,
    too_long,
)

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


@pass_context
def filter_plural(context: Context, value: Any, word: str) -> str:
    """`{{ points|plural("балл") }}` -> "25 баллов".

    When the word is the loyalty programme's name for its points (any of its three forms),
    the programme's own forms are used, so a name the dictionary does not know agrees too.
    """
    if _blank(value):
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise TemplateRenderError(
            _("plural needs a number, not %(value)r.") % {"value": value}
        ) from exc
    forms = _points_forms(context)
    wanted = str(word).strip().lower()
    if forms and number == number.to_integral_value() and wanted in {f.lower() for f in forms}:
        n = int(number)
        return f"{russian.format_number(n)} {plural_form(n, *forms)}"
    return russian.plural(number, word)


def _points_forms(context: Context) -> tuple[str, str, str] | None:
    """The programme's (one, few, many) forms from `loyalty.points_name`."""
    loyalty = context.get("loyalty")
    names = loyalty.get("points_name") if isinstance(loyalty, Mapping) else None
    if not isinstance(names, Mapping):
        return None
    forms = tuple(str(names.get(key) or "").strip() for key in ("one", "few", "many"))
    return (forms[0], forms[1], forms[2]) if all(forms) else None


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


# --- Jinja's built-ins, sized first ---------------------------------------------------------


# Each takes its text with soft_str, as Jinja's own do: text marked safe stays safe.


def filter_center(value: Any, width: int = 80) -> str:
    text = soft_str(value)
    if isinstance(width, int):
        check_size(max(len(text), width))
    return jinja.do_center(text, width)


def filter_indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = soft_str(s)
    step = len(width) if isinstance(width, str) else width
    if isinstance(step, int):
        check_size(len(text) + (text.count("\n") + 1) * step)
    return jinja.do_indent(text, width, first, blank)


@pass_environment
def filter_wordwrap(
    environment: Environment,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = soft_str(s)
    wrap = environment.newline_sequence if wrapstring is None else soft_str(wrapstring)
    if isinstance(width, int):
        # Two lines in a row hold at least `width` characters between them.
        lines = 2 * len(text) // max(width, 1) + text.count("\n") + 2
        check_size(len(text) + lines * len(wrap))
    return jinja.do_wordwrap(environment, text, width, break_long_words, wrap, break_on_hyphens)


def filter_batch(value: Any, linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    if isinstance(linecount, int):
        check_items(linecount)
    return jinja.do_batch(value, linecount, fill_with)


def filter_slice(value: Any, slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    if isinstance(slices, int) and slices > MAX_RANGE:
        raise too_long("list", slices, MAX_RANGE)
    return jinja.sync_do_slice(value, slices, fill_with)


def filter_list(value: Any) -> list[Any]:
    if isinstance(value, Sized):
        check_items(len(value))
    return jinja.sync_do_list(value)


def filter_format(value: Any, *args: Any, **kwargs: Any) -> str:
    check_size(printf_size(soft_str(value), kwargs or args))
    return jinja.do_format(value, *args, **kwargs)


@pass_eval_context
def filter_replace(
    eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None
) -> str:
    text, old_text, new_text = soft_str(s), soft_str(old), soft_str(new)
    count_of = text.count(old_text) if old_text else len(text) + 1
    check_size(len(text) + count_of * len(new_text))
    return jinja.do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def filter_join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)
    check_items(len(items))
    check_size(joined_size(items) + len(soft_str(d)) * len(items))
    return jinja.sync_do_join(eval_ctx, items, d, attribute)


@pass_environment
def filter_sum(
    environment: Environment, iterable: Any, attribute: Any = None, start: Any = 0
) -> Any:
    """Numbers as Jinja adds them; lists (or tuples) in one pass, where Python's sum would
    copy the growing list at every step."""
    items = list(iterable)
    if attribute is not None:
        items = list(map(jinja.make_attrgetter(environment, attribute), items))
    if not isinstance(start, list | tuple):
        return sum(items, start)
    if not all(isinstance(item, type(start)) for item in items):
        raise TemplateRenderError(_("sum adds numbers, or lists to a list."))
    check_items(len(start) + sum(len(item) for item in items))
    check_size(footprint(start) + footprint(items), what="data")
    return type(start)(chain(start, *items))


@pass_eval_context
def filter_tojson(eval_ctx: EvalContext, value: Any, indent: int | None = None) -> Markup:
    if indent is not None:
        # Each level would add its indent to every line below it: no size known in advance.
        raise TemplateRenderError(_("tojson does not indent in a message template."))
    # JSON writes a character as at most six ("\u044f").
    check_size(6 * footprint(value))
    return jinja.do_tojson(eval_ctx, value)


def _checked(func: Callable[..., Any]) -> Callable[..., Any]:
    """Check and charge what a filter built; a generator is checked where it is consumed."""

    @functools.wraps(func)  # keeps Jinja's pass_context / pass_eval_context marks
    def checked(*args: Any, **kwargs: Any) -> Any:
        tick()
        result = func(*args, **kwargs)
        return result if isinstance(result, Iterator) else built(result)

    return checked


def template_filters(builtin: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Every filter a message template may use (Jinja's `builtin` ones less `random` and
    `pprint`, which have no place in a message), each checking what it built."""
    filters = {name: func for name, func in builtin.items() if name not in ("random", "pprint")}
    filters.update(
        batch=filter_batch,
        center=filter_center,
        format=filter_format,
        indent=filter_indent,
        join=filter_join,
        list=filter_list,
        replace=filter_replace,
        slice=filter_slice,
        sum=filter_sum,
        tojson=filter_tojson,
        wordwrap=filter_wordwrap,
        case=filter_case,
        plural=filter_plural,
        gendered=filter_gendered,
        verb=filter_verb,
        money=filter_money,
        date=filter_date,
    )
    return {name: _checked(func) for name, func in filters.items()}
