"""The loyalty settings page: the programme and its earning rules (owner and marketer)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.loyalty.editing import (
    PROGRAMME_FIELDS,
    RULE_FIELDS,
    earning_rule_save,
    programme_update,
)
from lifelong.loyalty.models import EarningRule, Programme
from lifelong.web.access import require, staff_user
from lifelong.web.forms_loyalty import EVENT_TYPE_SUGGESTIONS, EarningRuleForm, ProgrammeForm


def _page(
    request: HttpRequest,
    *,
    form: ProgrammeForm,
    rule_form: EarningRuleForm,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "rule_form": rule_form,
        "rules": EarningRule.objects.all(),
        "event_types": EVENT_TYPE_SUGGESTIONS,
    }
    return render(request, "web/loyalty/settings.html", context, status=status)


@require(MANAGE_MARKETING)
def loyalty_settings(request: HttpRequest) -> HttpResponse:
    form = ProgrammeForm(request.POST or None, instance=Programme.current())
    if request.method == "POST":
        if form.is_valid():
            programme_update(
                values={name: form.cleaned_data[name] for name in PROGRAMME_FIELDS},
                actor=staff_user(request),
            )
            messages.success(request, _("Loyalty programme settings saved."))
            return redirect("web:loyalty_settings")
        return _page(request, form=form, rule_form=EarningRuleForm(), status=400)
    return _page(request, form=form, rule_form=EarningRuleForm())


@require(MANAGE_MARKETING)
def loyalty_rule(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Add a rule (POST without pk) or edit one."""
    rule = None if pk is None else get_object_or_404(EarningRule, pk=pk)
    rule_form = EarningRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and rule_form.is_valid():
        earning_rule_save(
            rule=rule,
            values={name: rule_form.cleaned_data[name] for name in RULE_FIELDS},
            actor=staff_user(request),
        )
        messages.success(request, _("Earning rule saved."))
        return redirect("web:loyalty_settings")
    status = 400 if request.method == "POST" else 200
    if rule is None:
        form = ProgrammeForm(instance=Programme.current())
        return _page(request, form=form, rule_form=rule_form, status=status)
    context = {"rule": rule, "rule_form": rule_form, "event_types": EVENT_TYPE_SUGGESTIONS}
    return render(request, "web/loyalty/rule.html", context, status=status)
