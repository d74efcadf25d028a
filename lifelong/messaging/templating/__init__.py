"""The one renderer for staff-written text: a sandboxed Jinja2 with limits and Russian filters.

Staff (and whoever steals a staff password) write these templates, and customers' own
data flows into them, so three things hold for every render:

- the context is plain data (dicts, lists, str, numbers, dates), never model instances,
  so no template can reach the ORM, settings or a method with side effects;
- the environment is Jinja2's `ImmutableSandboxedEnvironment` plus an allow-list of what
  may be called (a few str/dict/list methods, our filters, macros);
- a render is bounded: loops count their iterations, every string a template builds
  (`*`, `+`, `~`, `%`, filters, str methods) is checked *before* it is built, and
  every call, attribute access and loop step checks a deadline. A template that breaks
  a limit raises `TemplateRenderError`; nothing is sent.

Missing data renders as nothing (a customer without orders has no `last_order.total`);
`template_validate` is the strict side: unknown names, filters and attributes are
reported with their line before a template is saved.
"""

from lifelong.messaging.templating.context import (
    CONTEXT_NAMES,
    EXTRA_NAMES,
    FIELDS,
    message_context,
    message_render,
    template_fields,
)
from lifelong.messaging.templating.limits import TemplateRenderError
from lifelong.messaging.templating.sandbox import Rendered, fields_render, variant_render
from lifelong.messaging.templating.validation import (
    TemplateProblem,
    sample_context,
    template_validate,
)

__all__ = [
    "CONTEXT_NAMES",
    "EXTRA_NAMES",
    "FIELDS",
    "Rendered",
    "TemplateProblem",
    "TemplateRenderError",
    "fields_render",
    "message_context",
    "message_render",
    "sample_context",
    "template_fields",
    "template_validate",
    "variant_render",
]
