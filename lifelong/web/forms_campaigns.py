"""The campaign form: audience, channel, template (and variant B), holdout, send window,
throttle, goal and schedule, as plain fields; `values()` turns them into what
`campaigns.services.campaign_create` / `campaign_update` take.

The audience is every customer, a segment or a lifecycle stage (the last two as a filter stored
as the campaign's rule tree, in the segments' own format), so nobody writes a rule by hand
here; any other rule tree (set in code) is kept as it is until another audience is picked.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.campaigns.models import (
    MAX_HOLDOUT_PERCENT,
    PREFERRED,
    AbMetric,
    Campaign,
    Recurrence,
)
from lifelong.campaigns.services import MAX_WAIT_HOURS
from lifelong.community.models import Club
from lifelong.customers.models import Channel
from lifelong.messaging.models import ChannelConfig, Template, Topic
from lifelong.segments.models import Segment, Stage
from lifelong.web.forms import WEEKDAYS

SEGMENT = "segment:"
STAGE = "stage:"
EVERYONE = "everyone"
EVERYONE_RULES: dict[str, Any] = {"op": "and", "rules": []}
KEEP_RULES = "rules"  # a rule tree this form did not make: left as it is
NOW, AT = "now", "at"
# The schedule choice: when a one-off campaign goes, or how a recurring one repeats.
WHEN = [
    (NOW, gettext_lazy("Now, once I schedule it")),
    (AT, gettext_lazy("Once, at a date and time")),
    (Recurrence.DAILY.value, gettext_lazy("Every day")),
    (Recurrence.WEEKLY.value, gettext_lazy("Every week")),
    (Recurrence.MONTHLY.value, gettext_lazy("Every month, e.g. the first Monday")),
    (Recurrence.DATES.value, gettext_lazy("Every year on calendar dates")),
]
NTH = [
    (1, gettext_lazy("first")),
    (2, gettext_lazy("second")),
    (3, gettext_lazy("third")),
    (4, gettext_lazy("fourth")),
    (-1, gettext_lazy("last")),
]
GOALS = [
    ("order_placed", gettext_lazy("placed an order")),
    ("order_paid", gettext_lazy("paid for an order")),
]
# "8.03", "08.03", "19.3" (day.month, as written in Russian) or "03-08" (as stored).
DAY_MONTH = re.compile(r"^(\d{1,2})\.(\d{1,2})\.?$")
MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
DEFAULT_TIME = dt.time(10)


def stage_rules(stage: str) -> dict[str, Any]:
    """The rule tree of "customers at this lifecycle stage"."""
    return {
        "op": "and",
        "rules": [{"kind": "score", "field": "stage", "op": "eq", "value": stage}],
    }


def stage_of(rules: dict[str, Any]) -> str | None:
    """The stage a rule tree made by `stage_rules` names; None for any other tree."""
    children = rules.get("rules") if isinstance(rules, dict) else None
    if rules.get("op") != "and" or rules.get("negate") or not children or len(children) != 1:
        return None
    rule = children[0]
    if (rule.get("kind"), rule.get("field"), rule.get("op")) != ("score", "stage", "eq"):
        return None
    value = rule.get("value")
    return value if value in Stage.values and not rule.get("negate") else None


def dates_parse(raw: str) -> list[str]:
    """Calendar dates written «8.03, 19.03» (or stored as «03-08») as sorted "MM-DD"."""
    found: set[str] = set()
    for part in re.split(r"[,;\s]+", raw.strip()):
        if not part:
            continue
        match = DAY_MONTH.match(part)
        if match:
            day, month = int(match[1]), int(match[2])
        elif MONTH_DAY.match(part):
            month, day = (int(x) for x in part.split("-"))
        else:
            raise forms.ValidationError(
                _("«%(part)s» is not a date: write the day and the month, e.g. 8.03.")
                % {"part": part}
            )
        try:
            dt.date(2000, month, day)  # a leap year: 29.02 is a date
        except ValueError:
            raise forms.ValidationError(
                _("%(part)s: there is no such day.") % {"part": part}
            ) from None
        found.add(f"{month:02d}-{day:02d}")
    return sorted(found)


def dates_text(dates: list[str]) -> str:
    """Stored "MM-DD" dates as «8.03, 19.03»."""
    return ", ".join(f"{int(d[3:])}.{d[:2]}" for d in dates)


def _channels() -> list[tuple[str, Any]]:
    return [(PREFERRED, gettext_lazy("The customer's preferred channel")), *Channel.choices]


def _template_label(template: Template) -> str:
    return f"{template.name} ({template.channel})"


class CampaignForm(forms.ModelForm):
    """A campaign's settings; `values()` gives what the services save."""

    audience = forms.ChoiceField(label=gettext_lazy("Audience"))
    when = forms.ChoiceField(
        label=gettext_lazy("When"), choices=WHEN, initial=NOW, widget=forms.RadioSelect
    )
    dates_text = forms.CharField(
        label=gettext_lazy("Dates"),
        required=False,
        max_length=500,
        help_text=gettext_lazy(
            "Day and month, separated by commas: 8.03, 19.03 (Customer Day), 31.12."
        ),
    )
    topic = forms.ChoiceField(label=gettext_lazy("Topic"), required=False)

    class Meta:
        model = Campaign
        fields = [
            "name",
            "description",
            "channel",
            "template",
            "topic",
            "holdout_percent",
            "template_b",
            "club",
            "ab_sample_percent",
            "ab_metric",
            "ab_wait_hours",
            "window_start",
            "window_end",
            "per_minute",
            "goal_event",
            "goal_days",
            "send_at",
            "send_time",
            "weekday",
            "nth",
            "recur_until",
        ]
        labels = {
            "name": gettext_lazy("Name"),
            "description": gettext_lazy("Note for the team"),
            "channel": gettext_lazy("Channel"),
            "template": gettext_lazy("Template"),
            "holdout_percent": gettext_lazy("Holdout, %"),
            "template_b": gettext_lazy("Variant B (optional)"),
            "club": gettext_lazy("Invite to a club (optional)"),
            "ab_sample_percent": gettext_lazy("Test sample, %"),
            "ab_metric": gettext_lazy("Winner by"),
            "ab_wait_hours": gettext_lazy("Pick the winner after, hours"),
            "window_start": gettext_lazy("Send from"),
            "window_end": gettext_lazy("Send until"),
            "per_minute": gettext_lazy("Messages per minute"),
            "goal_event": gettext_lazy("Goal: the customer"),
            "goal_days": gettext_lazy("Goal window, days"),
            "send_at": gettext_lazy("Date and time"),
            "send_time": gettext_lazy("Time of day"),
            "weekday": gettext_lazy("Weekday"),
            "nth": gettext_lazy("Which one in the month"),
            "recur_until": gettext_lazy("Repeat until (optional)"),
        }
        help_texts = {
            "holdout_percent": gettext_lazy(
                "This share of the audience gets nothing, so the results can show what the "
                "campaign changed. Up to 50 %."
            ),
            "template_b": gettext_lazy(
                "With a second template the campaign is an A/B test: a sample gets A or B, "
                "and the better one goes to everyone else."
            ),
            "ab_sample_percent": gettext_lazy(
                "The share of the audience split between A and B; 100 % is a plain split."
            ),
            "club": gettext_lazy(
                "Only customers the club admits and who are not in it or invited yet get the "
                "message, each with their own join link: put {{ club_invite_url }} in the "
                "template."
            ),
            "window_start": gettext_lazy("On each customer's own clock; empty: any hour."),
            "window_end": gettext_lazy("Quiet hours still apply."),
            "per_minute": gettext_lazy("0: no limit."),
            "goal_days": gettext_lazy(
                "A customer counts as converted if they reach the goal within this many days."
            ),
            "send_time": gettext_lazy("On the shop's clock."),
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "send_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "send_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "recur_until": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self._audience: tuple[Segment | None, dict[str, Any]] = (None, {})
        fields = self.fields
        segments = Segment.objects.filter(active=True).order_by("name", "pk")
        audience: list[tuple[str, Any]] = [("", "—"), (EVERYONE, _("Every customer"))]
        audience.append((_("Segments"), [(f"{SEGMENT}{s.pk}", s.name) for s in segments]))
        audience.append(
            (_("Lifecycle stage"), [(f"{STAGE}{v}", label) for v, label in Stage.choices])
        )
        campaign = self.instance
        if (
            campaign.pk
            and campaign.segment_id is None
            and stage_of(campaign.rules) is None
            and campaign.rules != EVERYONE_RULES
        ):
            audience.append((KEEP_RULES, _("The campaign's own filter (kept as it is)")))
        fields["audience"].choices = audience  # type: ignore[attr-defined]
        fields["channel"] = forms.ChoiceField(
            label=_("Channel"),
            choices=_channels(),
            help_text=_("The preferred one reaches each customer where they like to read."),
        )
        templates = Template.objects.order_by("name", "pk")
        for name in ("template", "template_b"):
            field = fields[name]
            field.queryset = templates  # type: ignore[attr-defined]
            field.label_from_instance = _template_label  # type: ignore[attr-defined]
        club = fields["club"]
        club.queryset = Club.objects.filter(active=True).order_by("title", "pk")  # type: ignore[attr-defined]
        club.empty_label = _("No, a plain campaign")  # type: ignore[attr-defined]
        fields["topic"].choices = [  # type: ignore[attr-defined]
            ("", _("The template's topic")),
            *((t.slug, t.name) for t in Topic.objects.order_by("name", "pk")),
        ]
        fields["goal_event"] = forms.ChoiceField(label=_("Goal: the customer"), choices=GOALS)
        fields["weekday"] = forms.TypedChoiceField(
            label=_("Weekday"), choices=WEEKDAYS, coerce=int, required=False, empty_value=None
        )
        fields["nth"] = forms.TypedChoiceField(
            label=_("Which one in the month"),
            choices=NTH,
            coerce=int,
            required=False,
            empty_value=None,
        )
        fields["ab_metric"].choices = AbMetric.choices  # type: ignore[attr-defined]
        # The model's limits as the form's own, so a wrong number is named on its field.
        for name, low, high in (
            ("holdout_percent", 0, MAX_HOLDOUT_PERCENT),
            ("ab_sample_percent", 2, 100),
            ("ab_wait_hours", 1, MAX_WAIT_HOURS),
            ("goal_days", 1, 365),
            ("per_minute", 0, 100_000),
        ):
            old = fields[name]
            fields[name] = forms.IntegerField(
                label=old.label,
                help_text=old.help_text,
                initial=old.initial,
                min_value=low,
                max_value=high,
            )
        if not self.is_bound:
            self.initial.update(self._initial_from(campaign))

    @staticmethod
    def _initial_from(campaign: Campaign) -> dict[str, Any]:
        initial: dict[str, Any] = {"send_time": campaign.send_time or DEFAULT_TIME}
        if campaign.segment_id is not None:
            initial["audience"] = f"{SEGMENT}{campaign.segment_id}"
        elif campaign.pk and campaign.rules == EVERYONE_RULES:
            initial["audience"] = EVERYONE
        elif campaign.pk:
            stage = stage_of(campaign.rules)
            initial["audience"] = f"{STAGE}{stage}" if stage else KEEP_RULES
        if campaign.recurrence == Recurrence.ONCE:
            initial["when"] = AT if campaign.send_at else NOW
        else:
            initial["when"] = campaign.recurrence
        initial["dates_text"] = dates_text(campaign.recur_dates or [])
        if campaign.send_at:
            initial["send_at"] = timezone.localtime(campaign.send_at)
        return initial

    def clean_dates_text(self) -> list[str]:
        return dates_parse(self.cleaned_data.get("dates_text") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._check_audience(data)
        self._check_channel(data)
        self._check_ab(data)
        if (data.get("window_start") is None) != (data.get("window_end") is None):
            self.add_error(
                "window_end", _("Give both ends of the send window, or leave both empty.")
            )
        elif data.get("window_start") is not None and data["window_start"] == data["window_end"]:
            self.add_error("window_end", _("The window needs to be longer than zero."))
        self._check_schedule(data)
        return data

    def _check_audience(self, data: dict[str, Any]) -> None:
        raw = data.get("audience") or ""
        campaign = self.instance
        if raw.startswith(SEGMENT):
            segment = Segment.objects.filter(pk=raw.removeprefix(SEGMENT), active=True).first()
            if segment is None:
                self.add_error("audience", _("This segment is gone or archived."))
                return
            self._audience = (segment, {})
        elif raw == EVERYONE:
            self._audience = (None, dict(EVERYONE_RULES))
        elif raw.startswith(STAGE):
            self._audience = (None, stage_rules(raw.removeprefix(STAGE)))
        elif raw == KEEP_RULES and campaign.pk and campaign.segment_id is None:
            self._audience = (None, campaign.rules)
        else:
            self.add_error("audience", _("Choose who gets the campaign."))

    def _check_channel(self, data: dict[str, Any]) -> None:
        channel = data.get("channel")
        if not channel or channel == PREFERRED:
            return
        if not ChannelConfig.objects.filter(channel=channel, active=True).exists():
            self.add_error("channel", _("This channel is not set up: set it up under Channels."))

    def _check_ab(self, data: dict[str, Any]) -> None:
        a, b = data.get("template"), data.get("template_b")
        if b is not None and a is not None and a.pk == b.pk:
            self.add_error("template_b", _("Variant B needs a different template from A."))

    def _check_schedule(self, data: dict[str, Any]) -> None:
        when = data.get("when")
        if when == AT:
            send_at = data.get("send_at")
            if send_at is None:
                self.add_error("send_at", _("Give the date and time to send."))
            elif send_at <= timezone.now():
                self.add_error("send_at", _("This moment has passed: give a later one."))
            return
        if when == NOW or when is None:
            return
        if data.get("send_time") is None:
            self.add_error("send_time", _("Give the time of day."))
        if when in (Recurrence.WEEKLY, Recurrence.MONTHLY) and data.get("weekday") is None:
            self.add_error("weekday", _("Choose the weekday."))
        if when == Recurrence.MONTHLY and data.get("nth") is None:
            self.add_error("nth", _("Choose which one in the month."))
        if (
            when == Recurrence.DATES
            and not data.get("dates_text")
            and "dates_text" not in self.errors
        ):
            self.add_error("dates_text", _("Give at least one date."))
        until = data.get("recur_until")
        if until is not None and until < timezone.localdate():
            self.add_error("recur_until", _("This date has passed."))

    def values(self) -> dict[str, Any]:
        """The campaign's fields as the services take them (after `is_valid()`)."""
        data = self.cleaned_data
        when = data["when"]
        recurrence = Recurrence.ONCE if when in (NOW, AT) else Recurrence(when)
        segment, rules = self._audience
        return {
            "name": data["name"],
            "description": data.get("description") or "",
            "segment": segment,
            "rules": rules,
            "channel": data["channel"],
            "template": data["template"],
            "topic": data.get("topic") or "",
            "holdout_percent": data["holdout_percent"],
            "template_b": data.get("template_b"),
            "club": data.get("club"),
            "ab_sample_percent": data["ab_sample_percent"],
            "ab_metric": data["ab_metric"],
            "ab_wait_hours": data["ab_wait_hours"],
            "window_start": data.get("window_start"),
            "window_end": data.get("window_end"),
            "per_minute": data["per_minute"],
            "goal_event": data["goal_event"],
            "goal_days": data["goal_days"],
            "recurrence": recurrence,
            "send_at": data.get("send_at") if when == AT else None,
            "send_time": data.get("send_time") if recurrence != Recurrence.ONCE else None,
            "weekday": (
                data.get("weekday")
                if recurrence in (Recurrence.WEEKLY, Recurrence.MONTHLY)
                else None
            ),
            "nth": data.get("nth") if recurrence == Recurrence.MONTHLY else None,
            "recur_dates": (data.get("dates_text") or []) if recurrence == Recurrence.DATES else [],
            "recur_until": data.get("recur_until") if recurrence != Recurrence.ONCE else None,
        }

    def unsaved(self) -> Campaign:
        """The campaign as the form would save it, unsaved, for the preview: an edited
        campaign keeps its id and salt, so the preview draws the same holdout as its runs."""
        campaign = Campaign(**self.values())
        if self.instance.pk:
            campaign.pk, campaign.salt = self.instance.pk, self.instance.salt
        return campaign
