"""The one renderer for staff-written text: a sandboxed Jinja2 with limits and Russian filters.

Staff (and whoever steals a staff password) write these templates, and customers' own
data flows into them, so three things hold for every render:

- the context is plain data (dicts, lists, str, numbers, dates), never model instances,
  so no template can reach the ORM, settings or a method with side effects;
- the environment is Jinja2's `ImmutableSandboxedEnvironment` plus an allow-list of what
  may be called (a few str/dict/list methods, our filters, macros);
- a render is bounded: loops count their iterations, every string a template builds
  (`*`, `+`, `~`, `%`, filters, str methods) is checked *before* it is built, and
  every call, attribute access and loop step checks a deadline. A template that breaks
  a limit raises `TemplateRenderError`; nothing is sent.

Missing data renders as nothing (a customer without orders has no `last_order.total`);
`template_validate` is the strict side: unknown names, filters and attributes are
reported with their line before a template is saved.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import re
import time
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from jinja2 import (
    ChainableUndefined,
    StrictUndefined,
    TemplateSyntaxError,
    Undefined,
    meta,
    nodes,
    pass_context,
    pass_eval_context,
)
from jinja2 import Template as JinjaTemplate
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Cycler, Joiner, Namespace
from jinja2.visitor import NodeTransformer

from lifelong import clock
from lifelong.commerce.models import Order, OrderLine, OrderStatus
from lifelong.customers.models import Customer
from lifelong.lib import russian
from lifelong.lib.zones import zone_of
from lifelong.messaging.links import preferences_url, unsubscribe_url
from lifelong.messaging.models import BrandVoice, Template

RENDER_SECONDS = 0.2
MAX_OUTPUT = 100_000  # characters of one rendered field
MAX_VALUE = 100_000  # characters of any one string a template builds
MAX_ITEMS = 10_000  # items of any one list a template builds
MAX_ITERATIONS = 100_000  # loop steps in one render, all loops together
MAX_WRITTEN = 1_000_000  # characters printed in one render, captured blocks included
MAX_RANGE = 1_000
MAX_SOURCE = 50_000  # characters of one template field
MAX_NUMBER_BITS = 4096  # integers beyond ~1200 digits are never a message's business

FIELDS = ("subject", "body_text", "body_html")

# Top-level names of `message_context`.
CONTEXT_NAMES = frozenset(
    {"customer", "facts", "tags", "last_order", "loyalty", "links", "brand", "channel"}
)
# Names producers put in `extra` (journeys pass `journey`: the enrollment's context,
# e.g. the trigger event's properties; recommendations `products`; abandoned carts `cart`).
EXTRA_NAMES = frozenset({"journey", "products", "cart"})

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

# What a template may call on the plain data it sees. Anything else is refused.
STR_METHODS = frozenset(
    {
        "capitalize",
        "center",
        "count",
        "endswith",
        "find",
        "format",
        "isalpha",
        "isdigit",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "replace",
        "rjust",
        "rstrip",
        "split",
        "startswith",
        "strip",
        "title",
        "upper",
        "zfill",
    }
)
DICT_METHODS = frozenset({"get", "items", "keys", "values"})
SEQUENCE_METHODS = frozenset({"count", "index"})
DATE_METHODS = frozenset({"date", "isoformat", "isoweekday", "strftime", "weekday"})
# A printf or str.format width/precision of four digits or more, or one taken from "*".
_WIDE_FORMAT = re.compile(r"%[^a-zA-Z%]*(?:\d{4}|\*)|\{[^{}]*:[^{}]*\d{4}")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class TemplateProblem:
    field: str
    line: int | None
    message: str


class TemplateRenderError(Exception):
    """A template failed to render: a limit, a sandbox refusal, or an error in the template."""

    def __init__(self, message: str, *, field: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (self.field, _("line %(n)d") % {"n": self.line} if self.line else "")
            if part
        )
        return f"{where}: {self.message}" if where else self.message


# --- limits --------------------------------------------------------------------------------


@dataclass
class _Budget:
    deadline: float
    iterations: int = MAX_ITERATIONS
    written: int = 0

    def tick(self) -> None:
        if time.perf_counter() > self.deadline:
            raise TemplateRenderError(
                _("The template took longer than %(ms)d ms to render.")
                % {"ms": RENDER_SECONDS * 1000}
            )


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "template_budget", default=None
)


@contextlib.contextmanager
def _render_budget() -> Iterator[_Budget]:
    """One budget per message (all its fields); a nested render shares the outer one."""
    current = _budget.get()
    if current is not None:
        yield current
        return
    budget = _Budget(deadline=time.perf_counter() + RENDER_SECONDS)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def _tick() -> None:
    # Outside a render (Jinja folding constants at compile time) only the static limits apply.
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _too_long(what: str, size: int, limit: int) -> TemplateRenderError:
    numbers = {"size": f"{size:,}", "limit": f"{limit:,}"}
    if what == "list":
        message = _("The template builds a list of %(size)s items; the limit is %(limit)s.")
    else:
        message = _("The template builds a text of %(size)s characters; the limit is %(limit)s.")
    return TemplateRenderError(message % numbers)


def _check_size(value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_VALUE:
        raise _too_long("text", len(value), MAX_VALUE)
    if isinstance(value, list | tuple) and len(value) > MAX_ITEMS:
        raise _too_long("list", len(value), MAX_ITEMS)


def _check_number(value: Any) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS:
        raise TemplateRenderError(_("The template computes a number that is too large."))


def _check_format(template: str) -> None:
    if _WIDE_FORMAT.search(template):
        raise TemplateRenderError(_("Format widths of more than three digits are not allowed."))


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateRenderError(
            _("range() gives at most %(n)d numbers in a message template.") % {"n": MAX_RANGE}
        )
    return numbers


def _loop_guard(iterable: Any) -> Iterator[Any]:
    """Wraps every {% for %}: each step counts against the render's budget and deadline."""
    for item in iterable:
        budget = _budget.get()
        if budget is not None:
            budget.iterations -= 1
            if budget.iterations < 0:
                raise TemplateRenderError(
                    _("The template's loops ran more than %(n)s steps.")
                    % {"n": f"{MAX_ITERATIONS:,}"}
                )
            budget.tick()
        yield item


