"""Community staff pages: the month's most active members with one-click rewards, the reward
settings, the clubs' scheduled posts and the early-access windows (owner and marketer)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.accounts.services import audit_record
from lifelong.community.activity import month_start, most_active
from lifelong.community.early_access import EARLY_ACCESS_FIELDS, PRIVILEGE, early_access_save
from lifelong.community.models import (
    Club,
    ClubActivityRule,
    ClubPost,
    EarlyAccess,
    RewardKind,
    RewardSettings,
)
from lifelong.community.posts import POST_FIELDS, club_post_render, club_post_save
from lifelong.community.rewards import RewardError, reward_give
from lifelong.customers.models import Customer
from lifelong.loyalty.models import Tier
from lifelong.messaging.models import Template
from lifelong.messaging.templating import TemplateRenderError
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms import WEEKDAYS


class RewardSettingsForm(forms.ModelForm):
    class Meta:
        model = RewardSettings
        fields = ("points", "badge", "thanks_template")


class ActivityRuleForm(forms.ModelForm):
    class Meta:
        model = ClubActivityRule
        fields = ("week_messages",)


# What an <input type="datetime-local"> takes as its value.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class PostForm(forms.ModelForm):
    weekday = forms.TypedChoiceField(
        label=gettext_lazy("weekday"),
        choices=[("", "—"), *WEEKDAYS],
        coerce=int,
        required=False,
        empty_value=None,
    )

    class Meta:
        model = ClubPost
        fields = POST_FIELDS
        labels = {
            "club": gettext_lazy("Club"),
            "once_at": gettext_lazy("Date and time of a one-off post"),
        }
        widgets = {
            # The format datetime-local and time inputs accept: with Django's default
            # ("2026-10-01 10:00:00") the browser shows an empty field on the edit page.
            "once_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT),
            "time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["club"].queryset = Club.objects.order_by("title", "pk")  # type: ignore[attr-defined]
        self.fields["template"].queryset = Template.objects.order_by("name", "pk")  # type: ignore[attr-defined]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("schedule") == "once" and not data.get("once_at"):
            self.add_error("once_at", _("When should it be posted?"))
        if data.get("schedule") == "weekly" and (
            data.get("weekday") is None or data.get("time") is None
        ):
            self.add_error("time", _("Choose the weekday and the time."))
        club, template = data.get("club"), data.get("template")
        if isinstance(club, Club) and isinstance(template, Template):
            # Rendered now against the club, so a post never fails silently at its hour.
            try:
                club_post_render(ClubPost(club=club, template=template))
            except TemplateRenderError as exc:
                self.add_error("template", str(exc))
        return data


def _month(value: str) -> dt.date:
    year, _dash, month = value.partition("-")
    try:
        return dt.date(int(year), int(month), 1)
    except ValueError:
        return month_start()


@require(MANAGE_MARKETING)
def community_activity(request: HttpRequest) -> HttpResponse:
    month = _month(request.GET.get("month", ""))
    clubs = list(Club.objects.order_by("title", "pk"))
    club_id = request.GET.get("club", "")
    club = next((c for c in clubs if str(c.pk) == club_id), None)
    rule = None
    if club is not None:
        rule = ClubActivityRule.objects.filter(club=club).first() or ClubActivityRule(club=club)
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    following = (month + dt.timedelta(days=32)).replace(day=1)
    context = {
        "month": month,
        "previous": previous,
        "following": following if following <= month_start() else None,
        "clubs": clubs,
        "club": club,
        "rows": most_active(month=month, club=club),
        "kinds": RewardKind.choices,
        "settings_form": RewardSettingsForm(instance=RewardSettings.read()),
        "rule_form": ActivityRuleForm(instance=rule) if rule else None,
    }
    return render(request, "web/community/activity.html", context)


def _back(request: HttpRequest) -> HttpResponse:
    query = urlencode({k: v for k in ("month", "club") if (v := request.POST.get(k, ""))})
    return redirect(reverse("web:community_activity") + (f"?{query}" if query else ""))


@require(MANAGE_MARKETING)
@require_POST
def community_reward(request: HttpRequest) -> HttpResponse:
    customer_id = request.POST.get("customer", "")
    customer = Customer.objects.filter(pk=customer_id).first() if customer_id.isdigit() else None
    if customer is None:
        messages.error(request, _("That customer is no longer here."))
        return _back(request)
    club_id = request.POST.get("club", "")
    club = Club.objects.filter(pk=club_id).first() if club_id.isdigit() else None
    kind = request.POST.get("kind", "")
    month = _month(request.POST.get("month", ""))
    try:
        given = reward_give(
            customer=customer, month=month, kind=kind, by=staff_user(request), club=club
        )
    except (RewardError, TemplateRenderError) as exc:
        messages.error(request, str(exc))
        return _back(request)
    label = dict(RewardKind.choices).get(kind, kind)
    if given:
        messages.success(
            request,
            _("%(reward)s given to %(name)s.") % {"reward": label, "name": customer.display_name},
        )
    else:
        messages.info(
            request,
            _("%(name)s already has this month's reward: %(reward)s.")
            % {"reward": label, "name": customer.display_name},
        )
    return _back(request)


@require(MANAGE_MARKETING)
@require_POST
def community_reward_settings(request: HttpRequest) -> HttpResponse:
    form = RewardSettingsForm(request.POST, instance=RewardSettings.read())
    if form.is_valid():
        form.save()
        audit_record(
            actor=staff_user(request),
            action="community.reward_settings",
            object_type="community.rewardsettings",
            object_id="1",
            changes={k: str(v) for k, v in form.cleaned_data.items()},
        )
        messages.success(request, _("Reward settings saved."))
    else:
        messages.error(request, _("Reward settings not saved: check the values."))
    return _back(request)


@require(MANAGE_MARKETING)
@require_POST
def community_activity_rule(request: HttpRequest, pk: int) -> HttpResponse:
    club = object_get(request, Club, pk, MANAGE_MARKETING)
    rule = ClubActivityRule.objects.filter(club=club).first() or ClubActivityRule(club=club)
    form = ActivityRuleForm(request.POST, instance=rule)
    if form.is_valid():
        form.save()
        audit_record(
            actor=staff_user(request),
            action="community.activity_rule",
            obj=club,
            changes={"week_messages": form.cleaned_data["week_messages"]},
        )
        messages.success(request, _("Active week threshold saved."))
    else:
        messages.error(request, _("Give a whole number of messages."))
    return _back(request)


@require(MANAGE_MARKETING)
def community_posts(request: HttpRequest) -> HttpResponse:
    """The list of scheduled posts and the form for a new one."""
    return _post_page(request, None)


@require(MANAGE_MARKETING)
def community_post_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _post_page(request, object_get(request, ClubPost, pk, MANAGE_MARKETING))


def _post_page(request: HttpRequest, post: ClubPost | None) -> HttpResponse:
    form = PostForm(request.POST or None, instance=post)
    if request.method == "POST" and form.is_valid():
        club_post_save(
            post=post,
            values={name: form.cleaned_data[name] for name in POST_FIELDS},
            by=staff_user(request),
        )
        messages.success(request, _("Post saved."))
        return redirect("web:community_posts")
    posts = ClubPost.objects.select_related("club", "template").order_by(
        "-active", "next_run_at", "pk"
    )
    days = dict(WEEKDAYS)
    rows = [
        (
            p,
            _("every %(day)s at %(time)s")
            % {"day": days.get(p.weekday or 0, ""), "time": p.time.strftime("%H:%M")}
            if p.time
            else "",
        )
        for p in posts
    ]
    context = {"form": form, "post": post, "posts": rows}
    status = 400 if request.method == "POST" else 200
    return render(request, "web/community/posts.html", context, status=status)


class EarlyAccessForm(forms.ModelForm):
    url = forms.URLField(
        label=gettext_lazy("page in the shop"),
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text=gettext_lazy(
            "The link the announcement gives adds the customer's signed token (early=…); "
            "the shop checks it with GET /api/v1/early-access."
        ),
    )

    class Meta:
        model = EarlyAccess
        fields = EARLY_ACCESS_FIELDS
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT),
            "public_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_INPUT),
        }
        help_texts = {
            "collection": gettext_lazy("A product category, as the shop names it."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["tier"].queryset = Tier.objects.filter(active=True)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("sku") or data.get("collection")):
            self.add_error("sku", _("Name the product's SKU or the collection."))
        starts, public = data.get("starts_at"), data.get("public_at")
        if starts and public and public <= starts:
            self.add_error("public_at", _("Everyone gets it after the tier does."))
        tier = data.get("tier")
        if isinstance(tier, Tier) and not any(
            PRIVILEGE in (t.privileges or [])
            for t in Tier.objects.filter(active=True, position__gte=tier.position)
        ):
            self.add_error(
                "tier",
                _("No tier from this one up opens early access: tick the privilege on the tier."),
            )
        return data


@require(MANAGE_MARKETING)
def community_early_access(request: HttpRequest) -> HttpResponse:
    """Early-access windows and the form for a new one."""
    return _early_access_page(request, None)


@require(MANAGE_MARKETING)
def community_early_access_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _early_access_page(request, object_get(request, EarlyAccess, pk, MANAGE_MARKETING))


def _early_access_page(request: HttpRequest, window: EarlyAccess | None) -> HttpResponse:
    form = EarlyAccessForm(request.POST or None, instance=window)
    if request.method == "POST" and form.is_valid():
        early_access_save(
            window=window,
            values={name: form.cleaned_data[name] for name in EARLY_ACCESS_FIELDS},
            by=staff_user(request),
        )
        messages.success(request, _("Early access saved."))
        return redirect("web:community_early_access")
    windows = EarlyAccess.objects.select_related("tier").order_by("-starts_at", "-pk")
    context = {"form": form, "window": window, "windows": windows, "now": clock.now()}
    status = 400 if request.method == "POST" else 200
    return render(request, "web/community/posts_early_access.html", context, status=status)
