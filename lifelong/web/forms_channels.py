"""The channel set-up form: plain settings as JSON, each credential in its own field.

Which settings are credentials and which say where they are sent is declared by each
transport (`Transport.secrets`, `Transport.destinations`), not guessed from key names.
A credential never goes back to the browser: the page says whether it is set, and an
empty field keeps it. A password written inside a URL (user:pass@host) is hidden too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.messaging.channels.base import Transport

MASK = "••••••"
# scheme://user:password@ anywhere in a string.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*):[^\s/@]+@")


def _without_url_passwords(value: Any) -> Any:
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", value)
    if isinstance(value, list):
        return [_without_url_passwords(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_url_passwords(item) for key, item in value.items()}
    return value


def _has_mask(value: Any) -> bool:
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, list):
        return any(_has_mask(item) for item in value)
    if isinstance(value, dict):
        return any(_has_mask(item) for item in value.values())
    return False


def settings_shown(config: Mapping[str, Any], transport: type[Transport] | None) -> dict[str, Any]:
    """The settings a page may show: no declared secret, no password inside a URL.

    Settings of a transport that no longer exists are not shown at all: nothing says
    which of them are secret.
    """
    if transport is None:
        return {}
    return {
        key: _without_url_passwords(value)
        for key, value in config.items()
        if key not in transport.secrets
    }


def secrets_set(config: Mapping[str, Any], transport: type[Transport] | None) -> list[str]:
    """Names of the transport's secrets that have a value."""
    return [key for key in (transport.secrets if transport else ()) if config.get(key)]


def _field_name(transport: str, key: str) -> str:
    return f"secret__{transport}__{key}"


class ChannelConfigForm(forms.Form):
    transport = forms.ChoiceField(label=gettext_lazy("Transport"))
    config = forms.CharField(
        label=gettext_lazy("Settings (JSON object)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "json", "spellcheck": "false"}),
        help_text=gettext_lazy("Secrets are not shown here: each has its own field below."),
    )
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False)
    cap_count = forms.IntegerField(
        label=gettext_lazy("Marketing messages per window (0 = no cap)"), min_value=0, initial=0
    )
    cap_hours = forms.IntegerField(label=gettext_lazy("Window, hours"), min_value=1, initial=24)

    def __init__(
        self,
        *args: Any,
        transports: Mapping[str, type[Transport]],
        stored_transport: str = "",
        stored: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.transports = transports
        self.stored_transport = stored_transport
        self.stored = dict(stored or {})
        self.fields["transport"].choices = [(name, name) for name in transports]  # type: ignore[attr-defined]
        for name, transport in transports.items():
            for key in transport.secrets:
                self.fields[_field_name(name, key)] = forms.CharField(
                    label=key,
                    required=False,
                    strip=False,
                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                )
                if self._kept(name, key):
                    self.fields[_field_name(name, key) + "__remove"] = forms.BooleanField(
                        label=gettext_lazy("Remove"), required=False
                    )

    def _kept(self, transport: str, key: str) -> bool:
        """Whether a secret is stored for this transport (another transport's do not carry)."""
        return transport == self.stored_transport and bool(self.stored.get(key))

    def secret_groups(self) -> list[dict[str, Any]]:
        """The secret fields by transport, for the template."""
        return [
            {
                "transport": name,
                "destinations": transport.destinations,
                "secrets": [
                    {
                        "field": self[_field_name(name, key)],
                        "remove": self[_field_name(name, key) + "__remove"]
                        if self._kept(name, key)
                        else None,
                        "stored": self._kept(name, key),
                    }
                    for key in transport.secrets
                ],
            }
            for name, transport in self.transports.items()
            if transport.secrets
        ]

    def clean_config(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("config") or "{}"
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                _("Not valid JSON: %(msg)s (line %(line)d)") % {"msg": exc.msg, "line": exc.lineno}
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The settings must be a JSON object: { ... }."))
        # A value shown with its URL password hidden and sent back unchanged keeps the password.
        shown = {key: _without_url_passwords(item) for key, item in self.stored.items()}
        value = {
            key: (self.stored[key] if key in shown and item == shown[key] else item)
            for key, item in value.items()
        }
        hidden = sorted(key for key, item in value.items() if _has_mask(item))
        if hidden:
            raise forms.ValidationError(
                _("The password inside %(keys)s is hidden: write the address again with it.")
                % {"keys": ", ".join(hidden)}
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name = data.get("transport") or ""
        transport = self.transports.get(name)
        config = data.get("config")
        if transport is None or not isinstance(config, dict):
            return data
        misplaced = [key for key in config if key in transport.secrets]
        if misplaced:
            self.add_error(
                "config",
                _("%(keys)s: a secret goes in its own field below, not in the JSON.")
                % {"keys": ", ".join(misplaced)},
            )
            return data
        moved = [
            key
            for key in transport.destinations
            if str(config.get(key) or "").strip() != str(self.stored.get(key) or "").strip()
        ]
        asked_again = set()
        for key in transport.secrets:
            field = _field_name(name, key)
            typed = data.get(field) or ""
            if typed:
                config[key] = typed
            elif not self._kept(name, key) or data.get(field + "__remove"):
                continue
            elif moved:
                asked_again.add(key)
                self.add_error(
                    field,
                    _(
                        "%(settings)s changed: enter this secret again, or it would be sent "
                        "to the new address."
                    )
                    % {"settings": ", ".join(moved)},
                )
            else:
                config[key] = self.stored[key]
        missing = [k for k in transport.required if not config.get(k) and k not in asked_again]
        if missing:
            self.add_error(
                "config",
                _("%(transport)s needs these settings: %(keys)s")
                % {"transport": transport.name, "keys": ", ".join(missing)},
            )
        return data
