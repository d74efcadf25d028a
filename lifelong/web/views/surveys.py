"""The surveys page (owner and marketer): each survey with its invites, responses and score,
the survey editor, and a survey's responses (also for support, who answer the customers)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from lifelong.accounts.permissions import MANAGE_MARKETING, WORK_TASKS
from lifelong.feedback.models import Answer, Invite, Response, Survey, SurveyKind
from lifelong.feedback.survey_editor import SURVEY_FIELDS, QuestionSpec, survey_save
from lifelong.feedback.surveys import questions_of
from lifelong.web.access import require, staff_user
from lifelong.web.forms_surveys import QuestionFormSet, SurveyForm, question_initial
from lifelong.web.listing import page_number, page_slice

PER_PAGE = 50


def _with_figures(surveys: QuerySet[Survey]) -> QuerySet[Survey]:
    """Each survey's invites, responses and the counts its score is made of, in one query."""
    invites = (
        Invite.objects.filter(survey=OuterRef("pk"))
        .order_by()
        .values("survey")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return surveys.annotate(
        invite_count=Coalesce(Subquery(invites, output_field=IntegerField()), 0),
        response_count=Count("responses"),
        scored=Count("responses__score"),
        promoters=Count("responses", filter=Q(responses__score__gte=9)),
        detractors=Count("responses", filter=Q(responses__score__lte=6)),
        satisfied=Count("responses", filter=Q(responses__score__gte=4)),
        easy=Count("responses", filter=Q(responses__score__gte=5)),
    )


def _figure(survey: Any) -> str:
    """NPS (promoters less detractors, in points), CSAT (share of 4–5) or CES (share of 5–7)."""
    if not survey.scored:
        return "—"
    if survey.kind == SurveyKind.NPS:
        return f"{round(100 * (survey.promoters - survey.detractors) / survey.scored):+d}"
    if survey.kind == SurveyKind.CSAT:
        return f"{round(100 * survey.satisfied / survey.scored)}%"
    if survey.kind == SurveyKind.CES:
        return f"{round(100 * survey.easy / survey.scored)}%"
    return "—"


@require(MANAGE_MARKETING)
def surveys(request: HttpRequest) -> HttpResponse:
    rows = list(_with_figures(Survey.objects.order_by("-active", "name")))
    for row in rows:
        row.figure = _figure(row)  # type: ignore[attr-defined]
    return render(request, "web/feedback/surveys.html", {"surveys": rows})


def _editor(
    request: HttpRequest, survey: Survey | None
) -> tuple[SurveyForm, Any, list[QuestionSpec] | None]:
    initial = question_initial(questions_of(survey)) if survey else []
    form = SurveyForm(request.POST or None, instance=survey)
    formset = QuestionFormSet(request.POST or None, initial=initial, prefix="q")
    specs = None
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        specs = [spec for spec in (f.spec() for f in formset.forms) if spec is not None]
    return form, formset, specs


@require(MANAGE_MARKETING)
def survey_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk) if pk is not None else None
    form, formset, specs = _editor(request, survey)
    problems: list[str] = []
    if specs is not None:
        try:
            saved = survey_save(
                survey=survey,
                values={name: form.cleaned_data[name] for name in SURVEY_FIELDS},
                questions=specs,
                actor=staff_user(request),
            )
        except ValidationError as error:
            problems = error.messages
        else:
            messages.success(request, _("Survey «%(name)s» saved.") % {"name": saved.name})
            return redirect("web:feedback_survey", pk=saved.pk)
    status = 400 if request.method == "POST" else 200
    context = {"survey": survey, "form": form, "formset": formset, "problems": problems}
    return render(request, "web/feedback/survey.html", context, status=status)


@require(WORK_TASKS)
def survey_responses(request: HttpRequest, pk: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=pk)
    answers = Answer.objects.select_related("question").order_by("question__position")
    responses = (
        Response.objects.filter(survey=survey)
        .select_related("customer")
        .prefetch_related(Prefetch("answers", queryset=answers))
        .order_by("-submitted_at", "-pk")
    )
    score = request.GET.get("score", "")
    filters = {"detractors": Q(score__lte=6), "promoters": Q(score__gte=9), "low": Q(score__lte=3)}
    if score in filters:
        responses = responses.filter(filters[score])
    page = page_slice(responses, number=page_number(request.GET.get("page")), per_page=PER_PAGE)
    context = {"survey": survey, "page": page, "score": score}
    return render(request, "web/feedback/responses.html", context)
