"""Staff edits of a survey and its questions: checked as a whole, audited.

Questions are kept by position: an edit changes a question in place, so the answers it
already has keep pointing at it. A question with answers is never removed or given
another kind (its answers would lose their meaning): switch the survey off and start a
new one instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.feedback.models import (
    MAX_QUESTIONS,
    SCALES,
    Answer,
    Question,
    QuestionKind,
    Survey,
)

SURVEY_FIELDS = ("name", "kind", "language", "active", "throttle_days", "link_days")
MAX_CHOICES = 12


@dataclass(frozen=True)
class QuestionSpec:
    """One question as the editor gives it; `show_if` is the position of an earlier scored
    question, with the range of its answers that asks this one."""

    kind: str
    text: str
    choices: tuple[str, ...] = ()
    required: bool = False
    show_if: int | None = None
    show_if_min: int | None = None
    show_if_max: int | None = None


_DEFAULTS: dict[tuple[str, str], list[QuestionSpec]] = {
    ("nps", "ru"): [
        QuestionSpec(
            "nps", "Насколько вероятно, что вы порекомендуете нас друзьям?", required=True
        ),
        QuestionSpec("text", "Что пошло не так?", show_if=1, show_if_min=0, show_if_max=6),
        QuestionSpec(
            "text",
            "Что нам сделать, чтобы вы поставили 10?",
            show_if=1,
            show_if_min=7,
            show_if_max=8,
        ),
        QuestionSpec(
            "text", "Что понравилось больше всего?", show_if=1, show_if_min=9, show_if_max=10
        ),
    ],
    ("nps", "en"): [
        QuestionSpec("nps", "How likely are you to recommend us to a friend?", required=True),
        QuestionSpec("text", "What went wrong?", show_if=1, show_if_min=0, show_if_max=6),
        QuestionSpec("text", "What would make it a 10?", show_if=1, show_if_min=7, show_if_max=8),
        QuestionSpec("text", "What did you like most?", show_if=1, show_if_min=9, show_if_max=10),
    ],
    ("csat", "ru"): [
        QuestionSpec("csat", "Как вам ваш заказ?", required=True),
        QuestionSpec("text", "Что пошло не так?", show_if=1, show_if_min=1, show_if_max=3),
        QuestionSpec("text", "Что помешало поставить 5?", show_if=1, show_if_min=4, show_if_max=4),
    ],
    ("csat", "en"): [
        QuestionSpec("csat", "How was your order?", required=True),
        QuestionSpec("text", "What went wrong?", show_if=1, show_if_min=1, show_if_max=3),
        QuestionSpec("text", "What kept it from a 5?", show_if=1, show_if_min=4, show_if_max=4),
    ],
    ("ces", "ru"): [
        QuestionSpec("ces", "Насколько легко было решить ваш вопрос?", required=True),
        QuestionSpec("text", "Что было трудно?", show_if=1, show_if_min=1, show_if_max=4),
    ],
    ("ces", "en"): [
        QuestionSpec("ces", "How easy was it to get what you needed?", required=True),
        QuestionSpec("text", "What was hard?", show_if=1, show_if_min=1, show_if_max=4),
    ],
}


def default_questions(*, kind: str, language: str) -> list[QuestionSpec]:
    """The usual questions of a kind of survey, with their follow-ups; none for custom."""
    return list(_DEFAULTS.get((kind, language), []))


def questions_check(specs: Sequence[QuestionSpec]) -> None:
    """ValidationError listing what is wrong: count, texts, choices, follow-up conditions."""
    problems: list[str] = []
    if not 1 <= len(specs) <= MAX_QUESTIONS:
        problems.append(_("A survey has one to %(n)s questions.") % {"n": MAX_QUESTIONS})
    for n, spec in enumerate(specs, start=1):
        where = _("Question %(n)s") % {"n": n}
        if spec.kind not in QuestionKind.values:
            problems.append(_("%(where)s: unknown kind.") % {"where": where})
            continue
        if not spec.text.strip() or len(spec.text) > 300:
            problems.append(_("%(where)s: a text of up to 300 characters.") % {"where": where})
        choosing = spec.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
        if choosing and not 2 <= len(spec.choices) <= MAX_CHOICES:
            problems.append(
                _("%(where)s: two to %(n)s answers to choose from, one per line.")
                % {"where": where, "n": MAX_CHOICES}
            )
        if spec.show_if is None:
            continue
        if not 1 <= spec.show_if < n:
            problems.append(_("%(where)s: a follow-up of an earlier question.") % {"where": where})
            continue
        scale = SCALES.get(specs[spec.show_if - 1].kind)
        if scale is None:
            problems.append(
                _("%(where)s: a follow-up needs a scored question (NPS, CSAT, CES).")
                % {"where": where}
            )
            continue
        low = scale[0] if spec.show_if_min is None else spec.show_if_min
        high = scale[1] if spec.show_if_max is None else spec.show_if_max
        if not scale[0] <= low <= high <= scale[1]:
            problems.append(
                _("%(where)s: the range must lie within %(low)s–%(high)s, low to high.")
                % {"where": where, "low": scale[0], "high": scale[1]}
            )
    if problems:
        raise ValidationError(problems)


def _spec_of(question: Question, positions: dict[int, int]) -> dict[str, Any]:
    return {
        "kind": question.kind,
        "text": question.text,
        "choices": list(question.choices),
        "required": question.required,
        "show_if": positions.get(question.show_if_id or 0),
        "show_if_min": question.show_if_min,
        "show_if_max": question.show_if_max,
    }


def _spec_json(spec: QuestionSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["choices"] = list(spec.choices)
    return data


@transaction.atomic
def survey_save(
    *,
    survey: Survey | None,
    values: dict[str, Any],
    questions: Sequence[QuestionSpec],
    actor: User | None,
) -> Survey:
    """Create a survey (`survey` None) or change one with its questions, audited.

    A new survey given no questions gets the usual ones of its kind and language.
    """
    unknown = set(values) - set(SURVEY_FIELDS)
    if unknown:
        raise ValueError(f"unknown survey fields: {sorted(unknown)}")
    row = Survey() if survey is None else Survey.objects.select_for_update().get(pk=survey.pk)
    before = {} if survey is None else model_to_dict(row, fields=SURVEY_FIELDS)
    for name, value in values.items():
        setattr(row, name, value)
    row.full_clean()
    specs = list(questions)
    if survey is None and not specs:
        specs = default_questions(kind=row.kind, language=row.language)
        if not specs:
            raise ValidationError(_("A custom survey needs its questions."))
    questions_check(specs)
    existing = list(row.questions.order_by("position")) if row.pk else []
    answered = set(
        Answer.objects.filter(question__in=existing).values_list("question_id", flat=True)
    )
    for position, question in enumerate(existing, start=1):
        if question.pk not in answered:
            continue
        if position > len(specs):
            raise ValidationError(
                _("Question %(n)s has answers and cannot be removed.") % {"n": position}
            )
        if specs[position - 1].kind != question.kind:
            raise ValidationError(
                _("Question %(n)s has answers: its kind cannot change.") % {"n": position}
            )
    old_positions = {q.pk: n for n, q in enumerate(existing, start=1)}
    old_specs = [_spec_of(q, old_positions) for q in existing]
    new_specs = [_spec_json(s) for s in specs]
    after = model_to_dict(row, fields=SURVEY_FIELDS)
    changes: dict[str, Any] = {
        name: {"from": str(before[name]), "to": str(after[name])}
        if name in before
        else str(after[name])
        for name in after
        if name not in before or before[name] != after[name]
    }
    if old_specs != new_specs:
        changes["questions"] = {"from": old_specs, "to": new_specs}
    if not changes:
        return row
    row.updated_at = clock.now()
    row.save()
    # Questions past the new end go first, so the positions left are free to reuse.
    Question.objects.filter(survey=row, position__gt=len(specs)).delete()
    kept = {q.position: q for q in existing[: len(specs)]}
    saved: dict[int, Question] = {}
    for position, spec in enumerate(specs, start=1):
        question = kept.get(position) or Question(survey=row, position=position)
        question.kind, question.text = spec.kind, spec.text.strip()
        question.choices = list(spec.choices)
        question.required = spec.required
        question.show_if = saved.get(spec.show_if or 0)
        question.show_if_min = spec.show_if_min if spec.show_if else None
        question.show_if_max = spec.show_if_max if spec.show_if else None
        question.save()
        saved[position] = question
    action = "feedback.survey.create" if survey is None else "feedback.survey.update"
    audit_record(actor=actor, action=action, obj=row, changes=changes)
    return row
