"""The email designer's blocks, turned into email-client-safe HTML and its plain-text part.

A design is plain data: `{"preheader": str, "blocks": [{"type": ..., ...}, ...]}`. The
output is not the final email but the template's sources: Jinja for the sandboxed
renderer, so a block's text may say `{{ customer.first_name }}` and a product list is a
loop over the customer's last order or cart, rendered per customer when a message is
queued. What the marketer typed around the Jinja is escaped here; what the Jinja prints
is escaped by the renderer (the HTML field renders with autoescape).

Email clients drop `<style>` blocks, external CSS, flexbox and most of the box model, so
the HTML is what survives all of them: nested tables for layout, every style inline,
one 600 px column that shrinks on a phone (`width:100%; max-width:600px`, with a fixed
600 px table for Outlook in a conditional comment), buttons made of a table cell with a
background colour ("bulletproof": they stay buttons with images off), images with alt
text and a width, and a hidden preheader (the line inboxes show after the subject).

Nothing here touches the database: `design_clean` checks what the browser sent,
`design_html` and `design_text` build the two parts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.lib.errors import DomainError

# The blocks the designer offers, in its menu's order.
BLOCK_TYPES = ("heading", "text", "image", "button", "products", "divider", "footer")
BLOCK_NAMES = {
    "heading": gettext_lazy("Heading"),
    "text": gettext_lazy("Text"),
    "image": gettext_lazy("Image"),
    "button": gettext_lazy("Button"),
    "products": gettext_lazy("Product list"),
    "divider": gettext_lazy("Divider"),
    "footer": gettext_lazy("Footer"),
}
PRODUCT_SOURCES = ("last_order", "cart")
MAX_BLOCKS = 40
MAX_TEXT = 5000
MAX_LINE = 300
WIDTH = 600
PADDING = 24
FONT = "Arial,Helvetica,sans-serif"
DEFAULT_BRAND = {
    "accent": "#2f6f4f",
    "text": "#222222",
    "background": "#f4f1ec",
    "logo_url": "",
    "name": "",
}
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# A web address with a host; the rest is anything without spaces (Jinja may sit in a query).
_WEB_ADDRESS = re.compile(r"https?://[^\s/?#\"'<>]+[^\s]*")
# Jinja's own markup inside a block's text: kept for the renderer, never escaped here.
_JINJA = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.DOTALL)
# The customer-facing words the HTML adds itself; emails are written in Russian first.
EMAIL_LANGUAGE = "ru"


class DesignError(DomainError):
    """A design the designer cannot save, with every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --- checking what the browser sent -----------------------------------------------------


def _text(block: Mapping[str, Any], key: str, limit: int = MAX_LINE) -> str:
    value = block.get(key)
    return value.strip()[:limit] if isinstance(value, str) else ""


def url_allowed(url: str) -> bool:
    """A web address, or one a template variable gives (`{{ links.preferences }}`)."""
    return bool(_WEB_ADDRESS.fullmatch(url)) or (
        url.startswith("{{") and url.endswith("}}") and "{{" not in url[2:]
    )


