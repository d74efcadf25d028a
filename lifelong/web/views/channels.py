"""Channel set-up (transport, credentials, per-channel cap), its test, and the sending policy.

Owner only: the settings hold the shop's credentials.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from lifelong.accounts.permissions import MANAGE_ACCOUNTS
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Channel
from lifelong.messaging.channels.base import Transport, transports
from lifelong.messaging.channels.probes import ProbeResult, channel_probe
from lifelong.messaging.models import WEBHOOK, ChannelConfig, SendingPolicy
from lifelong.web import ratelimit
from lifelong.web.access import require, staff_user
from lifelong.web.forms_channels import (
    ChannelConfigForm,
    ChannelTestForm,
    settings_listed,
)
from lifelong.web.forms_journeys import SendingPolicyForm

CHANNELS: list[tuple[str, Any]] = [*Channel.choices, (WEBHOOK, "Webhook")]


def _transports_for(channel: str) -> dict[str, type[Transport]]:
    return {name: cls for name, cls in sorted(transports().items()) if channel in cls.channels}


def _channel_label(channel: str) -> str:
    labels = dict(CHANNELS)
    if channel not in labels:
        raise Http404
    return str(labels[channel])


@require(MANAGE_ACCOUNTS)
def channel_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, SendingPolicyForm(instance=SendingPolicy.current()))


def _list_page(
    request: HttpRequest, policy_form: SendingPolicyForm, status: int = 200
) -> HttpResponse:
    configs = ChannelConfig.objects.in_bulk(field_name="channel")
    known = transports()
    rows = []
    for channel, label in CHANNELS:
        config = configs.get(channel)
        transport = known.get(config.transport) if config else None
        stored = config.config if config else {}
        rows.append(
            {
                "channel": channel,
                "label": label,
                "config": config,
                "settings": settings_listed(stored, transport),
            }
        )
    context = {"rows": rows, "policy_form": policy_form}
    return render(request, "web/channels/list.html", context, status=status)


@require(MANAGE_ACCOUNTS)
def channel_edit(request: HttpRequest, channel: str) -> HttpResponse:
    label = _channel_label(channel)
    config = ChannelConfig.objects.filter(channel=channel).first()
    if request.method != "POST":
        return _edit_page(request, channel, config)
    form = _config_form(channel, config, request.POST)
    if not form.is_valid():
        return _edit_page(request, channel, config, form=form, status=400)
    _config_save(request, channel, config, form.cleaned_data)
    messages.success(request, _("%(channel)s settings saved.") % {"channel": label})
    return redirect("web:channel_edit", channel=channel)


def _config_form(channel: str, config: ChannelConfig | None, data: Any = None) -> ChannelConfigForm:
    initial: dict[str, Any] = {"active": True, "cap_count": 0, "cap_hours": 24}
    if config is not None:
        initial = {
            "transport": config.transport,
            "active": config.active,
            "cap_count": config.cap_count,
            "cap_hours": config.cap_hours,
        }
    return ChannelConfigForm(
        data,
        initial=initial,
        transports=_transports_for(channel),
        stored=config.config if config else {},
        stored_transport=config.transport if config else "",
    )


def _edit_page(
    request: HttpRequest,
    channel: str,
    config: ChannelConfig | None,
    *,
    form: ChannelConfigForm | None = None,
    test_form: ChannelTestForm | None = None,
    probe: ProbeResult | None = None,
    status: int = 200,
) -> HttpResponse:
    if test_form is None:
        default = staff_user(request).email if channel == Channel.EMAIL else ""
        test_form = ChannelTestForm(initial={"to": default})
    context = {
        "channel": channel,
        "label": _channel_label(channel),
        "form": form or _config_form(channel, config),
        "config": config,
        "test_form": test_form,
        "test_address": TEST_ADDRESS.get(channel),
        "probe": probe,
    }
    return render(request, "web/channels/edit.html", context, status=status)


# What "send a test" asks for on each channel; push has no address to ask for.
TEST_ADDRESS = {
    Channel.EMAIL: (gettext_lazy("Email address"), gettext_lazy("Yours, by default.")),
    Channel.TELEGRAM: (
        gettext_lazy("Chat id"),
        gettext_lazy(
            "A chat that has pressed Start in the bot, e.g. yours. Empty: only the token is "
            "checked."
        ),
    ),
    Channel.SMS: (gettext_lazy("Phone number"), gettext_lazy("Empty: only the key is checked.")),
    Channel.WHATSAPP: (
        gettext_lazy("Phone number"),
        gettext_lazy("Empty: only the token is checked."),
    ),
    Channel.VK: (
        gettext_lazy("VK user id"),
        gettext_lazy("Someone who allowed the community's messages. Empty: only the token."),
    ),
    Channel.MAX: (
        gettext_lazy("MAX chat id"),
        gettext_lazy("A dialog with the bot. Empty: only the token is checked."),
    ),
    WEBHOOK: (gettext_lazy("Receiver URL"), gettext_lazy("Gets a signed test event.")),
}


@require(MANAGE_ACCOUNTS)
@require_POST
def channel_test(request: HttpRequest, channel: str) -> HttpResponse:
    """Ask the provider now, with the saved settings, and show its answer on the set-up page."""
    label = _channel_label(channel)
    config = ChannelConfig.objects.filter(channel=channel).first()
    if config is None:
        messages.error(request, _("Save the settings first, then send a test."))
        return redirect("web:channel_edit", channel=channel)
    test_form = ChannelTestForm(request.POST)
    if not test_form.is_valid():
        return _edit_page(request, channel, config, test_form=test_form, status=400)
    user = staff_user(request)
    if not ratelimit.channel_test_allowed(user_id=user.pk):
        probe = ProbeResult(False, _("Too many tests: wait a few minutes and try again."), [])
        return _edit_page(request, channel, config, test_form=test_form, probe=probe, status=429)
    transport = transports().get(config.transport)
    if transport is None:
        probe = ProbeResult(
            False, _("Unknown transport %(name)s.") % {"name": config.transport}, []
        )
    else:
        stored = config.config if isinstance(config.config, dict) else {}
        probe = channel_probe(transport, stored, channel=channel, to=test_form.cleaned_data["to"])
    # The address typed may be a person's: the log keeps only the verdict.
    audit_record(
        actor=user,
        action="channel.test",
        obj=config,
        changes={"channel": label, "transport": config.transport, "ok": probe.ok},
    )
    return _edit_page(request, channel, config, test_form=test_form, probe=probe)


def _config_save(
    request: HttpRequest, channel: str, config: ChannelConfig | None, data: dict[str, Any]
) -> None:
    values = {
        "transport": data["transport"],
        "config": data["config"],
        "active": data["active"],
        "cap_count": data["cap_count"],
        "cap_hours": data["cap_hours"],
    }
    with transaction.atomic():
        saved, _created = ChannelConfig.objects.update_or_create(channel=channel, defaults=values)
        # The audit log names the changed settings, never their (secret) values.
        changes = {k: v for k, v in values.items() if k != "config"}
        secrets = transports()[data["transport"]].secrets
        changes["settings"] = sorted(f"{k} (secret)" if k in secrets else k for k in data["config"])
        audit_record(
            actor=staff_user(request), action="channel.configure", obj=saved, changes=changes
        )


@require(MANAGE_ACCOUNTS)
@require_POST
def sending_policy(request: HttpRequest) -> HttpResponse:
    policy = SendingPolicy.current()
    form = SendingPolicyForm(request.POST, instance=policy)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    with transaction.atomic():
        form.save()
        audit_record(
            actor=staff_user(request),
            action="sending_policy.update",
            obj=policy,
            changes={k: str(form.cleaned_data[k]) for k in form.changed_data},
        )
    messages.success(request, _("Sending policy saved."))
    return redirect("web:channels")