@pass_eval_context
def _concat_guard(eval_ctx: EvalContext, *values: Any) -> str:
    """`a ~ b`, checked before the joined string exists."""
    if sum(len(str(v)) for v in values) > MAX_VALUE:
        raise _too_long("text", sum(len(str(v)) for v in values), MAX_VALUE)
    join = markup_join if eval_ctx.autoescape else str_join
    return join(values)


class _Guards(NodeTransformer):
    """Route loops and `~` through the guards; the rest of the tree is Jinja's own."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("loop_guard"),
            [node.iter],
            [],
            None,
            None,
            lineno=node.lineno,
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(
            nodes.EnvironmentAttribute("concat_guard"),
            list(node.nodes),
            [],
            None,
            None,
            lineno=node.lineno,
        )


def _binop_checked(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(n, int):
                limit = MAX_VALUE if isinstance(seq, str) else MAX_ITEMS
                if len(seq) * n > limit:
                    raise _too_long("text" if isinstance(seq, str) else "list", len(seq) * n, limit)
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > MAX_NUMBER_BITS
        ):
            raise TemplateRenderError(_("The template computes a number that is too large."))
    elif operator == "**":
        if isinstance(right, int | float | Decimal) and not -100 <= right <= 100:
            raise TemplateRenderError(_("Powers above 100 are not allowed."))
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and left.bit_length() * right > MAX_NUMBER_BITS
        ):
            raise TemplateRenderError(_("The template computes a number that is too large."))
    elif operator == "+":
        if isinstance(left, str) and isinstance(right, str):
            _check_size_of(len(left) + len(right), MAX_VALUE, "text")
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            _check_size_of(len(left) + len(right), MAX_ITEMS, "list")
    elif operator == "%" and isinstance(left, str):
        _check_format(left)


def _check_size_of(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise _too_long(what, size, limit)


def _check_call(env: _Sandbox, obj: Any, args: tuple[Any, ...]) -> None:
    """Refuse every method call except the few a message template needs, with safe sizes."""
    wrapped = getattr(obj, "__wrapped__", None)
    if isinstance(wrapped, types.BuiltinMethodType) and isinstance(wrapped.__self__, str):
        # The sandbox's own stand-in for str.format / format_map.
        _check_format(wrapped.__self__)
        return
    if not isinstance(obj, types.BuiltinMethodType | types.MethodType):
        return  # our filters and globals, macros, jinja's cycler/joiner/namespace
    owner, name = obj.__self__, obj.__name__
    allowed: frozenset[str] = frozenset()
    if isinstance(owner, str):
        allowed = STR_METHODS
        if name in ("center", "ljust", "rjust", "zfill") and args:
            if isinstance(args[0], int) and args[0] > MAX_VALUE:
                raise _too_long("text", args[0], MAX_VALUE)
        elif name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            size = len(owner) + (owner.count(old) if old else len(owner) + 1) * len(new)
            _check_size_of(size, MAX_VALUE, "text")
        elif name == "join" and args:
            parts = list(args[0])
            _check_size_of(len(parts), MAX_ITEMS, "list")
            _check_size_of(
                sum(len(str(p)) for p in parts) + len(owner) * len(parts), MAX_VALUE, "text"
            )
    elif isinstance(owner, dict):
        allowed = DICT_METHODS
    elif isinstance(owner, list | tuple):
        allowed = SEQUENCE_METHODS
    elif isinstance(owner, dt.date):
        allowed = DATE_METHODS
    elif isinstance(owner, Cycler | Joiner | LoopContext | Macro | Namespace | _Sandbox):
        return
    if name not in allowed:
        raise SecurityError(
            _("Calling %(name)s() is not allowed in a message template.") % {"name": name}
        )


# --- filters -------------------------------------------------------------------------------


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


def _sized(index: int, name: str, limit: int, what: str = "text") -> Any:
    """Wrap a built-in filter whose argument `name` (positional `index`) sets the size of
    what it builds: refuse a size beyond `limit` before anything is built."""

    def wrap(func: Any) -> Any:
        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            size = args[index] if len(args) > index else kwargs.get(name)
            if isinstance(size, str):
                size = len(size)
            if isinstance(size, int) and size > limit:
                raise _too_long(what, size, limit)
            return func(*args, **kwargs)

        return checked

    return wrap


def _format_checked(func: Any) -> Any:
    @functools.wraps(func)
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_format(str(value))
        return func(value, *args, **kwargs)

    return checked


def _replace_checked(func: Any) -> Any:
    @functools.wraps(func)
    def checked(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        text, old, new = str(s), str(old), str(new)
        _check_size_of(
            len(text) + (text.count(old) if old else len(text) + 1) * len(new), MAX_VALUE, "text"
        )
        return func(eval_ctx, s, old, new, count)

    return checked


def _join_checked(func: Any) -> Any:
    @functools.wraps(func)
    def checked(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        _check_size_of(len(items), MAX_ITEMS, "list")
        _check_size_of(sum(len(str(i)) for i in items) + len(d) * len(items), MAX_VALUE, "text")
        return func(eval_ctx, items, d, attribute)

    return checked


# --- environment ---------------------------------------------------------------------------


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *, autoescape: bool, strict: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined if strict else ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=self._finalize,
            cache_size=0,
        )
        self.loop_guard = _loop_guard
        self.concat_guard = _concat_guard
        self.globals = {
            "range": _safe_range,
            "dict": dict,
            "namespace": Namespace,
            "cycler": Cycler,
            "joiner": Joiner,
        }
        filters = dict(self.filters)
        for name in ("random", "pprint"):
            filters.pop(name)
        # Positions count the value itself, and the environment for wordwrap.
        filters["center"] = _sized(1, "width", MAX_VALUE)(filters["center"])
        filters["indent"] = _sized(1, "width", 100)(filters["indent"])
        filters["wordwrap"] = _sized(2, "width", MAX_VALUE)(filters["wordwrap"])
        filters["batch"] = _sized(1, "linecount", MAX_ITEMS, "list")(filters["batch"])
        filters["slice"] = _sized(1, "slices", MAX_RANGE, "list")(filters["slice"])
        filters["format"] = _format_checked(filters["format"])
        filters["replace"] = _replace_checked(filters["replace"])
        filters["join"] = _join_checked(filters["join"])
        filters.update(
            case=filter_case,
            plural=filter_plural,
            gendered=filter_gendered,
            verb=filter_verb,
            money=filter_money,
            date=filter_date,
        )
        self.filters = filters

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        guarded = _Guards().visit(tree)
        guarded.set_environment(self)
        return guarded

    @staticmethod
    def _finalize(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, Undefined):
            return value
        size = len(value) if isinstance(value, str) else len(str(value))
        if size > MAX_OUTPUT:
            raise _too_long("text", size, MAX_OUTPUT)
        budget = _budget.get()
        if budget is not None:
            budget.written += size
            if budget.written > MAX_WRITTEN:
                raise _too_long("text", budget.written, MAX_WRITTEN)
        return value

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        _check_call(__self, __obj, args)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(result)
        _check_number(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _binop_checked(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Jinja returns an undefined that raises only when used; a lenient undefined never
        # is, so `{{ x.__class__ }}` would pass silently. Refuse at once instead.
        raise SecurityError(
            _("Access to “%(attribute)s” is not allowed in a message template.")
            % {"attribute": attribute}
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)


@functools.cache
def _environment(*, autoescape: bool, strict: bool) -> _Sandbox:
    # Load the dictionaries now, not inside the first render's time budget.
    russian.morph()
    return _Sandbox(autoescape=autoescape, strict=strict)


@functools.lru_cache(maxsize=512)
def _compiled(source: str, *, autoescape: bool, strict: bool) -> JinjaTemplate:
    # Journeys render the same few templates for thousands of customers: compile once.
    return _environment(autoescape=autoescape, strict=strict).from_string(source)


def _template_line(exc: BaseException) -> int | None:
    """The template line an exception came from (Jinja rewrites tracebacks to point there)."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_one(
    source: str, context: Mapping[str, Any], *, field: str, autoescape: bool, strict: bool
) -> str:
    if not source:
        return ""
    if len(source) > MAX_SOURCE:
        raise TemplateRenderError(
            _("The template is longer than %(n)s characters.") % {"n": f"{MAX_SOURCE:,}"},
            field=field,
        )
    try:
        # Compiling is outside the budget: it is cached, and bounded by the source's length.
        template = _compiled(source, autoescape=autoescape, strict=strict)
        with _render_budget() as budget:
            chunks: list[str] = []
            size = 0
            for chunk in template.generate(dict(context)):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise _too_long("text", size, MAX_OUTPUT)
                budget.tick()
                chunks.append(chunk)
        return "".join(chunks)
    except TemplateRenderError as exc:
        exc.field = exc.field or field
        exc.line = exc.line or _template_line(exc)
        raise
    except RecursionError as exc:
        raise TemplateRenderError(
            _("The template calls itself too deeply."), field=field, line=_template_line(exc)
        ) from exc
    except Exception as exc:
        # Staff-written code: whatever it raised is a problem of the template, shown to staff.
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise TemplateRenderError(message, field=field, line=_template_line(exc)) from exc