def design_clean(raw: Any) -> dict[str, Any]:
    """The design with only known blocks and fields, or `DesignError` listing the problems.

    Each block's text is checked by the template checker separately (see
    design_services), so that a problem names its block.
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("blocks"), list):
        raise DesignError([_("The design is not readable. Reload the page and try again.")])
    blocks_in = raw["blocks"]
    problems: list[str] = []
    if len(blocks_in) > MAX_BLOCKS:
        problems.append(_("A design has at most %(n)d blocks.") % {"n": MAX_BLOCKS})
    blocks: list[dict[str, Any]] = []
    for number, block in enumerate(blocks_in[:MAX_BLOCKS], start=1):
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind not in BLOCK_TYPES:
            problems.append(_("Block %(n)d is of an unknown kind.") % {"n": number})
            continue
        cleaned, problem = _block_clean(kind, block)
        if problem:
            problems.append(
                _("Block %(n)d (%(kind)s): %(problem)s")
                % {"n": number, "kind": BLOCK_NAMES[kind], "problem": problem}
            )
        blocks.append(cleaned)
    if not blocks and not problems:
        problems.append(_("Add at least one block."))
    if problems:
        raise DesignError(problems)
    return {"preheader": _text(raw, "preheader"), "blocks": blocks}


def _block_clean(kind: str, block: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """One block's known fields, and a problem ("" when none)."""
    if kind in ("heading", "text"):
        text = _text(block, "text", MAX_TEXT if kind == "text" else MAX_LINE)
        return {"type": kind, "text": text}, "" if text else _("write its text.")
    if kind == "image":
        cleaned = {
            "type": kind,
            "url": _text(block, "url", 2000),
            "alt": _text(block, "alt"),
            "link": _text(block, "link", 2000),
        }
        if not url_allowed(cleaned["url"]):
            return cleaned, _("give the image's web address (https://…).")
        if not cleaned["alt"]:
            return cleaned, _("describe the image in a few words (shown when images are off).")
        if cleaned["link"] and not url_allowed(cleaned["link"]):
            return cleaned, _("the link must be a web address (https://…).")
        return cleaned, ""
    if kind == "button":
        cleaned = {"type": kind, "label": _text(block, "label"), "url": _text(block, "url", 2000)}
        if not cleaned["label"]:
            return cleaned, _("write the button's label.")
        if not url_allowed(cleaned["url"]):
            return cleaned, _("the link must be a web address (https://…).")
        return cleaned, ""
    if kind == "products":
        source = block.get("source")
        return {
            "type": kind,
            "source": source if source in PRODUCT_SOURCES else "last_order",
            "title": _text(block, "title"),
        }, ""
    if kind == "footer":
        return {
            "type": kind,
            "text": _text(block, "text", MAX_TEXT),
            "unsubscribe": _text(block, "unsubscribe"),
        }, ""
    return {"type": kind}, ""


