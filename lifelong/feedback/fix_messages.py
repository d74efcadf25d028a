"""The "you told us, we fixed it" message: a template per theme, rendered for each customer.

The subject and text are staff-written templates rendered by the same sandbox as every
message template (`lifelong.messaging.templating`): plain data in, bounded renders, no
access to anything but these names:

- `name`: the customer's first name ("" when we do not know it);
- `customer`: `first_name`, `last_name`, `patronymic`, `display_name`, `full_name`,
  `language`;
- `theme`: the theme's name in the customer's language ("" for hand-picked items without one);
- `note`: what changed, as staff wrote it on the fix;
- `told`: what the customer told us: the text of their latest feedback the fix is about,
  shortened to about 160 characters ("" when it had no text, say a bare score).

`{name}`, `{theme}` and `{note}`, the placeholders of fixes written before the templates,
still work. A theme keeps its own template (`Theme.fix_subject_ru` and the rest); empty
fields mean the defaults below, which the fix form shows and staff may change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from lifelong.customers.models import Customer
from lifelong.feedback.models import Fix, Item, Response, Theme
from lifelong.messaging.templating import TemplateRenderError, fields_render

TOLD_CHARS = 160

DEFAULTS: dict[str, tuple[str, str]] = {
    "ru": (
        "Вы сказали — мы исправили",
        "Здравствуйте{% if name %}, {{ name }}{% endif %}!\n\n"
        "{% if told %}Помните, вы писали нам: «{{ told }}»?"
        "{% elif theme %}Помните, вы писали нам о том, что было не так: «{{ theme }}»?"
        "{% else %}Помните, вы писали нам о том, что было не так?{% endif %} "
        "Мы услышали и исправили: {{ note }}.\n\n"
        "Спасибо, что сказали — без вас мы бы не узнали. Если что-то всё ещё не так, просто "
        "ответьте на это сообщение: ответ прочитает живой человек.",
    ),
    "en": (
        "You told us, we fixed it",
        "Hello{% if name %}, {{ name }}{% endif %}!\n\n"
        "{% if told %}You wrote to us: “{{ told }}”."
        "{% elif theme %}You told us something was not right: “{{ theme }}”."
        "{% else %}You told us something was not right.{% endif %} "
        "We heard you and fixed it: {{ note }}.\n\n"
        "Thank you for telling us: without you we would not have known. If something is still "
        "not right, just reply to this message; a real person will read it.",
    ),
}

# The old placeholders, not already inside a template's own braces.
_PLACEHOLDER = re.compile(r"(?<!\{)\{(name|theme|note)\}(?!\})")

SAMPLE: dict[str, Any] = {
    "name": "Марина",
    "customer": {
        "first_name": "Марина",
        "last_name": "Петрова",
        "patronymic": "Ивановна",
        "display_name": "Марина Ивановна",
        "full_name": "Петрова Марина Ивановна",
        "language": "ru",
    },
    "theme": "Доставка",
    "note": "теперь привозим за два дня",
    "told": "Курьер опоздал на три дня",
}


def theme_template(theme: Theme | None, language: str) -> tuple[str, str]:
    """The theme's subject and text in a language ("ru" or "en"), else the defaults."""
    language = "en" if language == "en" else "ru"
    subject, text = DEFAULTS[language]
    if theme is None:
        return subject, text
    own_subject = getattr(theme, f"fix_subject_{language}")
    own_text = getattr(theme, f"fix_text_{language}")
    return own_subject or subject, own_text or text


def template_stored(language: str, subject: str, text: str) -> tuple[str, str]:
    """What a theme stores for a template: nothing where it is the default, so a better
    default reaches every theme that never changed it."""
    default_subject, default_text = DEFAULTS["en" if language == "en" else "ru"]
    same = " ".join(text.split()) == " ".join(default_text.split())
    return ("" if subject.strip() == default_subject else subject.strip()), ("" if same else text)


