"""Journeys: the list with results, a journey's flow as a diagram, and the editor."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.permissions import MANAGE_MARKETING, VIEW
from lifelong.journeys.definition import ClubInviteSend, Definition, Send, SurveySend
from lifelong.journeys.library import (
    LibraryError,
    library_available,
    library_entry,
    library_install,
)
from lifelong.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
)
from lifelong.journeys.problems import Problem, definition_problems
from lifelong.journeys.results import journeys_results
from lifelong.journeys.selectors import NodeCounts, journey_list_stats, node_stats
from lifelong.journeys.services import (
    JourneyError,
    JourneyProblems,
    journey_create,
    journey_launch,
    journey_status_set,
    journey_version_save,
)
from lifelong.journeys.uplift import Results, wilson_interval
from lifelong.messaging.models import Template
from lifelong.segments.models import Segment
from lifelong.web import journey_diagram as diagram
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms_journeys import DefinitionForm, JourneyCreateForm
from lifelong.web.journey_canvas import canvas_editor, canvas_view
from lifelong.web.journey_results import result_texts

# A new journey starts empty and manual, so nothing enters it before it is designed.
EMPTY_DEFINITION: dict[str, Any] = {"trigger": {"kind": "manual"}, "start": None, "nodes": []}
VERSIONS_SHOWN = 30

# action -> (new status, statuses it applies to)
ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "activate": (JourneyStatus.ACTIVE, frozenset({JourneyStatus.DRAFT})),
    "pause": (JourneyStatus.PAUSED, frozenset({JourneyStatus.ACTIVE})),
    "resume": (JourneyStatus.ACTIVE, frozenset({JourneyStatus.PAUSED})),
    "archive": (
        JourneyStatus.ARCHIVED,
        frozenset({JourneyStatus.DRAFT, JourneyStatus.ACTIVE, JourneyStatus.PAUSED}),
    ),
}

# Node types with an example, shown next to the JSON editor.
NODE_EXAMPLES = (
    ('{"id": "wait1", "type": "wait", "days": 3, "next": "thanks"}', "wait"),
    ('{"id": "thanks", "type": "send", "template": "thanks", "channel": "email"}', "send"),
    (
        '{"id": "ask", "type": "survey", "survey": 1, "template": "nps-after-delivery", '
        '"channel": "preferred"}',
        "survey",
    ),
    (
        '{"id": "opened", "type": "wait_event", "events": ["message_opened"], '
        '"timeout_hours": 168, "on_event": "a", "on_timeout": "b"}',
        "wait_event",
    ),
    (
        '{"id": "vip", "type": "condition", "rule": {"op": "and", "rules": [{"kind": '
        '"summary", "field": "orders_count", "op": "gte", "value": 3}]}, "yes": "a", "no": "b"}',
        "condition",
    ),
    (
        '{"id": "ab", "type": "split", "branches": [{"weight": 50, "next": "a"}, '
        '{"weight": 50, "next": "b"}]}',
        "split",
    ),
    ('{"id": "call", "type": "task", "title": "Call the customer", "due_hours": 24}', "task"),
    ('{"id": "tag1", "type": "tag", "action": "add", "tag": "vip"}', "tag"),
    ('{"id": "attr", "type": "attribute", "key": "segment", "value": "gold"}', "attribute"),
    ('{"id": "bonus", "type": "award_points", "points": 100, "reason": "thanks"}', "award_points"),
    ('{"id": "crm", "type": "webhook", "url": "https://example.com/hook"}', "webhook"),
    ('{"id": "stop", "type": "exit"}', "exit"),
)


@require(VIEW)
def journey_list(request: HttpRequest) -> HttpResponse:
    english = (get_language() or "").startswith("en")
    library = [
        {
            "slug": entry.slug,
            "name": entry.name_en if english else entry.name,
            "description": entry.description_en if english else entry.description,
        }
        for entry in library_available()
    ]
    rows = [(stats, result_texts(stats.results)) for stats in journey_list_stats()]
    return render(request, "web/journeys/list.html", {"rows": rows, "library": library})


@require(MANAGE_MARKETING)
@require_POST
def journey_library_install(request: HttpRequest, slug: str) -> HttpResponse:
    """Install a ready journey as a draft, for any shop, not only the demo."""
    try:
        library_entry(slug)
    except LibraryError:
        raise Http404 from None
    if Journey.objects.filter(slug=slug).exists():
        messages.error(request, _("A journey with this code already exists."))
        return redirect("web:journeys")
    journey = library_install(slug, actor=staff_user(request))
    messages.success(
        request,
        _(
            "Installed as a draft. Check its texts and filters (the categories are an example "
            "shop's), then start it."
        ),
    )
    return redirect("web:journey", pk=journey.pk)


def _template_names(definition: Definition) -> dict[str, str]:
    slugs = {
        n.template for n in definition.nodes if isinstance(n, Send | SurveySend | ClubInviteSend)
    }
    if not slugs:
        return {}
    return dict(Template.objects.filter(slug__in=slugs).values_list("slug", "name"))


def _segment_names(definition: Definition) -> dict[int, str]:
    segment_id = definition.trigger.segment_id
    if segment_id is None:
        return {}
    return dict(Segment.objects.filter(pk=segment_id).values_list("pk", "name"))


def _arm_chart(results: Results) -> dict[str, Any]:
    """Conversion per group with its Wilson interval, in percent, for the bar chart."""
    bars: list[dict[str, Any]] = []
    for label, arm in ((_("Got the journey"), results.treated), (_("Holdout"), results.holdout)):
        if not arm.n:
            bars.append({"label": label, "rate": None, "interval": None, "n": 0})
            continue
        low, high = wilson_interval(arm.converted, arm.n)
        bars.append(
            {
                "label": label,
                "rate": round(100 * (arm.rate or 0), 2),
                "interval": [round(100 * low, 2), round(100 * high, 2)],
                "n": arm.n,
            }
        )
    return {
        "labels": [b["label"] for b in bars],
        "rates": [b["rate"] for b in bars],
        "intervals": [b["interval"] for b in bars],
        "text": {"rate": _("Conversion, %"), "interval": _("Interval, 95 %")},
    }


def _versions(journey: Journey) -> list[JourneyVersion]:
    versions = list(
        journey.versions.select_related("created_by").order_by("-number")[:VERSIONS_SHOWN]
    )
    running = dict(
        Enrollment.objects.filter(journey=journey, status=EnrollmentStatus.ACTIVE)
        .values_list("version_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for version in versions:
        version.running = running.get(version.pk, 0)  # type: ignore[attr-defined]
    return versions


@require(VIEW)
def journey_detail(request: HttpRequest, pk: int) -> HttpResponse:
    journey = object_get(request, Journey.objects.select_related("current_version"), pk, VIEW)
    version = journey.current_version
    wanted = request.GET.get("version", "")
    if wanted.isdigit() and (version is None or int(wanted) != version.number):
        version = journey.versions.filter(number=int(wanted)).first() or version
    definition = version.parsed() if version else None
    results = journeys_results([journey.pk], clock.now())[journey.pk]
    context: dict[str, Any] = {
        "journey": journey,
        "version": version,
        "definition": definition,
        "results": results,
        "texts": result_texts(results),
        "chart": _arm_chart(results) if results.holdout.n else None,
        "versions": _versions(journey),
        "actions": _actions_for(journey),
        "can_edit": staff_user(request).can(MANAGE_MARKETING),
    }
    if definition is not None:
        counts, names = node_stats(journey), _template_names(definition)
        trigger = diagram.trigger_text(definition.trigger, _segment_names(definition))
        problems = definition_problems(definition)
        context.update(
            problems=_problem_rows(definition, problems, names),
            # A step's failed runs are among its counts, on the canvas and in the list.
            run_problems=_run_problem_rows(definition, counts, names),
            diagram=diagram.diagram_build(definition, counts, names),
            canvas=canvas_view(
                definition, trigger=trigger, counts=counts, template_names=names, problems=problems
            ),
            trigger=trigger,
            goal=diagram.goal_text(definition.goal),
            reentry=diagram.reentry_text(definition.reentry),
            holdout=diagram.holdout_text(definition.holdout_percent),
        )
    return render(request, "web/journeys/detail.html", context)


def _problem_rows(
    definition: Definition, problems: list[Problem], names: dict[str, str]
) -> list[dict[str, str]]:
    """The definition's problems with the step each is about, as the marketer sees it."""
    steps = {n.id: n.label or diagram.node_title(n, names) for n in definition.nodes}
    return [
        {"node_id": p.node_id or "", "step": steps.get(p.node_id or "", ""), "message": p.message}
        for p in problems
    ]


