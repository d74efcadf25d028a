"""Asking and answering surveys: invites (throttled), their sealed links, and responses.

The public surface other apps use (the journey "survey" node, messenger score buttons,
email score links):

- `survey_invite_create` asks one customer one survey, or returns None when the throttle
  says not now; a replay with the same key returns the same invite. `survey_invites_create`
  asks many at once (a journey step's group).
- `invite_url(invite, score=None)`: the page's address; a score in it is pre-selected, and
  counted once a browser has shown the page (`score_seen_url`, `score_seen_record`).
- `response_submit` records the answers; one response per invite, whatever the races.
- `invite_open` finds the invite a link's token names.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.customers.selectors import customer_survivor, customers_survivors
from lifelong.events.services import event_record
from lifelong.feedback.inbox import item_from_response
from lifelong.feedback.models import (
    Answer,
    Invite,
    Question,
    QuestionKind,
    Response,
    Survey,
    SurveyKind,
)
from lifelong.feedback.review_asks import review_ask_send
from lifelong.feedback.selectors import rule_index_current, staff_names
from lifelong.feedback.themes import tag
from lifelong.lib.bulk import bulk_insert, unsaved
from lifelong.lib.pg_array import in_values
from lifelong.lib.signing import absolute_url, token_make, token_open

LINK_PURPOSE = "survey"
# The stylesheet a page shown for `?score=N` loads: a token of its own purpose, so neither
# the page's link nor any other token opens it.
SEEN_PURPOSE = "survey_seen"
# A browser loads the stylesheet within seconds of the page; an hour allows a slow phone and
# keeps an old copied address from counting.
SEEN_MINUTES = 60
# How long a customer may change what they answered (a slip, a second thought).
EDIT_HOURS = 24
MAX_TEXT = 2000
MAX_KEY = 120
PROMOTER, DETRACTOR = (9, 10), (0, 6)

# What one question's answer may be: a number on its scale, the indices of the choices
# ticked, or text.
AnswerValue = int | list[int] | str | None


class SurveyClosed(Exception):
    """The invite can take no (more) answers: `reason` is "expired" or "answered"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _throttle_scope(survey: Survey) -> Q:
    # A relationship NPS asks how the customer feels about the business as a whole: two
    # such surveys are the same question, however they were sent.
    if survey.kind == SurveyKind.NPS:
        return Q(survey__kind=SurveyKind.NPS)
    return Q(survey=survey)


def invites_throttled(
    *, survey: Survey, customer_ids: Collection[int], at: dt.datetime
) -> set[int]:
    """The customers (of `customer_ids`) who, or a duplicate merged into whom, were asked or
    answered within the survey's window before `at`: three queries for any number."""
    since = at - dt.timedelta(days=survey.throttle_days)
    scope = _throttle_scope(survey)
    if not customer_ids:
        return set()
    # Whose asks count for whom: each customer's own, and their merged duplicates'.
    owner = {pk: pk for pk in customer_ids}
    owner.update(
        Customer.objects.filter(in_values("merged_into_id", customer_ids)).values_list(
            "pk", "merged_into_id"
        )
    )
    ids = in_values("customer_id", list(owner))
    asked = Invite.objects.filter(scope, ids, created_at__gt=since)
    answered = Response.objects.filter(scope, ids, submitted_at__gt=since)
    return {
        owner[pk]
        for pk in itertools.chain(
            asked.values_list("customer_id", flat=True),
            answered.values_list("customer_id", flat=True),
        )
    }


def survey_invite_create(
    *,
    survey: Survey,
    customer: Customer,
    key: str,
    channel: str = "",
    enrollment_id: int | None = None,
    node: str = "",
) -> Invite | None:
    """Invite the customer to the survey, or None when the survey is off or throttled.

    `key` names this send (e.g. f"journey:{enrollment_id}:{node}"): the same key returns the
    same invite, so a retried send asks once. The invite's `dedupe_key` is the outbox
    message's dedupe key. The one-customer case of `survey_invites_create`.
    """
    ask = InviteAsk(customer=customer, key=key, channel=channel, enrollment_id=enrollment_id)
    return survey_invites_create(survey=survey, asks=[ask], node=node)[0]


@dataclass(frozen=True)
class InviteAsk:
    customer: Customer
    key: str
    channel: str = ""
    enrollment_id: int | None = None