def _jinja(source: str) -> str:
    return _PLACEHOLDER.sub(r"{{ \1 }}", source)


def fix_render(*, subject: str, text: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and text for one customer. Raises TemplateRenderError (a limit, a refusal)."""
    rendered = fields_render(subject=_jinja(subject), text=_jinja(text), html="", context=context)
    # «Здравствуйте, {name}!» in an old text, for a customer without a name: «Здравствуйте!».
    return rendered.subject, rendered.text.replace(", !", "!")


def fix_template_problems(*, subject: str, text: str) -> list[str]:
    """What is wrong with a template, checked strictly on a sample customer: syntax, names
    it does not have, sandbox refusals, limits. Empty when it is fine."""
    try:
        fields_render(
            subject=_jinja(subject), text=_jinja(text), html="", context=SAMPLE, strict=True
        )
    except TemplateRenderError as problem:
        return [str(problem)]
    return []


def shorten(text: str, limit: int = TOLD_CHARS) -> str:
    """One line, at most `limit` characters cut at a word, without a closing full stop (the
    template puts its own punctuation after it)."""
    line = " ".join(text.split())
    if len(line) > limit:
        line = line[:limit].rsplit(" ", 1)[0].rstrip(",;:—-") + "…"
    return line.rstrip(".")


def told_by(fix: Fix, customer_ids: Iterable[int]) -> dict[int, str]:
    """What each customer told us that the fix is about: the latest text among the fix's
    items (a fix of picked items), or among their responses' comments and inbox items that
    carried the theme within the fix's dates. Two queries at most, for a batch."""
    ids = list(customer_ids)
    found: dict[int, tuple[Any, str]] = {}

    def keep(customer_id: int | None, at: Any, text: str) -> None:
        newer = customer_id not in found or at >= found[customer_id][0]
        if customer_id is not None and text.strip() and newer:
            found[customer_id] = (at, text)

    if fix.pk and fix.items.exists():
        items = fix.items.filter(conversation__customer_id__in=ids)
    else:
        marker = f'"{fix.theme.slug}"' if fix.theme else '"-"'
        items = Item.objects.filter(conversation__customer_id__in=ids, themes__icontains=marker)
        responses = Response.objects.filter(customer_id__in=ids, themes__icontains=marker)
        if fix.feedback_since:
            items = items.filter(received_at__date__gte=fix.feedback_since)
            responses = responses.filter(submitted_at__date__gte=fix.feedback_since)
        if fix.feedback_until:
            items = items.filter(received_at__date__lte=fix.feedback_until)
            responses = responses.filter(submitted_at__date__lte=fix.feedback_until)
        for customer_id, at, text in responses.values_list(
            "customer_id", "submitted_at", "comment"
        ):
            keep(customer_id, at, text)
    for customer_id, at, text in items.values_list(
        "conversation__customer_id", "received_at", "text"
    ):
        keep(customer_id, at, text)
    return {customer_id: shorten(text) for customer_id, (_at, text) in found.items()}


def fix_context(*, fix: Fix, customer: Customer, told: str) -> dict[str, Any]:
    """The plain data a fix's template sees for one customer."""
    language = "en" if customer.language == "en" else "ru"
    return {
        "name": customer.first_name,
        "customer": {
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "patronymic": customer.patronymic,
            "display_name": customer.display_name,
            "full_name": customer.full_name,
            "language": customer.language,
        },
        "theme": fix.theme.name(language) if fix.theme else "",
        "note": fix.note,
        "told": told,
    }


def fix_message(*, fix: Fix, customer: Customer, told: str) -> tuple[str, str]:
    """The fix's subject and text for one customer, in English for a customer who reads it
    when the fix has an English text."""
    english = customer.language == "en" and fix.text_en.strip()
    subject = (fix.subject_en or fix.subject) if english else fix.subject
    text = fix.text_en if english else fix.text
    return fix_render(
        subject=subject, text=text, context=fix_context(fix=fix, customer=customer, told=told)
    )