def brand_clean(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """Brand colours and logo with defaults for what is missing or malformed."""
    brand = dict(DEFAULT_BRAND)
    for key in ("accent", "text", "background"):
        value = str((raw or {}).get(key) or "")
        if _COLOUR.fullmatch(value):
            brand[key] = value.lower()
    logo = str((raw or {}).get("logo_url") or "").strip()
    brand["logo_url"] = logo if logo.startswith("https://") or logo.startswith("http://") else ""
    brand["name"] = str((raw or {}).get("name") or "").strip()[:MAX_LINE]
    return brand


# --- escaping around the Jinja ------------------------------------------------------------


def _escaped(source: str, *, attribute: bool = False) -> str:
    """HTML-escape what the marketer typed, keeping the Jinja in it for the renderer."""
    parts = _JINJA.split(source)
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(part)
        else:
            escaped = html.escape(part, quote=attribute)
            out.append(escaped if attribute else escaped.replace("\n", "<br>\n"))
    return "".join(out)


def _paragraphs(source: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", source) if p.strip()]


def _on_accent(accent: str) -> str:
    """White or near-black text on the accent colour, whichever reads better (WCAG luminance)."""
    r, g, b = (int(accent[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    return "#ffffff" if (1.05 / (luminance + 0.05)) >= ((luminance + 0.05) / 0.05) else "#111111"


# --- HTML ---------------------------------------------------------------------------------


def _row(content: str, *, padding: str = f"0 {PADDING}px 16px") -> str:
    return f'<tr><td style="padding:{padding};">{content}</td></tr>'


def _text_style(brand: Mapping[str, str], size: int = 16, extra: str = "") -> str:
    return (
        f"margin:0;font-family:{FONT};font-size:{size}px;line-height:1.5;"
        f"color:{brand['text']};{extra}"
    )


def _product_rows(block: Mapping[str, Any], brand: Mapping[str, str]) -> str:
    """A Jinja loop: one table row per product of the last order or the cart."""
    items = "last_order.products" if block["source"] == "last_order" else "cart.products"
    holder = items.split(".")[0]
    title = block["title"] or (
        _("What you chose last time") if block["source"] == "last_order" else _("In your cart")
    )
    cell = f"padding:8px 0;border-bottom:1px solid #e6e2da;font-family:{FONT};font-size:15px;"
    return (
        f"{{% if {holder} and {items} %}}"
        + _row(
            f'<h3 style="{_text_style(brand, 18, "font-weight:bold;")}">{_escaped(title)}</h3>'
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'border="0" style="margin-top:8px;">'
            f"{{% for product in {items} %}}"
            f'<tr><td style="{cell}color:{brand["text"]};">{{{{ product.name }}}}'
            "{% if product.quantity and product.quantity > 1 %} × {{ product.quantity }}"
            "{% endif %}</td>"
            f'<td align="right" style="{cell}color:{brand["text"]};white-space:nowrap;">'
            "{{ product.total|default(product.price, true)|money(last_order.currency if last_order "
            'else "RUB") }}</td></tr>'
            "{% endfor %}</table>"
        )
        + "{% endif %}"
    )


def _block_html(block: Mapping[str, Any], brand: Mapping[str, str]) -> str:
    kind = block["type"]
    if kind == "heading":
        style = _text_style(brand, 24, "font-weight:bold;line-height:1.3;")
        return _row(f'<h1 style="{style}">{_escaped(block["text"])}</h1>')
    if kind == "text":
        paragraphs = _paragraphs(block["text"])
        style = _text_style(brand)
        return _row(
            "".join(
                f'<p style="{style}{"margin-top:12px;" if i else ""}">{_escaped(p)}</p>'
                for i, p in enumerate(paragraphs)
            )
        )
    if kind == "image":
        image = (
            f'<img src="{_escaped(block["url"], attribute=True)}" '
            f'alt="{_escaped(block["alt"], attribute=True)}" width="{WIDTH - 2 * PADDING}" '
            f'style="display:block;width:100%;max-width:{WIDTH - 2 * PADDING}px;height:auto;'
            'border:0;outline:none;text-decoration:none;">'
        )
        if block["link"]:
            image = (
                f'<a href="{_escaped(block["link"], attribute=True)}" target="_blank">{image}</a>'
            )
        return _row(image)
    if kind == "button":
        accent, on_accent = brand["accent"], _on_accent(brand["accent"])
        return _row(
            '<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
            'align="center" style="margin:8px auto;"><tr>'
            f'<td align="center" bgcolor="{accent}" style="border-radius:6px;'
            f'background-color:{accent};">'
            f'<a href="{_escaped(block["url"], attribute=True)}" target="_blank" '
            f'style="display:inline-block;padding:14px 32px;font-family:{FONT};font-size:16px;'
            f"font-weight:bold;line-height:1.2;color:{on_accent};text-decoration:none;"
            f'border-radius:6px;border:1px solid {accent};">{_escaped(block["label"])}</a>'
            "</td></tr></table>"
        )
    if kind == "products":
        return _product_rows(block, brand)
    if kind == "divider":
        return _row(
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'border="0"><tr><td style="border-top:1px solid #e6e2da;font-size:0;'
            'line-height:0;height:1px;">&nbsp;</td></tr></table>',
            padding=f"8px {PADDING}px 24px",
        )
    # footer
    style = _text_style(brand, 12, "color:#6b6b6b;")
    text = "".join(
        f'<p style="{style}margin-bottom:8px;">{_escaped(p)}</p>'
        for p in _paragraphs(block["text"])
    )
    link = (
        f'<p style="{style}"><a href="{{{{ links.unsubscribe }}}}" target="_blank" '
        f'style="color:#6b6b6b;text-decoration:underline;">'
        f"{_escaped(_unsubscribe_label(block))}</a></p>"
    )
    return _row(text + link, padding=f"16px {PADDING}px 24px")


def _unsubscribe_label(block: Mapping[str, Any]) -> str:
    if block.get("unsubscribe"):
        return str(block["unsubscribe"])
    with translation.override(EMAIL_LANGUAGE):
        return _("Unsubscribe from these emails")


def design_html(design: Mapping[str, Any], brand: Mapping[str, str], *, title: str = "") -> str:
    """The HTML part's template source: one 600 px column of table rows, styles inline."""
    with translation.override(EMAIL_LANGUAGE):
        return _design_html(design, brand_clean(brand), title=title)


def _design_html(design: Mapping[str, Any], brand: Mapping[str, str], *, title: str) -> str:
    logo = ""
    if brand["logo_url"]:
        logo = _row(
            f'<img src="{_escaped(brand["logo_url"], attribute=True)}" '
            f'alt="{_escaped(brand["name"] or _("Logo"), attribute=True)}" width="160" '
            'style="display:block;width:160px;max-width:100%;height:auto;border:0;">',
            padding=f"{PADDING}px {PADDING}px 8px",
        )
    body = "\n".join(_block_html(block, brand) for block in design["blocks"])
    preheader = design.get("preheader") or ""
    hidden = (
        f'<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;'
        f'opacity:0;overflow:hidden;mso-hide:all;color:{brand["background"]};">'
        f"{_escaped(preheader)}</div>"
        if preheader
        else ""
    )
    bg = brand["background"]
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{EMAIL_LANGUAGE}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="x-apple-disable-message-reformatting">\n'
        f"<title>{_escaped(title)}</title>\n</head>\n"
        f'<body style="margin:0;padding:0;background-color:{bg};">\n{hidden}\n'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'bgcolor="{bg}" style="background-color:{bg};">\n<tr><td align="center" '
        'style="padding:24px 12px;">\n'
        f'<!--[if mso]><table role="presentation" width="{WIDTH}" cellpadding="0" '
        'cellspacing="0" border="0"><tr><td><![endif]-->\n'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'bgcolor="#ffffff" style="width:100%;max-width:{WIDTH}px;background-color:#ffffff;'
        f'border-radius:8px;">\n{logo}\n'
        f'<tr><td style="height:{PADDING}px;font-size:0;line-height:0;">&nbsp;</td></tr>\n'
        f"{body}\n</table>\n"
        "<!--[if mso]></td></tr></table><![endif]-->\n"
        "</td></tr>\n</table>\n</body>\n</html>"
    )


# --- the text part --------------------------------------------------------------------------


def _product_lines(block: Mapping[str, Any]) -> tuple[str, str]:
    """The Jinja condition of a product list and its lines (one per product).

    The renderer trims the newline after a tag (trim_blocks); `+%}` keeps the ones that
    separate the lines here.
    """
    items = "last_order.products" if block["source"] == "last_order" else "cart.products"
    holder = items.split(".")[0]
    title = block["title"] or (
        _("What you chose last time") if block["source"] == "last_order" else _("In your cart")
    )
    return f"{holder} and {items}", (
        f"{title}\n"
        f"{{% for product in {items} %}}• {{{{ product.name }}}}"
        "{% if product.quantity and product.quantity > 1 %} × {{ product.quantity }}{% endif %}"
        " — {{ product.total|default(product.price, true)|money(last_order.currency if "
        'last_order else "RUB") }}{% if not loop.last +%}\n{% endif %}{% endfor %}'
    )


_TEXT_PARTS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "heading": lambda block: block["text"],
    "text": lambda block: "\n\n".join(_paragraphs(block["text"])),
    "image": lambda block: f"{block['alt']}: {block['link']}" if block["link"] else "",
    "button": lambda block: f"{block['label']}: {block['url']}",
    "divider": lambda block: "———",
    "footer": lambda block: "\n\n".join(
        [*_paragraphs(block["text"]), f"{_unsubscribe_label(block)}: {{{{ links.unsubscribe }}}}"]
    ),
}


def design_text(design: Mapping[str, Any]) -> str:
    """The plain-text part's template source: the blocks' words, links spelt out."""
    out = ""
    with translation.override(EMAIL_LANGUAGE):
        for block in design["blocks"]:
            if block["type"] == "products":
                # The gap before the list is inside its condition: no empty lines without it.
                condition, lines = _product_lines(block)
                gap = "\n\n" if out else ""
                out += f"{{% if {condition} +%}}{gap}{lines}{{% endif +%}}"
                continue
            part = _TEXT_PARTS[block["type"]](block).strip()
            if part:
                out += ("\n\n" if out else "") + part
    return out + "\n"
