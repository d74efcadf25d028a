"""What the visual journey builder (static/web/journey_canvas.js) needs, as JSON-ready data.

The canvas edits the same definition the JSON editor does: it reads and writes the editor's
form fields, so the server checks one thing whichever way it was made. This module gives it
the pickers (templates with their channel, segments, surveys, clubs, event types, products),
the texts in the page's language, the human title of each stored node, the counts of the live
journey and the problems found on each node. One query per picker, whatever the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.translation import get_language, gettext_lazy, ngettext, npgettext
from django.utils.translation import gettext as _

from lifelong.commerce.models import Product
from lifelong.community.models import Club
from lifelong.customers.models import Channel
from lifelong.events.catalogue import BUILT_IN_TYPES
from lifelong.feedback.models import Survey
from lifelong.journeys.definition import Definition
from lifelong.journeys.problems import Problem, definition_problems
from lifelong.journeys.selectors import NodeCounts
from lifelong.messaging.models import Template
from lifelong.messaging.variants import variant_for
from lifelong.segments.models import Segment
from lifelong.web.forms_journeys import TRIGGER_KINDS
from lifelong.web.journey_diagram import EVENT_LABELS, channel_text, event_text, node_title

# The product picker lists this many; a shop with more types the SKU into the field.
PRODUCTS_SHOWN = 500
WAIT_PRESETS = ((1, 0), (0, 1), (0, 3), (0, 7))  # (hours, days): 1 h, 1 day, 3 days, 7 days

# Node types in the palette's order, with their names.
NODE_TYPES = (
    ("wait", gettext_lazy("Wait")),
    ("send", gettext_lazy("Send a message")),
    ("wait_event", gettext_lazy("Wait for an action")),
    ("condition", gettext_lazy("Check a condition")),
    ("split", gettext_lazy("A/B split")),
    ("survey", gettext_lazy("Ask a survey")),
    ("club_invite", gettext_lazy("Invite to a club")),
    ("task", gettext_lazy("Task for staff")),
    ("tag", gettext_lazy("Tag")),
    ("attribute", gettext_lazy("Set an attribute")),
    ("award_points", gettext_lazy("Award points")),
    ("webhook", gettext_lazy("Call a webhook")),
    ("exit", gettext_lazy("Leave the journey")),
)


def _plural(singular: str, plural: str) -> list[str]:
    """The forms for 1, 2 and 5: enough for English and for Russian's three."""
    return [ngettext(singular, plural, n) for n in (1, 2, 5)]


def _count_forms(word: str) -> list[str]:
    """A word that follows a count («1 прошёл», «3 прошли»), for 1, 2 and 5: the same
    entries as the list drawn without script (journeys/_column.html)."""
    return [npgettext("count", word, word, n) for n in (1, 2, 5)]


def texts() -> dict[str, Any]:
    """The canvas's words in the page's language (the JavaScript has none of its own)."""
    return {
        "types": {kind: str(name) for kind, name in NODE_TYPES},
        "days": _plural("%(n)d day", "%(n)d days"),
        "hours": _plural("%(n)d hour", "%(n)d hours"),
        "wait": _("Wait %(duration)s"),
        "wait_until_time": _("then until %(time)s"),
        "wait_event": _("Wait up to %(limit)s for: %(events)s"),
        "send": _("Send «%(template)s» by %(channel)s"),
        "survey": _("Ask a survey with «%(template)s»"),
        "club_invite": _("Invite to «%(club)s» with «%(template)s»"),
        "task": _("Create a task «%(title)s»"),
        "tag_add": _("Add the tag «%(tag)s»"),
        "tag_remove": _("Remove the tag «%(tag)s»"),
        "attribute": _("Set %(key)s = %(value)s"),
        "award_points": _plural("Award %(n)d point", "Award %(n)d points"),
        "webhook": _("Call a webhook"),
        "exit": _("Leave the journey"),
        "condition": _("Check a condition"),
        "split": _("Split customers at random"),
        "trigger": _("Who enters"),
        "yes": _("yes"),
        "no": _("no"),
        "happened": _("it happened"),
        "timeout": _("time ran out"),
        "next": _("Next step"),
        "end": _("End of the journey"),
        "choose": _("— choose —"),
        "name": _("Name on the canvas"),
        "template": _("Template"),
        "channel": _("Channel"),
        "segment": _("Only customers in the segment"),
        "survey_field": _("Survey"),
        "club_field": _("Club"),
        "events": _("Actions to wait for"),
        "timeout_hours": _("Give up after, hours"),
        "days_field": _("Days"),
        "hours_field": _("Hours"),
        "until_time": _("Then until the time of day"),
        "rule": _("Rule (JSON, as in segments)"),
        "quick": _("Check"),
        "quick_title": _("Check: %(check)s — %(value)s"),
        "quick_orders": _("orders at least"),
        "quick_orders_value": _("Number of orders"),
        "quick_bought": _("bought the product"),
        "quick_bought_value": _("Product"),
        "quick_event": _("did in the last 30 days"),
        "quick_event_value": _("Action"),
        "quick_tag": _("has the tag"),
        "quick_tag_value": _("Tag"),
        "branches": _("Branches and their weights"),
        "add_branch": _("Add a branch"),
        "title": _("Task title"),
        "due_hours": _("Due in, hours"),
        "action": _("Action"),
        "add": _("add"),
        "remove": _("remove"),
        "tag": _("Tag"),
        "key": _("Attribute"),
        "value": _("Value"),
        "points": _("Points"),
        "reason": _("Reason"),
        "url": _("Address (https://…)"),
        "exits": _("Goes on to"),
        "delete": _("Delete this step"),
        "presets": _("Quick choice"),
        "no_template": _("Choose a template."),
        "no_wait": _("Set how long to wait."),
        "no_events": _("Choose at least one action."),
        "no_timeout": _("Set when to give up waiting."),
        "no_survey": _("Choose a survey."),
        "no_club": _("Choose a club."),
        "no_title": _("Write the task's title."),
        "no_tag": _("Write the tag."),
        "no_key": _("Name the attribute (latin letters, digits, _ and -)."),
        "no_points": _("Points must be more than zero."),
        "no_url": _("Write the webhook's address."),
        "bad_rule": _("The rule is not valid JSON."),
        "unreachable": _("Nothing leads to this step."),
        "bad_json": _("The JSON below has an error; the canvas shows the last good graph."),
        "wrong_channel": _("This template has no text for %(channel)s."),
        "here_now": _("here now"),
        "passed": _count_forms("passed"),
        "passed_title": _("Times this step ran"),
        "problem": _("not sent: a problem"),
        "problem_title": _("Times this step could not send: its template or channel was missing"),
        "sent": _("sent"),
        "opened": _("opened"),
        "clicked": _("clicked"),
        "replied": _("with a reply"),
        "converted": _count_forms("converted"),
        "preferred": channel_text("preferred"),
    }