def _run_problem_rows(
    definition: Definition, counts: dict[str, NodeCounts], names: dict[str, str]
) -> list[dict[str, Any]]:
    """Steps that ran into a problem (a template or a channel gone) and how often."""
    return [
        {
            "node_id": n.id,
            "step": n.label or diagram.node_title(n, names),
            "count": counts[n.id].problems,
            "message": _run_problem_text(counts[n.id].problems),
        }
        for n in definition.nodes
        if n.id in counts and counts[n.id].problems
    ]


def _run_problem_text(count: int) -> str:
    return ngettext(
        "%(n)d time this step could not send: its template or channel was missing.",
        "%(n)d times this step could not send: its template or channel was missing.",
        count,
    ) % {"n": count}


def _actions_for(journey: Journey) -> list[str]:
    return [name for name, (_status, sources) in ACTIONS.items() if journey.status in sources]


@require(MANAGE_MARKETING)
def journey_new(request: HttpRequest) -> HttpResponse:
    form = JourneyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        journey = journey_create(
            name=form.cleaned_data["name"],
            slug=form.cleaned_data["slug"],
            description=form.cleaned_data["description"],
            definition=EMPTY_DEFINITION,
            actor=staff_user(request),
        )
        messages.success(request, _("Journey created. Now design its flow."))
        return redirect("web:journey_edit", pk=journey.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "web/journeys/new.html", {"form": form}, status=status)


