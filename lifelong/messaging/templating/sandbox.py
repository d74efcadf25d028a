"""The sandboxed Jinja2 environment: what a template may call, and every operator guarded.

Loops count their steps; every value a template builds (`*`, `+`, `~`, `%`, literals,
calls, filters) has its size computed *before* it is built and is charged to the render
(see limits.py); every call, attribute access and loop step checks the deadline.
"""

from __future__ import annotations

import datetime as dt
import functools
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
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
from lifelong.messaging.templating.errors import jinja_message
from lifelong.messaging.templating.filters import template_filters
from lifelong.messaging.templating.limits import (
    MAX_ITERATIONS,
    MAX_NUMBER_BITS,
    MAX_OUTPUT,
    MAX_RANGE,
    MAX_SOURCE,
    MAX_WRITTEN,
    Measure,
    TemplateRenderError,
    build,
    built,
    check_items,
    check_number,
    check_size,
    current_budget,
    footprint,
    format_size,
    joined_size,
    measure,
    printf_size,
    remember,
    render_budget,
    tick,
    too_long,
)
from lifelong.messaging.variants import Button, Variant

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
    # A messenger variant's link buttons, rendered.
    buttons: tuple[Button, ...] = ()


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
    """`a ~ b`, sized before the joined string (or the text of any part) exists."""
    build(joined_size(values))
    join = markup_join if eval_ctx.autoescape else str_join
    return join(values)


def _literal_guard(value: Any) -> Any:
    """`[a, b]`, `(a, b)`, `{k: v}`: a literal holds values that exist already, but nested
    literals multiply them (`[b, b, b]` of `[a, a, a]`): check what it holds."""
    return built(value)


class _Guards(NodeTransformer):
    """Route loops, `~` and literal lists, tuples and dicts through the guards; the rest of
    the tree is Jinja's own."""

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

    def _literal(self, node: nodes.List | nodes.Tuple | nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":
            return node  # `{% for a, b in ... %}` assigns to a tuple
        return nodes.Call(
            nodes.EnvironmentAttribute("literal_guard"), [node], [], None, None, lineno=node.lineno
        )

    visit_List = visit_Tuple = visit_Dict = _literal


def _binop_checked(operator: str, left: Any, right: Any) -> Measure | None:
    """Refuse what `left operator right` would build past the limits, before it is built;
    the measure of the list or tuple it builds, if it builds one."""
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, str) and isinstance(n, int):
                build(len(seq) * n)
            elif isinstance(seq, list | tuple) and isinstance(n, int):
                check_items(len(seq) * n)
                part = measure(seq)
                # The brackets once, what is between them n times.
                size = 2 + (part.size - 2) * max(n, 0)
                build(size, what="data")
                return Measure(size, part.settled)
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
            build(len(left) + len(right))
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            check_items(len(left) + len(right))
            first, second = measure(left), measure(right)
            size = first.size + second.size - 2
            build(size, what="data")
            return Measure(size, first.settled and second.settled)
    elif operator == "%" and isinstance(left, str):
        build(printf_size(left, right))
    return None


