"""Jinja's error messages in the staff member's words and language.

Jinja says «Unexpected end of template. Jinja was looking for the following tags: 'elif'
or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.»; a marketer
needs «The block {% if %} is not closed: add {% endif %}.», in Russian, beside its line
(the line is added where the problem is shown). Messages we do not recognise stay as
Jinja wrote them: a new Jinja wording is then visible, never hidden.
"""

from __future__ import annotations

import decimal
import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from jinja2 import TemplateSyntaxError, UndefinedError

# Jinja's names of tokens, as the author types them.
_TOKENS = {
    "end of print statement": "}}",
    "end of statement block": "%}",
    "begin of print statement": "{{",
    "begin of statement block": "{%",
    "end of template": "",
}


def _token(name: str) -> str:
    if name == "name":
        return _("a name")
    return _TOKENS.get(name, name)


def _kind(type_name: str) -> str:
    """What a value is, as it reads after "between" (Russian: the instrumental case)."""
    kinds = {
        "int": pgettext("operand", "a number"),
        "float": pgettext("operand", "a number"),
        "Decimal": pgettext("operand", "a number"),
        "str": pgettext("operand", "text"),
        "list": pgettext("operand", "a list"),
        "tuple": pgettext("operand", "a list"),
        "NoneType": pgettext("operand", "an empty value"),
        "bool": pgettext("operand", "yes/no"),
    }
    return kinds.get(type_name, pgettext("operand", "an object"))


def _keys(context: Mapping[str, Any] | None, depth: int = 3) -> Iterator[str]:
    """The field names a template could mean (for “did you mean”), a few levels deep."""
    if not isinstance(context, Mapping) or depth == 0:
        return
    for key, value in list(context.items())[:200]:
        if isinstance(key, str):
            yield key
            yield from _keys(value, depth - 1)


def _suggest(name: str, context: Mapping[str, Any] | None) -> str:
    close = difflib.get_close_matches(name, sorted(set(_keys(context))), n=1, cutoff=0.75)
    return " " + _("Did you mean “%(name)s”?") % {"name": close[0]} if close else ""


def _syntax(message: str) -> str | None:
    if match := re.match(r"unexpected end of template, expected '(.+?)'\.?$", message):
        return _("The template ends where “%(token)s” is expected.") % {"token": _token(match[1])}
    innermost = re.search(r"The innermost block that needs to be closed is '(\w+)'", message)
    if message.startswith("Unexpected end of template") and innermost:
        return _("The block {%% %(block)s %%} is not closed: add {%% end%(block)s %%}.") % {
            "block": innermost[1]
        }
    if match := re.match(r"Encountered unknown tag '(\w+)'", message):
        tag = match[1]
        if innermost:
            return _(
                "{%% %(tag)s %%} does not close {%% %(block)s %%}: close that with "
                "{%% end%(block)s %%} first."
            ) % {"tag": tag, "block": innermost[1]}
        if tag.startswith("end"):
            return _("{%% %(tag)s %%} closes a block that is not open.") % {"tag": tag}
        return _("Unknown tag {%% %(tag)s %%}.") % {"tag": tag}
    if match := re.match(r"unexpected '(.+?)', expected '(.+?)'$", message):
        return _("“%(expected)s” is missing before “%(found)s”.") % {
            "expected": _token(match[2]),
            "found": match[1],
        }
    if match := re.match(r"unexpected '(.+?)'$", message):
        return _("Unexpected “%(found)s”.") % {"found": match[1]}
    if match := re.match(r"expected token '(.+?)', got '(.+?)'$", message):
        return _("“%(expected)s” was expected here, not “%(found)s”.") % {
            "expected": _token(match[1]),
            "found": _token(match[2]),
        }
    if match := re.match(r"Expected an expression, got '(.+?)'$", message):
        return _("A value is missing before “%(found)s”.") % {"found": _token(match[1])}
    if message == "Missing end of comment tag":
        return _("The comment {# is not closed with #}.")
    if match := re.match(r"unexpected char (['\"])(.+?)\1 at \d+$", message):
        if match[2] in ("'", '"'):
            return _("A quote %(quote)s is opened and never closed.") % {"quote": match[2]}
        return _("Unexpected character “%(found)s”.") % {"found": match[2]}
    return None


def _runtime(message: str, context: Mapping[str, Any] | None) -> str | None:
    if match := re.match(r"'.+?' has no attribute '(.+?)'$", message):
        return _("There is no field “%(name)s” here.") % {"name": match[1]} + _suggest(
            match[1], context
        )
    if match := re.match(r"'(.+?)' is undefined$", message):
        return _("Unknown variable “%(name)s”.") % {"name": match[1]} + _suggest(match[1], context)
    if match := re.match(r"unsupported operand type\(s\) for (.+?): '(\w+)' and '(\w+)'$", message):
        return _("“%(operator)s” does not go between %(left)s and %(right)s.") % {
            "operator": match[1],
            "left": _kind(match[2]),
            "right": _kind(match[3]),
        }
    if re.match(r"can only concatenate str \(not \"(\w+)\"\) to str$", message):
        return _("Text and another value cannot be joined with +: join them with ~.")
    if match := re.match(r"(?:\w+\.)?(\w+)\(\) takes (.+?) given\)$", message):
        return _("“%(name)s” was given a different number of values than it takes.") % {
            "name": match[1]
        }
    if match := re.match(r"'(\w+)' object is not iterable$", message):
        return _("{%% for %%} needs a list; this value is %(kind)s.") % {"kind": _kind(match[1])}
    if match := re.match(r"'(\w+)' object is not subscriptable$", message):
        return _("[ ] takes items from a list; this value is %(kind)s.") % {"kind": _kind(match[1])}
    return None


def jinja_message(exc: BaseException, context: Mapping[str, Any] | None = None) -> str:
    """The message of a template error, translated when Jinja's wording is recognised."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, TemplateSyntaxError):
        return _syntax(message) or message
    if isinstance(exc, ZeroDivisionError | decimal.DivisionByZero | decimal.InvalidOperation):
        return _("Division by zero.")
    if isinstance(exc, UndefinedError | TypeError):
        return _runtime(message, context) or _unknown(message)
    return _unknown(message)


def _unknown(message: str) -> str:
    # Jinja's or Python's own words inside ours: a new wording stays visible, never hidden.
    return _("The template stopped with an error: %(detail)s") % {"detail": message}
