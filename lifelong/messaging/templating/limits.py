"""Limits of one render, and the size of a value counted before the value is built.

A value's size is its footprint: the characters it prints as, a list or mapping counted
as a tree (the same string held ten times counts ten times, because printing, joining or
serialising it builds it ten times). Every operator, call and filter that builds a value
computes the footprint of the result from its inputs first and refuses it past
MAX_VALUE; a value within the limit costs at most a few milliseconds to print, compare or
serialise, so no single C call outlasts the deadline by much.

Memory is bounded the same way, by accounting rather than by the process: every value a
render builds is charged to it before it is built, and a render that has built
MAX_BUILT characters in all is refused. Whatever a render holds at any moment it has
built, so this bounds its memory too (setrlimit is process-wide and would take the
worker down with it; tracemalloc slows every allocation of the process).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
import string
import time
from collections.abc import ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any, NamedTuple, TypeVar

from django.utils.translation import gettext as _
from jinja2 import Undefined
from jinja2.utils import Namespace

RENDER_SECONDS = 0.2
MAX_OUTPUT = 100_000  # characters of one rendered field
MAX_VALUE = 100_000  # footprint of any one value a template builds
MAX_ITEMS = 10_000  # items of any one list a template builds
MAX_ITERATIONS = 100_000  # loop steps in one render, all loops together
MAX_WRITTEN = 1_000_000  # characters printed in one render, captured blocks included
MAX_BUILT = 10_000_000  # footprint of all the values one render builds, together
MAX_RANGE = 1_000
MAX_SOURCE = 50_000  # characters of one template field
MAX_NUMBER_BITS = 4096  # integers beyond ~1200 digits are never a message's business
# Nor decimals beyond 10**±1000. Their arithmetic is cheap at any exponent (28 digits), but
# written out or made an int, 1E+999000 takes a megabyte, or a minute in one C call.
MAX_DECIMAL_EXPONENT = 1000
MAX_WIDTH = 999  # of a format field: width or precision


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


@dataclass
class Budget:
    deadline: float
    iterations: int = MAX_ITERATIONS
    written: int = 0
    built: int = 0
    # Footprints of the larger lists and mappings met in this render, by id (each held,
    # so that its id stays its own): a value built from them is sized without walking
    # them again. Nothing a template holds changes, except namespaces, never kept here.
    sizes: dict[int, tuple[Any, int]] = field(default_factory=dict)

    def tick(self) -> None:
        if time.perf_counter() > self.deadline:
            raise TemplateRenderError(
                _("The template took longer than %(ms)d ms to render.")
                % {"ms": RENDER_SECONDS * 1000}
            )

    def charge(self, size: int) -> None:
        self.built += size
        if self.built > MAX_BUILT:
            raise TemplateRenderError(
                _("The template builds more than %(limit)s characters in one render.")
                % {"limit": f"{MAX_BUILT:,}"}
            )


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "template_budget", default=None
)


def current_budget() -> Budget | None:
    """The budget of the render under way; None outside one (Jinja folding constants)."""
    return _budget.get()


@contextlib.contextmanager
def render_budget() -> Iterator[Budget]:
    """One budget per message (all its fields); a nested render shares the outer one."""
    current = current_budget()
    if current is not None:
        yield current
        return
    budget = Budget(deadline=time.perf_counter() + RENDER_SECONDS)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def tick() -> None:
    # Outside a render (Jinja folding constants at compile time) only the static limits apply.
    budget = current_budget()
    if budget is not None:
        budget.tick()


def too_long(what: str, size: int, limit: int) -> TemplateRenderError:
    numbers = {"size": f"{size:,}", "limit": f"{limit:,}"}
    if what == "list":
        message = _("The template builds a list of %(size)s items; the limit is %(limit)s.")
    elif what == "data":
        # A footprint stops counting past the limit: only "more than" is known.
        message = _("The template builds data that prints as more than %(limit)s characters.")
    else:
        message = _("The template builds a text of %(size)s characters; the limit is %(limit)s.")
    return TemplateRenderError(message % numbers)


def check_number(value: Any) -> None:
    if (isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS) or (
        isinstance(value, Decimal)
        and value.is_finite()
        and abs(value.adjusted()) > MAX_DECIMAL_EXPONENT
    ):
        raise TemplateRenderError(_("The template computes a number that is too large."))


def check_items(count: int) -> None:
    if count > MAX_ITEMS:
        raise too_long("list", count, MAX_ITEMS)


def check_size(size: int, *, what: str = "text") -> None:
    """Before a value of footprint `size` is built by a call or filter (which `built`
    charges once it exists): refuse it past the limit."""
    if size > MAX_VALUE:
        raise too_long(what, size, MAX_VALUE)


def build(size: int, *, what: str = "text") -> None:
    """Before an operator builds a value of footprint `size`: refuse it past the limit,
    else charge it to the render."""
    check_size(size, what=what)
    budget = current_budget()
    if budget is not None:
        budget.charge(size)


_T = TypeVar("_T")


def built(value: _T) -> _T:
    """A value a call, filter or literal has just built, bounded by its inputs' sizes (each
    within the limits): check it and charge it before it is used to build anything more."""
    check_number(value)
    if isinstance(value, list | tuple):
        check_items(len(value))
    build(footprint(value), what="text" if isinstance(value, str) else "data")
    return value


# --- footprint -----------------------------------------------------------------------------

_SEPARATOR = 2  # ", " between items, ": " in a mapping
_BRACKETS = 2
_QUOTES = 2  # a string inside a list or mapping prints quoted
_OBJECT = 80  # "<generator object ...>", "<Macro ...>" and the like
_TICK_EVERY = 4096


def footprint(value: Any, limit: int = MAX_VALUE) -> int:
    """The characters `value` prints as, counted without building any text and in about
    `limit` steps at most: counting stops once past `limit`.

    Exact for a string; for data, within small factors of its text either way: repr()
    escapes a character into up to ten and writes a decimal or a date out longer, while
    separators and digits are counted generously.
    """
    return measure(value, limit).size


class Measure(NamedTuple):
    size: int  # the footprint
    settled: bool  # holds no namespace, so the size cannot change


def measure(value: Any, limit: int = MAX_VALUE) -> Measure:
    """The footprint of `value`, and whether it is settled (see `remember`)."""
    items = _items(value)
    if items is None:
        return Measure(_scalar_size(value), settled=True)
    budget = _budget.get()
    known = budget.sizes if budget is not None else {}
    if id(value) in known:
        return Measure(known[id(value)][1], settled=True)
    top = _Frame(value, items, start=0, changing=isinstance(value, Namespace))
    frames = [top]
    total = _BRACKETS
    steps = 0
    while frames and total <= limit:
        frame = frames[-1]
        for item in frame.items:
            steps += 1
            if steps % _TICK_EVERY == 0:
                tick()
            total += _SEPARATOR
            # Strings and numbers first and by exact type: most items are, and the walk
            # must be quick.
            kind = type(item)
            if kind is str:
                total += _QUOTES + len(item)
            elif kind is int:
                total += _digits(item)
            elif id(item) in known:
                total += known[id(item)][1]
            elif (inner := _items(item)) is not None:
                if isinstance(item, Namespace):
                    for outer in frames:
                        outer.changing = True
                frames.append(
                    _Frame(item, inner, start=total, changing=isinstance(item, Namespace))
                )
                total += _BRACKETS
                break
            else:
                total += _scalar_size(item) + (_QUOTES if isinstance(item, str) else 0)
            if total > limit:
                break
        else:
            frames.pop()
            size = total - frame.start
            if not frame.changing:
                remember(frame.value, size)
    return Measure(total, settled=not top.changing)


@dataclass
class _Frame:
    value: Any
    items: Iterator[Any]
    start: int  # the count before the value's brackets
    changing: bool  # holds a namespace, whose attributes a template may set


# Smaller values are walked again each time: quick, and no memory held for them.
_REMEMBERED = 1024


def remember(value: Any, size: int) -> None:
    """Keep the footprint of a settled list or mapping for the rest of the render: a value
    built from it is then sized without walking it again."""
    budget = _budget.get()
    if budget is not None and size >= _REMEMBERED:
        budget.sizes[id(value)] = (value, size)


def joined_size(items: Sequence[Any]) -> int:
    """The footprint of `items` printed one after another, as `~` and `join` print them."""
    # Less the brackets, separators and quotes it would have printed as a list.
    overhead = (
        _BRACKETS + _SEPARATOR * len(items) + _QUOTES * sum(isinstance(i, str) for i in items)
    )
    return footprint(items, MAX_VALUE + overhead) - overhead


def _items(value: Any) -> Iterator[Any] | None:
    """What `value` holds, for counting; None for a value printed as itself."""
    kind = type(value)
    if kind is list or kind is tuple:
        return iter(value)
    if kind is dict:
        return chain.from_iterable(value.items())
    if kind in _PRINTED_AS_THEMSELVES:
        return None
    if isinstance(value, Mapping):
        return chain.from_iterable(value.items())
    if isinstance(value, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
        return iter(value)
    if isinstance(value, Namespace):
        # A namespace prints as its attributes.
        return chain.from_iterable(value._Namespace__attrs.items())
    return None


_PRINTED_AS_THEMSELVES = frozenset(
    {str, int, float, bool, type(None), Decimal, dt.date, dt.datetime}
)


def _digits(number: int) -> int:
    # log10(2) < 10/33: never fewer than the digits, at most one more.
    return number.bit_length() * 10 // 33 + 1 + (number < 0)


def _scalar_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return _digits(value)
    if isinstance(value, float):
        return 24
    if isinstance(value, Decimal):
        _sign, digits, exponent = value.as_tuple()
        # Written out in full ("{:f}"), a decimal takes its digits and its exponent's zeros.
        return len(digits) + abs(exponent) + 3 if isinstance(exponent, int) else 9
    if isinstance(value, Undefined):
        return 0
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return 40
    return _OBJECT


# --- formats -------------------------------------------------------------------------------

# One printf field: %[(key)][flags][width][.precision][length]type
_PRINTF_FIELD = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)
# Width and precision at the end of a str.format spec:
# [[fill]align][sign][z][#][0][width][,][.precision][type]
_SPEC_END = re.compile(r"(\d*)[,_]?(?:\.(\d*))?[a-zA-Z%]?$")
_FIELD_NAME = re.compile(r"[^.\[]*")
# A field may also print a float's integer digits (up to 309) and its sign.
_FIELD_EXTRA = 320


def printf_size(template: str, values: Any) -> int:
    """The longest `template % values` can be, before it is formatted."""
    size = len(template)
    position = 0
    for match in _PRINTF_FIELD.finditer(template):
        key, width, precision, kind = match.groups()
        if kind == "%":
            continue
        if key is not None and isinstance(values, Mapping):
            value = values.get(key)
        elif isinstance(values, tuple):
            value = values[position] if position < len(values) else None
            position += 1
        else:
            value = values
        size += _field_size(value, width, precision, escaped=kind in ("r", "a"))
        if size > MAX_VALUE:
            break  # refused anyway; the rest of the fields need not be counted
    return size


def format_size(template: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    """The longest `template.format(*args, **kwargs)` can be, before it is formatted."""
    size = len(template)
    position = 0
    for _literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if "{" in (spec or ""):
            # The width would come from an argument: any number of digits.
            raise _wide_format()
        first = _FIELD_NAME.match(name).group()  # type: ignore[union-attr]
        if first == "":
            first = str(position)
            position += 1
        if first.isdigit():
            value = args[int(first)] if int(first) < len(args) else None
        else:
            value = kwargs.get(first) if isinstance(kwargs, Mapping) else None
        width, precision = _SPEC_END.search(spec or "").groups()  # type: ignore[union-attr]
        size += _field_size(value, width, precision, escaped=conversion in ("r", "a"))
        if size > MAX_VALUE:
            break  # refused anyway; the rest of the fields need not be counted
    return size


def _field_size(value: Any, width: str | None, precision: str | None, *, escaped: bool) -> int:
    numbers = []
    for number in (width, precision):
        if number == "*" or (number and int(number) > MAX_WIDTH):
            raise _wide_format()
        numbers.append(int(number) if number else 0)
    # repr() and ascii() escape a character into at most ten ("\U0001f600").
    text = footprint(value) * (10 if escaped else 1)
    return sum(numbers) + text + _FIELD_EXTRA


def _wide_format() -> TemplateRenderError:
    return TemplateRenderError(
        _("Format widths and precisions have at most three digits, written in the format itself.")
    )