def _checked_args(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse every method call except the few a message template needs, with safe sizes;
    the arguments to call it with (an iterable to join is read once, here)."""
    wrapped = getattr(obj, "__wrapped__", None)
    if isinstance(wrapped, types.BuiltinMethodType) and isinstance(wrapped.__self__, str):
        # The sandbox's own stand-in for str.format / format_map.
        if wrapped.__name__ == "format_map":
            check_size(format_size(wrapped.__self__, (), args[0] if args else {}))
        else:
            check_size(format_size(wrapped.__self__, args, kwargs))
        return args
    if not isinstance(obj, types.BuiltinMethodType | types.MethodType):
        return args  # our filters and globals, macros, jinja's cycler/joiner/namespace
    owner, name = obj.__self__, obj.__name__
    allowed: frozenset[str] = frozenset()
    if isinstance(owner, str):
        allowed = STR_METHODS
        if name in ("center", "ljust", "rjust", "zfill") and args:
            if isinstance(args[0], int):
                check_size(max(len(owner), args[0]))
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if isinstance(old, str) and isinstance(new, str):
                check_size(len(owner) + (owner.count(old) if old else len(owner) + 1) * len(new))
        elif name == "join" and args:
            parts = list(args[0])
            check_items(len(parts))
            check_size(joined_size(parts) + len(owner) * len(parts))
            args = (parts, *args[1:])
    elif isinstance(owner, dict):
        allowed = DICT_METHODS
    elif isinstance(owner, list | tuple):
        allowed = SEQUENCE_METHODS
    elif isinstance(owner, dt.date):
        allowed = DATE_METHODS
    elif isinstance(owner, Cycler | Joiner | LoopContext | Macro | Namespace | Sandbox):
        return args
    if name not in allowed:
        raise SecurityError(
            _("Calling %(name)s() is not allowed in a message template.") % {"name": name}
        )
    return args


# --- environment ---------------------------------------------------------------------------


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "/", "//", "**", "+", "%"})

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
        self.literal_guard = _literal_guard
        self.globals = {
            "range": _safe_range,
            "dict": dict,
            "namespace": Namespace,
            "cycler": Cycler,
            "joiner": Joiner,
        }
        self.filters = template_filters(self.filters)

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
        size = footprint(value, MAX_OUTPUT)
        if size > MAX_OUTPUT:
            raise too_long("text" if isinstance(value, str) else "data", size, MAX_OUTPUT)
        budget = current_budget()
        if budget is not None:
            budget.written += size
            if budget.written > MAX_WRITTEN:
                raise too_long("text", budget.written, MAX_WRITTEN)
        return value

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        args = _checked_args(__obj, args, kwargs)
        return built(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        measured = _binop_checked(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        check_number(result)
        if measured is not None and measured.settled:
            remember(result, measured.size)
        return result

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
        item = super().getitem(obj, argument)
        # A slice is a copy: charge it like any value built.
        return built(item) if isinstance(argument, slice) else item


@functools.cache
def environment(*, autoescape: bool, strict: bool) -> Sandbox:
    # Load the dictionaries now, not inside the first render's time budget.
    russian.morph()
    return Sandbox(autoescape=autoescape, strict=strict)


@functools.lru_cache(maxsize=512)
def _compiled(source: str, *, autoescape: bool, strict: bool) -> JinjaTemplate:
    # Journeys render the same few templates for thousands of customers: compile once.
    template = environment(autoescape=autoescape, strict=strict).from_string(source)
    # Jinja copies the globals into every render's context, and from its layered view of
    # them (a ChainMap) that copy cost more than the render. Ours never change after start.
    template.globals = dict(template.globals)
    return template


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
        raise TemplateRenderError(
            jinja_message(exc, context), field=field, line=_template_line(exc)
        ) from exc


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


def variant_render(
    variant: Variant, context: Mapping[str, Any], *, strict: bool = False
) -> Rendered:
    """Render one variant (see messaging/variants.py): its subject and bodies, and its
    buttons, each label on one line. A button whose address does not render to a web
    address is left out: a messenger refuses the whole message for one bad button."""
    rendered = fields_render(
        subject=variant.subject,
        text=variant.text,
        html=variant.html,
        context=context,
        strict=strict,
    )
    buttons = []
    for button in variant.buttons:
        label = field_render(
            button.label, context, field="messenger_buttons", autoescape=False, strict=strict
        )
        url = field_render(
            button.url, context, field="messenger_buttons", autoescape=False, strict=strict
        ).strip()
        if label.strip() and url.startswith(("https://", "http://")):
            buttons.append(Button(" ".join(label.split()), url))
    return replace(rendered, buttons=tuple(buttons))
