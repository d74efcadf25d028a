"""Forms of the staff UI. They validate input; the writes happen in services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lifelong.accounts.models import ApiScope, Role, User
from lifelong.customers.models import Channel, Purpose
from lifelong.customers.selectors import CUSTOMER_SORTS
from lifelong.events.models import ImportKind, WebhookSource
from lifelong.followups.models import TaskKind


class Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Pico puts labels above fields; a trailing colon only adds noise.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


# Dates a filter may name: a day at either end of the calendar overflows once it is
# turned into an instant in the shop's time zone.
FILTER_DATES = [
    MinValueValidator(dt.date(1900, 1, 1)),
    MaxValueValidator(dt.date(2999, 12, 31)),
]

# Python's weekday numbers (Monday 0), as schedules store them.
WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class CustomerFilterForm(Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    tag = forms.CharField(label=_("Tag"), required=False, max_length=64)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), ("buyers", _("With orders")), ("leads", _("Leads (no orders)"))],
    )
    last_order_after = forms.DateField(
        label=_("Last order after"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=FILTER_DATES,
    )
    last_order_before = forms.DateField(
        label=_("Last order before"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=FILTER_DATES,
    )
    source = forms.CharField(label=_("Source"), required=False, max_length=64)
    mine = forms.BooleanField(
        label=_("Only my customers (I am their personal manager)"), required=False
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[(f"{d}{k}", k) for k in CUSTOMER_SORTS for d in ("", "-")],
    )


class NoteForm(Form):
    text = forms.CharField(
        label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )


class FactForm(Form):
    category = forms.CharField(label=_("Category"), required=False, max_length=64)
    text = forms.CharField(label=_("Fact"), max_length=300)


class TagForm(Form):
    name = forms.CharField(label=_("Tag"), max_length=64)


class ConsentForm(Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)
    purpose = forms.ChoiceField(label=_("Purpose"), choices=Purpose.choices)
    granted = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("1", _("Grant")), ("0", _("Withdraw"))],
        coerce=lambda v: v == "1",
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("How the customer told us, e.g. “asked by phone on the 3rd”."),
    )


class MergeForm(Form):
    duplicate = forms.CharField(
        label=_("Duplicate customer"),
        max_length=254,
        help_text=_("Id or email of the customer to merge into this one."),
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


def _at_end_of_day(day: dt.date) -> dt.datetime:
    # A due date without a time means "during that working day".
    return timezone.make_aware(dt.datetime.combine(day, dt.time(18, 0)))


class TaskForm(Form):
    title = forms.CharField(label=_("Next step"), max_length=255)
    due = forms.DateField(label=_("Due"), widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(label=_("Kind"), choices=TaskKind.choices, initial=TaskKind.CALL)
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False, empty_label=_("Nobody")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = User.objects.filter(
            is_active=True, role__in=[Role.OWNER, Role.MARKETER, Role.SUPPORT]
        ).order_by("username")

    @property
    def due_at(self) -> dt.datetime:
        return _at_end_of_day(self.cleaned_data["due"])


class OutcomeForm(Form):
    outcome = forms.CharField(
        label=_("Outcome"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )
    no_next_step = forms.BooleanField(label=_("No next step for this customer"), required=False)
    next_title = forms.CharField(label=_("Next step"), required=False, max_length=255)
    next_due = forms.DateField(
        label=_("Due"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    next_kind = forms.ChoiceField(label=_("Kind"), choices=TaskKind.choices, initial=TaskKind.CALL)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("no_next_step"):
            return data
        if not (data.get("next_title") or "").strip():
            self.add_error(
                "next_title", _("Plan the next step, or tick “no next step” explicitly.")
            )
        if not data.get("next_due"):
            self.add_error("next_due", _("When should the next step happen?"))
        return data

    @property
    def next_due_at(self) -> dt.datetime | None:
        day = self.cleaned_data.get("next_due")
        return _at_end_of_day(day) if day else None


class ImportForm(Form):
    kind = forms.ChoiceField(label=_("What is in the file"), choices=ImportKind.choices)
    file = forms.FileField(label=_("CSV file"))
    dry_run = forms.BooleanField(label=_("Dry run: check the file, change nothing"), required=False)


class StaffUserForm(Form):
    username = forms.CharField(label=_("Login"), max_length=150)
    email = forms.EmailField(label=_("Email"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.SUPPORT)
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(render_value=False), strip=False
    )

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(_("This login is taken."))
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password = data.get("password")
        if password:
            user = User(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


class WebhookSourceForm(Form):
    slug = forms.SlugField(
        label=_("Sender name"),
        max_length=50,
        help_text=_("Latin letters, digits and dashes; the address becomes /hooks/<name>."),
    )

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if WebhookSource.objects.filter(slug=slug).exists():
            raise ValidationError(_("A sender with this name already exists."))
        return slug


class WebhookRotateForm(Form):
    overlap_hours = forms.IntegerField(
        label=_("The old secret stays valid for, hours"),
        min_value=0,
        max_value=24 * 30,
        initial=24,
    )


class ApiKeyForm(Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiScope.READ],
    )
