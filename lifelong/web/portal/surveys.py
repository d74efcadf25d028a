"""The survey page a customer reaches from an invite's sealed link, and its thank-you page.

A GET of the page records nothing, not even a `?score=` from an email's score links: mail
scanners open every link in a message. The page shown for a score loads a tiny stylesheet
whose address seals the invite and the score (`score_seen`); fetching it records the score,
so it counts once a browser has shown the page, with no script. The page works without
JavaScript: the answers sent, it asks the follow-ups
the score calls for on the same page, then thanks. It speaks the survey's language.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from lifelong import clock
from lifelong.feedback.models import Invite, Question, QuestionKind, Response
from lifelong.feedback.surveys import (
    AnswerValue,
    SurveyClosed,
    first_scored,
    invite_open,
    questions_of,
    questions_shown,
    response_answers,
    response_submit,
    score_seen_open,
    score_seen_record,
    score_seen_url,
)
from lifelong.lib.client_ip import client_ip
from lifelong.web import ratelimit
from lifelong.web.portal.guard import customer_page, refuse_staff, staff_preview

# What the score stylesheet always answers: it styles nothing and says nothing of what it did.
_EMPTY_CSS = b"/* */\n"


def _invite(request: HttpRequest, token: str) -> Invite:
    invite = invite_open(token)
    if invite is None:
        raise Http404
    translation.activate(invite.survey.language)
    request.LANGUAGE_CODE = invite.survey.language
    return invite


def _closed(request: HttpRequest, reason: str) -> HttpResponse:
    if reason == "expired":
        heading = _("This survey has closed")
        lines = [_("Thank you for wanting to answer. We will ask again another time.")]
    else:
        heading = _("Thank you, we have your answer")
        lines = [_("It can no longer be changed. Every answer is read by a person.")]
    return render(request, "portal/notice.html", {"heading": heading, "lines": lines})


def _int(raw: str | None) -> int | str | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return raw  # refused by the service's check, with its message


def _posted(questions: list[Question], data: QueryDict) -> dict[int, AnswerValue]:
    answers: dict[int, AnswerValue] = {}
    for question in questions:
        name = f"q{question.pk}"
        value: AnswerValue
        if question.kind == QuestionKind.TEXT:
            value = data.get(name, "")
        elif question.kind == QuestionKind.MULTIPLE:
            picked = [_int(v) for v in data.getlist(name)]
            value = [v for v in picked if isinstance(v, int)] if picked else None
        else:
            raw = _int(data.get(name))
            value = raw if isinstance(raw, int) or raw is None else str(raw)
        answers[question.pk] = value
    return answers


def _numbers(answers: dict[int, AnswerValue]) -> dict[int, int]:
    return {pk: v for pk, v in answers.items() if isinstance(v, int)}


def _rows(
    questions: list[Question], answers: dict[int, AnswerValue], errors: dict[str, list[str]]
) -> list[dict[str, object]]:
    rows = []
    for question in questions_shown(questions, _numbers(answers)):
        value = answers.get(question.pk)
        picked: list[int] = (
            value if isinstance(value, list) else [value] if isinstance(value, int) else []
        )
        options = []
        if question.scale:
            low, high = question.scale
            options = [(n, str(n), n in picked) for n in range(low, high + 1)]
        elif question.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            options = [(n, text, n in picked) for n, text in enumerate(question.choices)]
        rows.append(
            {
                "question": question,
                "name": f"q{question.pk}",
                "options": options,
                "text": value if isinstance(value, str) else "",
                "errors": errors.get(str(question.pk), []),
            }
        )
    return rows


def _page(
    request: HttpRequest,
    invite: Invite,
    *,
    answers: dict[int, AnswerValue],
    errors: dict[str, list[str]] | None = None,
    response: Response | None = None,
    seen_css: str = "",
    status: int = 200,
) -> HttpResponse:
    questions = questions_of(invite.survey)
    rows = _rows(questions, answers, errors or {})
    scored = first_scored(questions)
    context = {
        "invite": invite,
        "rows": rows,
        "errors": bool(errors),
        "more": request.GET.get("more") == "1",
        "response": response,
        "preview": staff_preview(request),
        "scale_hint": scored.kind if scored else "",
        "seen_css": seen_css,
    }
    return render(request, "portal/survey.html", context, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@customer_page
def survey(request: HttpRequest, token: str) -> HttpResponse:
    invite = _invite(request, token)
    response = Response.objects.filter(invite=invite).first()
    now = clock.now()
    if response is not None and response.editable_until <= now:
        return _closed(request, "answered")
    if response is None and invite.expires_at <= now:
        return _closed(request, "expired")
    questions = questions_of(invite.survey)
    if request.method == "POST":
        refuse_staff(request)
        answers = _posted(questions, request.POST)
        try:
            response_submit(invite=invite, answers=answers)
        except ValidationError as error:
            return _page(request, invite, answers=answers, errors=error.message_dict, status=400)
        except SurveyClosed as closed:
            return _closed(request, closed.reason)
        shown_before = {int(v) for v in request.POST.getlist("shown") if v.isdigit()}
        shown_now = {q.pk for q in questions_shown(questions, _numbers(answers))}
        if shown_now - shown_before:
            return redirect(reverse("portal:survey", args=[token]) + "?more=1")
        return redirect("portal:survey_thanks", token=token)
    answers = response_answers(response)
    scored = first_scored(questions)
    score = _int(request.GET.get("score"))
    seen_css = ""
    if response is None and scored and scored.scale and isinstance(score, int):
        low, high = scored.scale
        if low <= score <= high:
            answers[scored.pk] = score  # shown chosen; recorded by the stylesheet or the POST
            if not staff_preview(request):
                seen_css = score_seen_url(invite, score)
    return _page(request, invite, answers=answers, response=response, seen_css=seen_css)


def _asked_as_stylesheet(request: HttpRequest) -> bool:
    """Whether a browser asks for this as the page's stylesheet. Browsers send `text/css`
    in Accept for a stylesheet (and `Sec-Fetch-Dest: style` where they send fetch metadata);
    a scanner fetching every address it finds, or someone opening it as a page, does not."""
    destination = request.headers.get("Sec-Fetch-Dest")
    if destination is not None and destination != "style":
        return False
    return "text/css" in request.headers.get("Accept", "")


@never_cache
@require_http_methods(["GET"])
def score_seen(request: HttpRequest, token: str, mark: str) -> HttpResponse:
    """The empty stylesheet of a page shown for `?score=`: fetching it records the score once
    (`score_seen_record`: nothing if the customer already answered, the link expired, or the
    mark is forged, old or another invite's). A signed-in staff member records nothing.
    Counted against the address's portal limit like every customer page."""
    if (
        _asked_as_stylesheet(request)
        and not staff_preview(request)
        and ratelimit.portal_blocked_for(ip=client_ip(request) or "") is None
    ):
        invite = invite_open(token)
        score = score_seen_open(invite=invite, mark=mark) if invite is not None else None
        if invite is not None and score is not None:
            score_seen_record(invite=invite, score=score)
    return HttpResponse(_EMPTY_CSS, content_type="text/css; charset=utf-8")


@never_cache
@require_http_methods(["GET", "HEAD"])
@customer_page
def thanks(request: HttpRequest, token: str) -> HttpResponse:
    invite = _invite(request, token)
    response = Response.objects.filter(invite=invite).first()
    if response is None:
        return redirect("portal:survey", token=token)
    editable = response.editable_until > clock.now()
    return render(
        request,
        "portal/survey_thanks.html",
        {"invite_token": token, "response": response, "editable": editable},
    )
