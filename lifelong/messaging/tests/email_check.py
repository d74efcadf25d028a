"""An email-HTML check: what email clients need of an HTML part, read with a real parser.

Tables for layout (no div/flex columns), every style inline (no <style>, no stylesheet
link, no class to hang CSS on), no script, images with alt text and a width, one column of
at most 600 px.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_LAYOUT_TAGS = {"table", "tr", "td"}
# Where styling may live: inline style attributes and the presentational attributes.
_REFUSED_TAGS = {"script", "style", "link", "iframe", "form", "object", "embed", "svg"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def email_html_problems(html: str) -> list[str]:
    """What an email client would lose or refuse in `html`; [] for a clean part."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    problems = []
    names = [tag for tag, _attrs in reader.tags]
    if not set(names) >= _LAYOUT_TAGS:
        problems.append("no table layout")
    for tag, attrs in reader.tags:
        if tag in _REFUSED_TAGS:
            problems.append(f"<{tag}>")
        if "class" in attrs:
            problems.append(f"class on <{tag}> (styles must be inline)")
        if any(name.startswith("on") for name in attrs):
            problems.append(f"event handler on <{tag}>")
        if tag == "img" and ("alt" not in attrs or "width" not in attrs):
            problems.append(f"<img src={attrs.get('src')!r}> without alt or width")
        if tag == "div" and "display:none" not in attrs.get("style", "").replace(" ", ""):
            problems.append("<div> layout (only the hidden preheader may be a div)")
        for value in attrs.values():
            if re.search(r"(?i)javascript:|expression\(|@import|url\(", value):
                problems.append(f"active value on <{tag}>: {value[:40]}")
    styled = [attrs for tag, attrs in reader.tags if tag in ("p", "h1", "h3", "a", "td")]
    if not styled or not any("style" in attrs for attrs in styled):
        problems.append("no inline styles")
    widths = [int(w) for w in re.findall(r"max-width:(\d+)px", html)]
    if not widths or max(widths) > 600:
        problems.append("no column of at most 600 px")
    return problems
