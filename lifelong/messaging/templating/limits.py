"""Limits of one render: sizes, numbers, loop steps and a deadline, shared by all its fields."""

from __future__ import annotations

import contextlib
import contextvars
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

RENDER_SECONDS = 0.2
MAX_OUTPUT = 100_000  # characters of one rendered field
MAX_VALUE = 100_000  # characters of any one string a template builds
MAX_ITEMS = 10_000  # items of any one list a template builds
MAX_ITERATIONS = 100_000  # loop steps in one render, all loops together
MAX_WRITTEN = 1_000_000  # characters printed in one render, captured blocks included
MAX_RANGE = 1_000
MAX_SOURCE = 50_000  # characters of one template field
MAX_NUMBER_BITS = 4096  # integers beyond ~1200 digits are never a message's business

# A printf or str.format width/precision of four digits or more, or one taken from "*".
_WIDE_FORMAT = re.compile(r"%[^a-zA-Z%]*(?:\d{4}|\*)|\{[^{}]*:[^{}]*\d{4}")


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

    def tick(self) -> None:
        if time.perf_counter() > self.deadline:
            raise TemplateRenderError(
                _("The template took longer than %(ms)d ms to render.")
                % {"ms": RENDER_SECONDS * 1000}
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
    else:
        message = _("The template builds a text of %(size)s characters; the limit is %(limit)s.")
    return TemplateRenderError(message % numbers)


def check_size(value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_VALUE:
        raise too_long("text", len(value), MAX_VALUE)
    if isinstance(value, list | tuple) and len(value) > MAX_ITEMS:
        raise too_long("list", len(value), MAX_ITEMS)


def check_number(value: Any) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS:
        raise TemplateRenderError(_("The template computes a number that is too large."))


def check_format(template: str) -> None:
    if _WIDE_FORMAT.search(template):
        raise TemplateRenderError(_("Format widths of more than three digits are not allowed."))


def check_size_of(size: int, limit: int, what: str) -> None:
    if size > limit:
        raise too_long(what, size, limit)
