"""Checking a template before it is saved: static problems, then a trial render on a sample."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from jinja2 import ChainableUndefined, TemplateSyntaxError, meta, nodes

from lifelong import clock
from lifelong.loyalty.status import (
    DatedPoints,
    LoyaltyStatus,
    Missing,
    PointsNames,
    TierView,
)
from lifelong.messaging.templating.context import CONTEXT_NAMES, EXTRA_NAMES
from lifelong.messaging.templating.errors import jinja_message
from lifelong.messaging.templating.limits import MAX_SOURCE, TemplateRenderError
from lifelong.messaging.templating.loyalty import LoyaltyData, loyalty_data
from lifelong.messaging.templating.sandbox import Sandbox, environment, field_render
from lifelong.messaging.templating.words import context_as_words


@dataclass(frozen=True)
class TemplateProblem:
    field: str
    line: int | None
    message: str


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
        "loyalty": _sample_loyalty(now),
        "links": {
            "preferences": "https://example.ru/p/preferences/",
            "unsubscribe": "https://example.ru/p/unsubscribe/",
        },
        "brand": {"sender_name": "Магазин", "greeting": "Здравствуйте!", "signature": "Магазин"},
        "channel": "email",
        "manager": {
            "name": "Анна Смирнова",
            "first_name": "Анна",
            "last_name": "Смирнова",
            "email": "anna@example.ru",
        },
    }
    context_as_words(context)
    for name in {*EXTRA_NAMES, *extra_names}:
        context[name] = _AnyKeys()
    return context


def _sample_loyalty(now: dt.datetime) -> LoyaltyData:
    """A member of «Знаток» with points pending and some expiring, in the default names."""
    found = LoyaltyStatus(
        customer_id=1,
        enabled=True,
        names=PointsNames("балл", "балла", "баллов"),
        point_value=Decimal("1"),
        available=1250,
        pending=240,
        held=0,
        status_points=1490,
        pending_lots=(DatedPoints(240, now + dt.timedelta(days=14)),),
        expiring=(DatedPoints(120, now + dt.timedelta(days=20)),),
        history=(),
        tier=TierView("znatok", "Знаток", "#1f6feb", ()),
        next_tier=TierView("ekspert", "Эксперт", "#8250df", ()),
        missing=Missing(orders=2, spend=Decimal("3400"), status_points=None),
        progress_percent=60,
        window_months=12,
    )
    segments = {
        "stage": "repeat",
        "stage_name": "Repeat",
        "rfm_segment": "loyal",
        "loyal_type": "",
        "loyalty_value": Decimal("12000.00"),
    }
    return loyalty_data(found, segments=segments, url="https://example.ru/c/l/sample")


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
        env = environment(autoescape=field == "body_html", strict=True)
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem(field, exc.lineno, jinja_message(exc)))
            continue
        found = _static_problems(field, tree, env, known)
        problems += found
        if found:
            continue
        try:
            field_render(
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
    field: str, tree: nodes.Template, env: Sandbox, known: frozenset[str] | set[str]
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
