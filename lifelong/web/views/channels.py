"""Channel set-up (transport, credentials, per-channel cap) and the sending policy: owner only."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong.accounts.permissions import MANAGE_ACCOUNTS
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Channel
from lifelong.messaging.channels.base import Transport, transports
from lifelong.messaging.models import WEBHOOK, ChannelConfig, SendingPolicy
from lifelong.web.access import require, staff_user
from lifelong.web.forms_channels import ChannelConfigForm, secrets_set, settings_shown
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
                "settings": settings_shown(stored, transport),
                "secrets": secrets_set(stored, transport),
            }
        )
    context = {"rows": rows, "policy_form": policy_form}
    return render(request, "web/channels/list.html", context, status=status)


@require(MANAGE_ACCOUNTS)
def channel_edit(request: HttpRequest, channel: str) -> HttpResponse:
    label = _channel_label(channel)
    config = ChannelConfig.objects.filter(channel=channel).first()
    available = _transports_for(channel)
    stored = config.config if config else {}
    stored_transport = config.transport if config else ""
    status = 200
    if request.method == "POST":
        form = ChannelConfigForm(
            request.POST, transports=available, stored=stored, stored_transport=stored_transport
        )
        if form.is_valid():
            _config_save(request, channel, config, form.cleaned_data)
            messages.success(request, _("%(channel)s settings saved.") % {"channel": label})
            return redirect("web:channels")
        status = 400
    else:
        initial: dict[str, Any] = {"active": True, "cap_count": 0, "cap_hours": 24}
        if config is not None:
            initial = {
                "transport": config.transport,
                "config": json.dumps(
                    settings_shown(stored, available.get(config.transport)),
                    ensure_ascii=False,
                    indent=2,
                ),
                "active": config.active,
                "cap_count": config.cap_count,
                "cap_hours": config.cap_hours,
            }
        form = ChannelConfigForm(
            initial=initial, transports=available, stored=stored, stored_transport=stored_transport
        )
    context = {
        "channel": channel,
        "label": label,
        "form": form,
        "config": config,
        "required": {name: cls.required for name, cls in available.items()},
    }
    return render(request, "web/channels/edit.html", context, status=status)


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
