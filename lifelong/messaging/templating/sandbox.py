"""The sandboxed Jinja2 environment: what a template may call, and every operator guarded.

Loops count their steps, every string a template builds (`*`, `+`, `~`, `%`, filters,
str methods) is checked *before* it is built, and every call, attribute access and loop
step checks the deadline (see limits.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from jinja2 import (
    ChainableUndefined,
    StrictUndefined,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_eval_context,
)
from jinja2 import Template as JinjaTemplate
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Cycler, Joiner, Namespace
from jinja2.visitor import NodeTransformer

from lifelong.lib import russian
from lifelong.messaging.templating.filters import (
    filter_case,
    filter_date,
    filter_gendered,
    filter_money,
    filter_plural,
    filter_verb,
)
from lifelong.messaging.templating.limits import (
    MAX_ITEMS,
    MAX_ITERATIONS,
    MAX_NUMBER_BITS,
    MAX_OUTPUT,
    MAX_RANGE,
    MAX_SOURCE,
    MAX_VALUE,
    MAX_WRITTEN,
    TemplateRenderError,
    check_format,
    check_number,
    check_size,
    check_size_of,
    current_budget,
    render_budget,
    tick,
    too_long,
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


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


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
        budget = current_budget()
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
        raise too_long("text", sum(len(str(v)) for v in values), MAX_VALUE)
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
                    raise too_long("text" if isinstance(seq, str) else "list", len(seq) * n, limit)
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
            check_size_of(len(left) + len(right), MAX_VALUE, "text")
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            check_size_of(len(left) + len(right), MAX_ITEMS, "list")
    elif operator == "%" and isinstance(left, str):
        check_format(left)


def _check_call(env: Sandbox, obj: Any, args: tuple[Any, ...]) -> None:
    """Refuse every method call except the few a message template needs, with safe sizes."""
    wrapped = getattr(obj, "__wrapped__", None)
    if isinstance(wrapped, types.BuiltinMethodType) and isinstance(wrapped.__self__, str):
        # The sandbox's own stand-in for str.format / format_map.
        check_format(wrapped.__self__)
        return
    if not isinstance(obj, types.BuiltinMethodType | types.MethodType):
        return  # our filters and globals, macros, jinja's cycler/joiner/namespace
    owner, name = obj.__self__, obj.__name__
    allowed: frozenset[str] = frozenset()
    if isinstance(owner, str):
        allowed = STR_METHODS
        if name in ("center", "ljust", "rjust", "zfill") and args:
            if isinstance(args[0], int) and args[0] > MAX_VALUE:
                raise too_long("text", args[0], MAX_VALUE)
        elif name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            size = len(owner) + (owner.count(old) if old else len(owner) + 1) * len(new)
            check_size_of(size, MAX_VALUE, "text")
        elif name == "join" and args:
            parts = list(args[0])
            check_size_of(len(parts), MAX_ITEMS, "list")
            check_size_of(
                sum(len(str(p)) for p in parts) + len(owner) * len(parts), MAX_VALUE, "text"
            )
    elif isinstance(owner, dict):
        allowed = DICT_METHODS
    elif isinstance(owner, list | tuple):
        allowed = SEQUENCE_METHODS
    elif isinstance(owner, dt.date):
        allowed = DATE_METHODS
    elif isinstance(owner, Cycler | Joiner | LoopContext | Macro | Namespace | Sandbox):
        return
    if name not in allowed:
        raise SecurityError(
            _("Calling %(name)s() is not allowed in a message template.") % {"name": name}
        )


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
                raise too_long(what, size, limit)
            return func(*args, **kwargs)

        return checked

    return wrap


def _format_checked(func: Any) -> Any:
    @functools.wraps(func)
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        check_format(str(value))
        return func(value, *args, **kwargs)

    return checked


def _replace_checked(func: Any) -> Any:
    @functools.wraps(func)
    def checked(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        text, old, new = str(s), str(old), str(new)
        check_size_of(
            len(text) + (text.count(old) if old else len(text) + 1) * len(new), MAX_VALUE, "text"
        )
        return func(eval_ctx, s, old, new, count)

    return checked


def _join_checked(func: Any) -> Any:
    @functools.wraps(func)
    def checked(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        check_size_of(len(items), MAX_ITEMS, "list")
        check_size_of(sum(len(str(i)) for i in items) + len(d) * len(items), MAX_VALUE, "text")
        return func(eval_ctx, items, d, attribute)

    return checked


# --- environment ---------------------------------------------------------------------------


class Sandbox(ImmutableSandboxedEnvironment):
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
            raise too_long("text", size, MAX_OUTPUT)
        budget = current_budget()
        if budget is not None:
            budget.written += size
            if budget.written > MAX_WRITTEN:
                raise too_long("text", budget.written, MAX_WRITTEN)
        return value

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        _check_call(__self, __obj, args)
        result = super().call(__context, __obj, *args, **kwargs)
        check_size(result)
        check_number(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
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
        tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        return super().getitem(obj, argument)


@functools.cache
def environment(*, autoescape: bool, strict: bool) -> Sandbox:
    # Load the dictionaries now, not inside the first render's time budget.
    russian.morph()
    return Sandbox(autoescape=autoescape, strict=strict)


@functools.lru_cache(maxsize=512)
def _compiled(source: str, *, autoescape: bool, strict: bool) -> JinjaTemplate:
    # Journeys render the same few templates for thousands of customers: compile once.
    return environment(autoescape=autoescape, strict=strict).from_string(source)


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


def field_render(
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
        with render_budget() as budget:
            chunks: list[str] = []
            size = 0
            for chunk in template.generate(dict(context)):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise too_long("text", size, MAX_OUTPUT)
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
    rendered_subject = field_render(
        subject, context, field="subject", autoescape=False, strict=strict
    )
    rendered_text = field_render(text, context, field="body_text", autoescape=False, strict=strict)
    rendered_html = field_render(html, context, field="body_html", autoescape=True, strict=strict)
    return Rendered(
        # A subject is one line, whatever the template's line breaks.
        subject=" ".join(rendered_subject.split()),
        text=rendered_text.strip(),
        html=rendered_html.strip(),
    )