def _choices(rows: Iterable[tuple[Any, Any]]) -> list[list[Any]]:
    return [[value, str(label)] for value, label in rows]


def pickers() -> dict[str, Any]:
    """What the side panel offers to choose from."""
    templates = Template.objects.order_by("name", "pk")
    products = Product.objects.order_by("name", "sku").values_list("sku", "name")
    events = sorted(BUILT_IN_TYPES | set(EVENT_LABELS))
    return {
        "templates": [
            {
                "slug": t.slug,
                "name": t.name,
                "channel": t.channel,
                "channel_name": channel_text(t.channel),
                # Where it has something to send: its own variant there, or its short text.
                "sends_on": [c for c in Channel.values if variant_for(t, c) is not None],
            }
            for t in templates
        ],
        "channels": _choices([("preferred", channel_text("preferred")), *Channel.choices]),
        "segments": _choices(
            Segment.objects.order_by("-active", "name", "pk").values_list("pk", "name")
        ),
        "surveys": _choices(Survey.objects.order_by("name", "pk").values_list("pk", "name")),
        "clubs": _choices(
            Club.objects.filter(active=True).order_by("title", "pk").values_list("pk", "title")
        ),
        "events": _choices((e, event_text(e)) for e in events),
        "products": _choices(products[:PRODUCTS_SHOWN]),
        "trigger_kinds": _choices(TRIGGER_KINDS),
        "wait_presets": [
            {"hours": h, "days": d, "label": _duration(h, d)} for h, d in WAIT_PRESETS
        ],
    }


def _duration(hours: int, days: int) -> str:
    if days:
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}


def _titles(definition: Definition | None, template_names: Mapping[str, str]) -> dict[str, str]:
    if definition is None:
        return {}
    return {node.id: node_title(node, template_names) for node in definition.nodes}


def _problems(definition: Definition | None, found: Iterable[tuple[str | None, str]]) -> list[Any]:
    """Problems as [node id or None, message]: the form's, then the shop's for a valid graph."""
    problems = [[node_id, message] for node_id, message in found]
    if definition is not None:
        problems += [[p.node_id, p.message] for p in definition_problems(definition)]
    return problems


def canvas_editor(
    definition: Definition | None,
    *,
    template_names: Mapping[str, str],
    form_problems: Iterable[tuple[str | None, str]] = (),
) -> dict[str, Any]:
    """Data for the editing canvas; the graph itself comes from the form's fields."""
    return {
        "readonly": False,
        "language": get_language() or "en",
        "texts": texts(),
        "pickers": pickers(),
        "titles": _titles(definition, template_names),
        "problems": _problems(definition, form_problems),
    }


def canvas_view(
    definition: Definition,
    *,
    trigger: str,
    counts: Mapping[str, NodeCounts],
    template_names: Mapping[str, str],
    problems: Iterable[Problem],
) -> dict[str, Any]:
    """Data for the read-only canvas on the journey's page: the graph with its live counts
    (a send step's failed runs among them) and the problems the page has already found."""
    return {
        "readonly": True,
        "language": get_language() or "en",
        "texts": texts(),
        "definition": definition.model_dump(mode="json"),
        "trigger": trigger,
        "titles": _titles(definition, template_names),
        "counts": {
            node_id: {
                "waiting": c.waiting,
                "passed": c.passed,
                "problems": c.problems,
                "converted": c.converted,
                "sent": c.sent,
                "opened": c.opened,
                "clicked": c.clicked,
                "replied": c.replied,
            }
            for node_id, c in counts.items()
        },
        "problems": [[p.node_id, p.message] for p in problems],
    }