def fields_render(
    *, subject: str, text: str, html: str, context: Mapping[str, Any], strict: bool = False
) -> Rendered:
    """Render the three fields of one message against one context, each under its budget."""
    rendered_subject = _render_one(
        subject, context, field="subject", autoescape=False, strict=strict
    )
    rendered_text = _render_one(text, context, field="body_text", autoescape=False, strict=strict)
    rendered_html = _render_one(html, context, field="body_html", autoescape=True, strict=strict)
    return Rendered(
        # A subject is one line, whatever the template's line breaks.
        subject=" ".join(rendered_subject.split()),
        text=rendered_text.strip(),
        html=rendered_html.strip(),
    )


def template_fields(template: Template, language: str) -> dict[str, str]:
    """The subject and bodies in the customer's language, else the default (Russian) ones."""
    fields = {
        "subject": template.subject,
        "body_text": template.body_text,
        "body_html": template.body_html,
    }
    translation = (template.translations or {}).get(language)
    if isinstance(translation, Mapping) and translation.get("body_text"):
        fields = {name: str(translation.get(name) or "") for name in FIELDS}
    return fields


def message_render(
    *, template: Template, customer: Customer, channel: str, extra: Mapping[str, Any] | None = None
) -> Rendered:
    """Subject, text and HTML of `template` for this customer on this channel.

    Raises `TemplateRenderError` (with field and line) when the template breaks a limit
    or fails; the caller decides whether that skips the message.
    """
    fields = template_fields(template, customer.language)
    context = message_context(customer=customer, channel=channel, extra=extra)
    return fields_render(
        subject=fields["subject"],
        text=fields["body_text"],
        html=fields["body_html"],
        context=context,
    )


