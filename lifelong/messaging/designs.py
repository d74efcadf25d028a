"""Saving email designs: a template's design, and the brand look every design shares.

`template_design_save` is the one place a design becomes a template's email variant: it
writes `Template.design` and from it `body_html` and `body_text`, so the three never
disagree. The brand's colours and logo are baked into each design's HTML (email clients
know no variables), so saving the brand rebuilds every designed template.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Channel
from lifelong.messaging.email_design import (
    BLOCK_NAMES,
    DesignError,
    brand_clean,
    design_clean,
    design_html,
    design_text,
)
from lifelong.messaging.models import BrandVoice, Template
from lifelong.messaging.templating import (
    TemplateRenderError,
    fields_render,
    template_validate,
)
from lifelong.messaging.test_send import preview_context

_TITLE = re.compile(r"<title>.*?</title>", re.DOTALL)
# The block fields that are templates (Jinja), checked one by one so a problem names its block.
_TEMPLATE_FIELDS = ("text", "label", "url", "alt", "link", "title", "unsubscribe")


def email_brand() -> dict[str, str]:
    """The brand look of email designs: colours, logo and the sender's name (for its alt)."""
    voice = BrandVoice.objects.filter(channel=Channel.EMAIL).first() or BrandVoice()
    return brand_clean(
        {
            "accent": voice.color_accent,
            "text": voice.color_text,
            "background": voice.color_background,
            "logo_url": voice.logo_url,
            "name": voice.sender_name,
        }
    )


def design_problems(design: Mapping[str, Any]) -> list[str]:
    """Template problems of the design's blocks, each naming its block and line."""
    problems = []
    sources = [("", design.get("preheader") or "")]
    for number, block in enumerate(design["blocks"], start=1):
        name = _("Block %(n)d (%(kind)s)") % {"n": number, "kind": BLOCK_NAMES[block["type"]]}
        sources += [(name, str(block[key])) for key in _TEMPLATE_FIELDS if block.get(key)]
    for where, source in sources:
        for problem in template_validate(subject="", body_text=source, body_html=""):
            line = _("line %(n)d") % {"n": problem.line} if problem.line else ""
            place = ", ".join(part for part in (where or _("Preheader"), line) if part)
            problems.append(f"{place}: {problem.message}")
    return problems


def design_build(raw: Any, *, title: str = "") -> tuple[dict[str, Any], str, str]:
    """(cleaned design, HTML source, text source) of what the browser sent, or DesignError."""
    design = design_clean(raw)
    problems = design_problems(design)
    if problems:
        raise DesignError(problems)
    brand = email_brand()
    return {**design, "brand": brand}, design_html(design, brand, title=title), design_text(design)


def design_preview(raw: Any, *, subject: str = "") -> tuple[str, str]:
    """The design rendered for the sample customer: (HTML, text) as an inbox would show them."""
    _design, html, text = design_build(raw, title=subject)
    try:
        rendered = fields_render(
            subject=subject, text=text, html=html, context=preview_context(Channel.EMAIL)
        )
    except TemplateRenderError as exc:
        raise DesignError([str(exc)]) from exc
    return rendered.html, rendered.text


def design_edited_by_hand(template: Template) -> bool:
    """True when the template has a design but its email HTML or text is no longer what the
    design makes (edited in the template editor since): saving the design would replace it."""
    if not template.design:
        return False
    try:
        _design, html, text = design_build(template.design, title=template.subject)
    except DesignError:
        return True
    # The title follows the subject, which the template page edits on its own.
    untitled = functools.partial(_TITLE.sub, "")
    return (untitled(html), text) != (untitled(template.body_html), template.body_text)


@transaction.atomic
def template_design_save(*, template: Template, design: Any, actor: User | None) -> Template:
    """Save a design and the email HTML and text it makes; DesignError when it cannot."""
    cleaned, html, text = design_build(design, title=template.subject)
    template.design, template.body_html, template.body_text = cleaned, html, text
    template.updated_at = clock.now()
    template.save(update_fields=["design", "body_html", "body_text", "updated_at"])
    audit_record(
        actor=actor,
        action="template.design_save",
        obj=template,
        changes={"blocks": [block["type"] for block in cleaned["blocks"]]},
    )
    return template


@transaction.atomic
def email_brand_save(
    *, accent: str, text: str, background: str, logo_url: str, actor: User | None
) -> int:
    """Save the brand look and rebuild every designed template with it; returns how many."""
    voice = BrandVoice.objects.select_for_update().filter(channel=Channel.EMAIL).first()
    voice = voice or BrandVoice(channel=Channel.EMAIL)
    voice.color_accent, voice.color_text, voice.color_background = accent, text, background
    voice.logo_url = logo_url
    voice.save()
    rebuilt = 0
    for template in Template.objects.exclude(design={}).select_for_update().order_by("pk"):
        try:
            design, html, body_text = design_build(template.design, title=template.subject)
        except DesignError:
            continue  # a design that no longer checks keeps its HTML until someone edits it
        template.design, template.body_html, template.body_text = design, html, body_text
        template.save(update_fields=["design", "body_html", "body_text"])
        rebuilt += 1
    audit_record(
        actor=actor,
        action="brand_voice.look_update",
        obj=voice,
        changes={"accent": accent, "text": text, "background": background, "rebuilt": rebuilt},
    )
    return rebuilt