@require(MANAGE_MARKETING)
def journey_edit(request: HttpRequest, pk: int) -> HttpResponse:
    journey = object_get(
        request, Journey.objects.select_related("current_version"), pk, MANAGE_MARKETING
    )
    if journey.status == JourneyStatus.ARCHIVED:
        messages.error(request, _("An archived journey cannot be changed."))
        return redirect("web:journey", pk=journey.pk)
    current = journey.current_version
    status = 200
    if request.method == "POST":
        form = DefinitionForm(request.POST)
        shown = None  # an invalid graph has no titles or shop problems, only the form's
        if form.is_valid() and form.definition is not None:
            version = journey_version_save(
                journey=journey,
                definition=form.definition.model_dump(mode="json"),
                actor=staff_user(request),
            )
            text = _("Saved as version %(new)d.") % {"new": version.number}
            if (
                current is not None
                and journey.enrollments.filter(
                    version=current, status=EnrollmentStatus.ACTIVE
                ).exists()
            ):
                text += " " + _(
                    "Customers already in the journey stay on version %(old)d; "
                    "new entrants get version %(new)d."
                ) % {"old": current.number, "new": version.number}
            problems = definition_problems(form.definition)
            if problems:
                # Saved all the same: a draft is work in progress. The page lists them.
                if journey.status == JourneyStatus.ACTIVE:
                    text += " " + ngettext(
                        "New entrants get it with %(n)d problem; see below.",
                        "New entrants get it with %(n)d problems; see below.",
                        len(problems),
                    ) % {"n": len(problems)}
                else:
                    text += " " + ngettext(
                        "It has %(n)d problem to fix before it can start; see below.",
                        "It has %(n)d problems to fix before it can start; see below.",
                        len(problems),
                    ) % {"n": len(problems)}
                messages.warning(request, text)
            else:
                messages.success(request, text)
            return redirect("web:journey", pk=journey.pk)
        status = 400
    else:
        form = DefinitionForm(
            initial=DefinitionForm.initial_from(current.definition if current else EMPTY_DEFINITION)
        )
        shown = current.parsed() if current else None
    context = {
        "journey": journey,
        "form": form,
        "current": current,
        "next_number": (current.number if current else 0) + 1,
        "examples": NODE_EXAMPLES,
        "canvas": canvas_editor(
            shown,
            template_names=_template_names(shown) if shown else {},
            form_problems=form.node_problems,
        ),
    }
    return render(request, "web/journeys/edit.html", context, status=status)


@require(MANAGE_MARKETING)
@require_POST
def journey_status(request: HttpRequest, pk: int) -> HttpResponse:
    journey = object_get(
        request, Journey.objects.select_related("current_version"), pk, MANAGE_MARKETING
    )
    action = request.POST.get("action", "")
    if action not in ACTIONS or journey.status not in ACTIONS[action][1]:
        messages.error(request, _("This journey cannot do that now."))
        return redirect("web:journey", pk=journey.pk)
    new_status = ACTIONS[action][0]
    try:
        if new_status == JourneyStatus.ACTIVE:
            journey_launch(journey=journey, actor=staff_user(request))
        else:
            journey_status_set(journey=journey, status=new_status, actor=staff_user(request))
    except JourneyProblems as exc:
        messages.error(
            request,
            ngettext(
                "The journey cannot start: %(n)d problem, listed below.",
                "The journey cannot start: %(n)d problems, listed below.",
                len(exc.problems),
            )
            % {"n": len(exc.problems)},
        )
        return redirect("web:journey", pk=journey.pk)
    except JourneyError as exc:
        messages.error(request, str(exc))
        return redirect("web:journey", pk=journey.pk)
    done = {
        "activate": _("Journey started: new customers now enter it."),
        "pause": _("Journey paused: nobody moves on until it resumes."),
        "resume": _("Journey resumed."),
        "archive": _("Journey archived; customers in it were taken out."),
    }
    messages.success(request, done[action])
    return redirect("web:journey", pk=journey.pk)