# --- context -------------------------------------------------------------------------------


def message_context(
    *, customer: Customer, channel: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Everything a template may use about this customer, as plain data.

    `customer.gender` is the stored gender or, when none is stored, the one the first
    name and patronymic give (so `customer|verb("купил")` is right for most people).
    The brand's greeting and signature are templates too, rendered here for the customer.
    `extra` (journey data, recommended products, a cart) is merged on top.
    Six queries: facts, tags, last order with its lines, state, brand voice.
    """
    from lifelong.segments.models import CustomerState

    gender = customer.gender or russian.name_gender(f"{customer.first_name} {customer.patronymic}")
    attributes = dict(customer.attributes or {})
    context: dict[str, Any] = {
        "customer": {
            "id": customer.pk,
            "external_id": customer.external_id or "",
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "patronymic": customer.patronymic,
            "display_name": customer.display_name,
            "full_name": customer.full_name,
            "gender": gender,
            "email": customer.email,
            "phone": customer.phone,
            "city": str(attributes.get("city") or ""),
            "attributes": attributes,
            "birthday": customer.birthday,
            "language": customer.language,
            "time_zone": customer.time_zone,
            "orders_count": customer.orders_count,
            "total_spent": customer.total_spent,
            "average_order": customer.average_order,
            "first_order_at": customer.first_order_at,
            "last_order_at": customer.last_order_at,
        },
        "facts": [fact.text for fact in customer.facts.all()],
        "tags": sorted(tag.name for tag in customer.tags.all()),
        "last_order": _last_order(customer),
        "loyalty": _loyalty(CustomerState.objects.filter(customer=customer).first()),
        "links": {
            "preferences": preferences_url(customer_id=customer.pk),
            "unsubscribe": unsubscribe_url(customer_id=customer.pk, channel=channel),
        },
        "channel": channel,
    }
    context["brand"] = _brand(channel, context)
    context.update(extra or {})
    return context


def _last_order(customer: Customer) -> dict[str, Any] | None:
    order = (
        Order.objects.filter(customer=customer)
        .exclude(status=OrderStatus.CANCELLED)
        .order_by("-placed_at", "-pk")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("pk"))
        )
        .first()
    )
    if order is None:
        return None
    return {
        "external_id": order.external_id,
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "discount": order.discount,
        "coupon": order.coupon,
        "placed_at": order.placed_at,
        "products": [
            {
                "name": line.name or (line.product.name if line.product else ""),
                "sku": line.sku or (line.product.sku if line.product else ""),
                "category": line.product.category if line.product else "",
                "quantity": line.quantity,
                "price": line.price,
                "total": line.total,
            }
            for line in order.lines.all()
        ],
    }


def _loyalty(state: Any) -> dict[str, Any]:
    if state is None:
        return {
            "stage": "",
            "stage_name": "",
            "rfm_segment": "",
            "loyal_type": "",
            "loyalty_value": None,
        }
    return {
        "stage": state.stage,
        "stage_name": str(state.get_stage_display()) if state.stage else "",
        "rfm_segment": state.rfm_segment,
        "loyal_type": state.loyal_type,
        "loyalty_value": state.loyalty_value,
    }


def _brand(channel: str, context: Mapping[str, Any]) -> dict[str, str]:
    voice = BrandVoice.objects.filter(channel=channel).first()
    if voice is None:
        return {"sender_name": "", "greeting": "", "signature": ""}
    return {
        "sender_name": voice.sender_name,
        "greeting": _render_one(
            voice.greeting, context, field="greeting", autoescape=False, strict=False
        ).strip(),
        "signature": _render_one(
            voice.signature, context, field="signature", autoescape=False, strict=False
        ).strip(),
    }


# --- validation ----------------------------------------------------------------------------


class _AnyKeys(dict[str, Any]):
    """Sample data with free-form keys (attributes, journey data): any key reads as empty."""

    def __missing__(self, key: Any) -> Any:
        return ChainableUndefined(name=str(key))


def sample_context(extra_names: Iterable[str] = ()) -> dict[str, Any]:
    """A made-up customer with every field set, for checking a template without the database."""
    now = clock.now()
    product = {
        "name": "Коврик для йоги",
        "sku": "MAT-1",
        "category": "Коврики",
        "quantity": 1,
        "price": Decimal("1990.00"),
        "total": Decimal("1990.00"),
    }
    context: dict[str, Any] = {
        "customer": {
            "id": 1,
            "external_id": "C000001",
            "first_name": "Алексей",
            "last_name": "Иванов",
            "patronymic": "Сергеевич",
            "display_name": "Алексей Сергеевич",
            "full_name": "Иванов Алексей Сергеевич",
            "gender": "m",
            "email": "alexey@example.ru",
            "phone": "+79160000000",
            "city": "Казань",
            "attributes": _AnyKeys(city="Казань"),
            "birthday": dt.date(1990, 3, 2),
            "language": "ru",
            "time_zone": settings.TIME_ZONE,
            "orders_count": 3,
            "total_spent": Decimal("5970.00"),
            "average_order": Decimal("1990.00"),
            "first_order_at": now - dt.timedelta(days=200),
            "last_order_at": now - dt.timedelta(days=20),
        },
        "facts": ["попугай Кеша"],
        "tags": ["vip"],
        "last_order": {
            "external_id": "O0000001",
            "status": "delivered",
            "total": Decimal("1990.00"),
            "currency": "RUB",
            "discount": Decimal("0"),
            "coupon": "",
            "placed_at": now - dt.timedelta(days=20),
            "products": [product],
        },
        "loyalty": {
            "stage": "repeat",
            "stage_name": "Repeat",
            "rfm_segment": "loyal",
            "loyal_type": "",
            "loyalty_value": Decimal("12000.00"),
        },
        "links": {
            "preferences": "https://example.ru/p/preferences/",
            "unsubscribe": "https://example.ru/p/unsubscribe/",
        },
        "brand": {"sender_name": "Магазин", "greeting": "Здравствуйте!", "signature": "Магазин"},
        "channel": "email",
    }
    for name in {*EXTRA_NAMES, *extra_names}:
        context[name] = _AnyKeys()
    return context


def template_validate(
    *, subject: str, body_text: str, body_html: str, extra_names: Iterable[str] = ()
) -> list[TemplateProblem]:
    """Problems of a template before it is saved, each with its field and line.

    Syntax errors; names the context does not have; filters that do not exist;
    include/extends/import (there is nothing to include); and then a strict trial render
    on a sample customer, which catches misspelt attributes, sandbox refusals and limits.
    """
    known = CONTEXT_NAMES | EXTRA_NAMES | set(extra_names)
    problems: list[TemplateProblem] = []
    sources = {"subject": subject, "body_text": body_text, "body_html": body_html}
    for field, source in sources.items():
        if not source:
            continue
        if len(source) > MAX_SOURCE:
            problems.append(
                TemplateProblem(
                    field,
                    None,
                    _("The template is longer than %(n)s characters.") % {"n": f"{MAX_SOURCE:,}"},
                )
            )
            continue
        env = _environment(autoescape=field == "body_html", strict=True)
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem(field, exc.lineno, exc.message or str(exc)))
            continue
        found = _static_problems(field, tree, env, known)
        problems += found
        if found:
            continue
        try:
            _render_one(
                source,
                sample_context(extra_names),
                field=field,
                autoescape=field == "body_html",
                strict=True,
            )
        except TemplateRenderError as exc:
            problems.append(TemplateProblem(field, exc.line, exc.message))
    return problems


def _static_problems(
    field: str, tree: nodes.Template, env: _Sandbox, known: frozenset[str] | set[str]
) -> list[TemplateProblem]:
    problems = []
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        problems.append(
            TemplateProblem(
                field, node.lineno, _("Message templates cannot include other templates.")
            )
        )
    for used in tree.find_all(nodes.Filter):
        if used.name not in env.filters:
            problems.append(
                TemplateProblem(
                    field, used.lineno, _("Unknown filter “%(name)s”.") % {"name": used.name}
                )
            )
            # Jinja's analysis below refuses unknown filters; this tree is only looked at.
            used.name = "string"
    for test in tree.find_all(nodes.Test):
        if test.name not in env.tests:
            problems.append(
                TemplateProblem(
                    field, test.lineno, _("Unknown test “%(name)s”.") % {"name": test.name}
                )
            )
            test.name = "defined"
    for name in sorted(meta.find_undeclared_variables(tree) - known - set(env.globals)):
        line = min(
            (n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"),
            default=None,
        )
        problems.append(
            TemplateProblem(field, line, _("Unknown variable “%(name)s”.") % {"name": name})
        )
    return sorted(problems, key=lambda p: p.line or 0)
