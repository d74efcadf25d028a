"""Forms of the survey editor: the survey's settings and up to seven question rows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from lifelong.feedback.models import MAX_QUESTIONS, Question, QuestionKind, Survey
from lifelong.feedback.survey_editor import SURVEY_FIELDS, QuestionSpec


class SurveyForm(forms.ModelForm):
    class Meta:
        model = Survey
        fields = SURVEY_FIELDS
        help_texts = {
            "throttle_days": _(
                "Nor after they answered it. A relationship NPS counts every relationship NPS "
                "survey, whatever channel sent it."
            ),
            "link_days": _("After that the page thanks the customer and takes no answer."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class QuestionForm(forms.Form):
    """One row; a row without a kind or text is an empty slot."""

    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", "—"), *QuestionKind.choices], required=False
    )
    text = forms.CharField(label=_("Question"), max_length=300, required=False)
    choices = forms.CharField(
        label=_("Answers to choose from, one per line"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    required = forms.BooleanField(label=_("Required"), required=False)
    show_if = forms.TypedChoiceField(
        label=_("Ask only after question"),
        choices=[("", "—"), *[(n, str(n)) for n in range(1, MAX_QUESTIONS)]],
        coerce=int,
        empty_value=None,
        required=False,
    )
    show_if_min = forms.IntegerField(label=_("when its answer is from"), required=False)
    show_if_max = forms.IntegerField(label=_("and up to"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def spec(self) -> QuestionSpec | None:
        data = self.cleaned_data
        if not data.get("kind") and not (data.get("text") or "").strip():
            return None
        choices = tuple(
            line.strip() for line in (data.get("choices") or "").splitlines() if line.strip()
        )
        return QuestionSpec(
            kind=data.get("kind") or "",
            text=data.get("text") or "",
            choices=choices,
            required=bool(data.get("required")),
            show_if=data.get("show_if"),
            show_if_min=data.get("show_if_min"),
            show_if_max=data.get("show_if_max"),
        )


QuestionFormSet = forms.formset_factory(
    QuestionForm, extra=0, min_num=MAX_QUESTIONS, max_num=MAX_QUESTIONS, validate_max=True
)


def question_initial(questions: list[Question]) -> list[dict[str, Any]]:
    """The rows of the stored questions, the follow-up condition by position."""
    positions = {q.pk: n for n, q in enumerate(questions, start=1)}
    return [
        {
            "kind": q.kind,
            "text": q.text,
            "choices": "\n".join(q.choices),
            "required": q.required,
            "show_if": positions.get(q.show_if_id or 0),
            "show_if_min": q.show_if_min,
            "show_if_max": q.show_if_max,
        }
        for q in questions
    ]