@transaction.atomic
def survey_invites_create(
    *, survey: Survey, asks: Sequence[InviteAsk], node: str = ""
) -> list[Invite | None]:
    """`survey_invite_create` for many asks at once (a journey step's group), in a fixed
    number of queries: per ask, in order, its invite or None.

    The customers are locked (in id order) so two sends at once honour the throttle
    together; within the asks, a customer's first new invite throttles the later ones, as
    asking one at a time would. A merged duplicate is asked as the customer it became, so
    the throttle sees them whole.
    """
    for ask in asks:
        if not ask.key or len(ask.key) > MAX_KEY:
            raise ValueError("an invite key of 1 to 120 characters")
    # A customer row gone since it was read is asked as the object given, as before.
    found_survivors = customers_survivors(ask.customer.pk for ask in asks)
    survivors = {a.customer.pk: found_survivors.get(a.customer.pk, a.customer) for a in asks}
    keys = [f"survey_invite:{survey.pk}:{survivors[a.customer.pk].pk}:{a.key}" for a in asks]
    found = {
        invite.dedupe_key: invite
        for invite in Invite.objects.filter(in_values("dedupe_key", set(keys), sql_type="text"))
    }
    if not survey.active:
        return [found.get(key) for key in keys]
    fresh = sorted(
        {survivors[a.customer.pk].pk for a, k in zip(asks, keys, strict=True) if k not in found}
    )
    if fresh:
        # Locked now, not only when the invites are written: the throttle is read after this.
        list(
            Customer.objects.select_for_update()
            .filter(in_values("pk", fresh))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    now = clock.now()
    throttled = invites_throttled(survey=survey, customer_ids=fresh, at=now)
    made: list[Invite] = []
    invites: list[Invite | None] = []
    for ask, key in zip(asks, keys, strict=True):
        customer = survivors[ask.customer.pk]
        if key not in found and customer.pk not in throttled:
            found[key] = unsaved(
                Invite,
                survey=survey,
                customer=customer,
                dedupe_key=key,
                channel=ask.channel,
                enrollment_id=ask.enrollment_id,
                node=node,
                created_at=now,
                expires_at=now + dt.timedelta(days=survey.link_days),
            )
            made.append(found[key])
            throttled.add(customer.pk)
        invites.append(found.get(key))
    bulk_insert(made)
    return invites


def invite_token(invite: Invite) -> str:
    return token_make(purpose=LINK_PURPOSE, value=invite.pk)


def invite_url(invite: Invite, score: int | None = None) -> str:
    """The survey page of this invite. A `score` (an email's 0–10 links) is shown chosen on
    the page; opening the link records nothing (link scanners open every link in a message),
    the stylesheet of `score_seen_url` that the shown page loads records it."""
    url = absolute_url(reverse("portal:survey", args=[invite_token(invite)]))
    return url if score is None else f"{url}?score={int(score)}"


def invite_open(token: str) -> Invite | None:
    """The invite a token names, or None for a forged or damaged token (expiry is the
    invite's own `expires_at`, checked by the caller so it can say so kindly)."""
    opened = token_open(purpose=LINK_PURPOSE, token=token)
    if opened is None or not opened.value.isdigit():
        return None
    return Invite.objects.select_related("survey", "customer").filter(pk=int(opened.value)).first()


def score_seen_url(invite: Invite, score: int) -> str:
    """The address of the empty stylesheet the page shown for `?score=` loads. Fetching it
    records the score (`score_seen_record`): a browser that shows the page loads it, a
    scanner that only requests the link does not. The token seals the invite and the score."""
    mark = token_make(purpose=SEEN_PURPOSE, value=f"{invite.pk}:{int(score)}")
    return reverse("portal:survey_seen", args=[invite_token(invite), mark])


def score_seen_open(*, invite: Invite, mark: str) -> int | None:
    """The score a stylesheet token carries, or None when it is forged, damaged, made for
    another invite, or older than SEEN_MINUTES."""
    opened = token_open(purpose=SEEN_PURPOSE, token=mark)
    if opened is None or clock.now() - opened.made_at > dt.timedelta(minutes=SEEN_MINUTES):
        return None
    invite_id, _sep, score = opened.value.partition(":")
    if invite_id != str(invite.pk) or not score.lstrip("-").isdigit():
        return None
    return int(score)


@transaction.atomic
def score_seen_record(*, invite: Invite, score: int) -> Response | None:
    """Record a score from an email link once a browser has shown its page; the response
    when this call made it, else None.

    Only the first answer to an invite: once the customer has a response (from this, the
    form, or a messenger button), nothing changes, so a reload, a second tab or a late
    fetch never overwrites what they sent or edited. The invite row is locked first, so
    the check and `response_submit` (which keeps one response per invite, the edit window
    and the expiry) see the same state. Kept as the invite's first score, like a tap in a
    messenger; the page then asks the rest."""
    invite = Invite.objects.select_for_update().select_related("survey").get(pk=invite.pk)
    if Response.objects.filter(invite=invite).exists():
        return None
    scored = first_scored(questions_of(invite.survey))
    if scored is None:
        return None
    try:
        response, created = response_submit(
            invite=invite, answers={scored.pk: score}, complete=False, from_message=True
        )
    except (SurveyClosed, ValidationError):
        return None  # the link ran out, or the score is off the scale
    return response if created else None


def questions_of(survey: Survey) -> list[Question]:
    return list(survey.questions.order_by("position"))


def first_scored(questions: Sequence[Question]) -> Question | None:
    """The question whose answer is the response's score: the first scored one asked always."""
    return next((q for q in questions if q.scale and q.show_if_id is None), None)


def questions_shown(questions: Sequence[Question], numbers: Mapping[int, int]) -> list[Question]:
    """The questions asked given the numbers answered so far (question id -> number)."""
    return [q for q in questions if q.shown_after(numbers.get(q.show_if_id or 0))]


@dataclass(frozen=True)
class _Clean:
    question: Question
    number: int | None = None
    choices: tuple[str, ...] = ()
    text: str = ""


def _answer_clean(question: Question, value: AnswerValue) -> _Clean | None:
    if value is None or value == "" or value == []:
        return None
    if question.scale:
        low, high = question.scale
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValidationError(
                _("Choose a number from %(low)s to %(high)s.") % {"low": low, "high": high}
            )
        return _Clean(question, number=value)
    if question.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        picked = [value] if isinstance(value, int) else value
        options = list(question.choices)
        if (
            not isinstance(picked, list)
            or not all(isinstance(i, int) and 0 <= i < len(options) for i in picked)
            or (question.kind == QuestionKind.SINGLE and len(picked) != 1)
        ):
            raise ValidationError(_("Choose one of the answers offered."))
        return _Clean(question, choices=tuple(options[i] for i in sorted(set(picked))))
    if not isinstance(value, str):
        raise ValidationError(_("Please write your answer as text."))
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise ValidationError(_("Please keep it under %(n)s characters.") % {"n": MAX_TEXT})
    return _Clean(question, text=text) if text else None


def answers_clean(
    questions: Sequence[Question], answers: Mapping[int, AnswerValue], *, complete: bool
) -> list[_Clean]:
    """The answers to the questions asked, checked; answers to questions not asked (a
    follow-up whose condition the score does not meet) are dropped.

    ValidationError maps question ids to what is wrong. `complete`: required questions
    must be answered (not so for a score tapped in a message).
    """
    errors: dict[str, list[str]] = {}
    numbers: dict[int, int] = {}
    cleaned: list[_Clean] = []
    for question in questions:  # in order, so a follow-up sees the answer it depends on
        if not question.shown_after(numbers.get(question.show_if_id or 0)):
            continue
        try:
            answer = _answer_clean(question, answers.get(question.pk))
        except ValidationError as error:
            errors[str(question.pk)] = error.messages
            continue
        if answer is None:
            if complete and question.required:
                errors[str(question.pk)] = [_("Please answer this question.")]
            continue
        if answer.number is not None:
            numbers[question.pk] = answer.number
        cleaned.append(answer)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _tag(response: Response, scored: Question | None) -> None:
    scale = {"nps": "nps", "csat": "csat"}.get(scored.kind if scored else "")
    score = response.score if scale else None
    corrected = response.themes_corrected_at is not None
    if not response.comment and score is None:
        response.sentiment, response.polarity = "", None
        if not corrected:
            response.themes = []
        return
    tagging = tag(
        response.comment,
        rule_index_current(),
        score=score,
        scale=scale or "nps",
        staff=staff_names(),
    )
    if corrected:
        # Staff set the themes by hand (corrections.py): they stay; the tagger's new view
        # is kept beside them.
        response.tagger_themes = list(tagging.themes)
    else:
        response.themes = list(tagging.themes)
    response.sentiment = tagging.sentiment
    response.polarity = round(tagging.polarity, 3)


def _events(response: Response, scored: Question | None) -> None:
    """survey_answered, and for an NPS score nps_promoter or nps_detractor: once per invite
    (the idempotency keys), with what the first answer said."""
    survey = response.survey
    properties = {
        "survey": survey.pk,
        "survey_name": survey.name,
        "kind": survey.kind,
        "score": response.score,
        "invite": response.invite_id,
    }
    events = ["survey_answered"]
    if scored is not None and scored.kind == QuestionKind.NPS and response.score is not None:
        if PROMOTER[0] <= response.score <= PROMOTER[1]:
            events.append("nps_promoter")
        elif DETRACTOR[0] <= response.score <= DETRACTOR[1]:
            events.append("nps_detractor")
    for event_type in events:
        event_record(
            customer=response.customer,
            type=event_type,
            properties=properties,
            occurred_at=response.submitted_at,
            source="survey",
            idempotency_key=f"survey:{response.invite_id}:{event_type}",
        )


@transaction.atomic
def response_submit(
    *,
    invite: Invite,
    answers: Mapping[int, AnswerValue],
    complete: bool = True,
    from_message: bool = False,
) -> tuple[Response, bool]:
    """Record the customer's answers to an invite; returns (response, created).

    One response per invite: the invite row is locked (PostgreSQL; SQLite's writers are
    serialised already) and Response.invite is unique, so two submissions at once store one
    row, the second as an edit. Within EDIT_HOURS of the first answer a submission replaces
    the answers; after it, or once the link has expired, SurveyClosed. Events go out once,
    with the first answer. `from_message`: the score was tapped in the message itself (a
    messenger button), kept as the invite's first score; pass `complete=False` then.
    """
    now = clock.now()
    invite = (
        Invite.objects.select_for_update().select_related("survey", "customer").get(pk=invite.pk)
    )
    response = Response.objects.filter(invite=invite).first()
    if response is not None and response.editable_until <= now:
        raise SurveyClosed("answered")
    if response is None and invite.expires_at <= now:
        raise SurveyClosed("expired")
    questions = questions_of(invite.survey)
    cleaned = answers_clean(questions, answers, complete=complete)
    scored = first_scored(questions)
    by_question = {c.question.pk: c for c in cleaned}
    score = by_question[scored.pk].number if scored and scored.pk in by_question else None
    comment = "\n\n".join(c.text for c in cleaned if c.text)
    created = response is None
    if response is None:
        # Answers and events belong to the customer a merged duplicate became.
        customer = customer_survivor(invite.customer_id) or invite.customer
        response = Response(
            invite=invite,
            survey=invite.survey,
            customer=customer,
            submitted_at=now,
            editable_until=now + dt.timedelta(hours=EDIT_HOURS),
        )
    response.score, response.comment, response.updated_at = score, comment, now
    _tag(response, scored)
    if created:
        try:
            with transaction.atomic():
                response.save(force_insert=True)
        except IntegrityError:
            # Only where the lock above is a no-op: the other submission won; ours is an edit.
            created = False
            won = Response.objects.get(invite=invite)
            response.pk, response.submitted_at = won.pk, won.submitted_at
            response.editable_until = won.editable_until
            response.save(force_update=True)
    else:
        response.save()
    if not created:
        Answer.objects.filter(response=response).delete()
    Answer.objects.bulk_create(
        [
            Answer(
                response=response,
                question=c.question,
                number=c.number,
                choices=list(c.choices),
                text=c.text,
            )
            for c in cleaned
        ]
    )
    if from_message and invite.first_score is None and score is not None:
        invite.first_score, invite.first_score_at = score, now
        invite.save(update_fields=["first_score", "first_score_at"])
    if created:
        _events(response, scored)
    # A comment or a low score is a conversation a person answers (keyed by the response, so
    # an edit that first adds a comment brings it to the inbox then, and only once).
    item_from_response(response)
    # The promoter's review ask follows the recorded answer here, whichever path recorded it
    # (form, email link's stylesheet, messenger button); once per invite (its dedupe key).
    review_ask_send(response=response, scored=scored)
    return response, created


def response_answers(response: Response | None) -> dict[int, AnswerValue]:
    """A stored response's answers in the form `response_submit` takes (choices as indices
    of the question's current choices), to fill the page in again for an edit."""
    if response is None:
        return {}
    out: dict[int, AnswerValue] = {}
    for answer in response.answers.select_related("question"):
        question = answer.question
        if answer.number is not None:
            out[question.pk] = answer.number
        elif question.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            options = list(question.choices)
            out[question.pk] = [options.index(c) for c in answer.choices if c in options]
        else:
            out[question.pk] = answer.text
    return out
