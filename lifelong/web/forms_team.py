"""Forms of the team pages: a goal (whose, what, which period, the target) and a team."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from lifelong.accounts.models import User
from lifelong.team.models import Goal, Metric, PeriodKind, Team


def _staff() -> Any:
    return User.objects.filter(is_active=True).order_by("first_name", "username", "pk")


def _label(user: User) -> str:
    return user.get_full_name() or user.get_username()


class GoalForm(forms.Form):
    who = forms.ChoiceField(label=_("Whose goal"))
    metric = forms.ChoiceField(label=_("What it measures"), choices=Metric.choices)
    period = forms.ChoiceField(label=_("Period"), choices=PeriodKind.choices)
    day = forms.DateField(
        label=_("Any day of the period (its first day for custom dates)"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=_("Last day (custom dates only)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    target = forms.DecimalField(label=_("Target"), max_digits=10, decimal_places=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = [(f"u:{u.pk}", _label(u)) for u in _staff()]
        teams = [(f"t:{t.pk}", str(t)) for t in Team.objects.order_by("name", "pk")]
        choices: list[Any] = [(_("Staff"), people)]
        if teams:
            choices.append((_("Teams"), teams))
        self.fields["who"].choices = choices  # type: ignore[attr-defined]

    def clean_who(self) -> tuple[User | None, Team | None]:
        kind, _sep, pk = self.cleaned_data["who"].partition(":")
        # The choices were read when the form was drawn: the team may be gone since.
        if kind == "t":
            team = Team.objects.filter(pk=int(pk)).first()
            if team is None:
                raise forms.ValidationError(_("This team no longer exists."))
            return None, team
        user = User.objects.filter(pk=int(pk), is_active=True).first()
        if user is None:
            raise forms.ValidationError(_("This staff member can no longer sign in."))
        return user, None

    def owner(self) -> tuple[User | None, Team | None]:
        who: tuple[User | None, Team | None] = self.cleaned_data["who"]
        return who

    @classmethod
    def of(cls, goal: Goal) -> GoalForm:
        who = f"t:{goal.team_id}" if goal.team_id else f"u:{goal.user_id}"
        return cls(
            initial={
                "who": who,
                "metric": goal.metric,
                "period": goal.period,
                "day": goal.start,
                "end": goal.end,
                "target": goal.target,
            }
        )


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=80)
    members = forms.ModelMultipleChoiceField(
        label=_("Members"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["members"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = _staff()
        field.label_from_instance = _label  # type: ignore[method-assign, assignment]
