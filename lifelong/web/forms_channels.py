"""The channel set-up form: one field per setting the transport declares, JSON for the rest.

Each transport declares its settings (`Transport.settings`: label, help, kind, example) and
which of them say where requests go (`Transport.destinations`); the form is built from
them, so a new setting needs no form code. Keys nobody declared (a timeout, an API
version) stay editable as JSON under "Other settings".

A credential never goes back to the browser, not even as a value attribute: the page says
whether it is set, an empty field keeps it and "Clear" removes it. A password written
inside a URL (user:pass@host) is hidden too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.messaging.channels.base import (
    BOOL,
    CHOICE,
    EMAIL,
    INT,
    JSON,
    SECRET,
    URL,
    Setting,
    Transport,
)

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


def settings_listed(
    config: Mapping[str, Any], transport: type[Transport] | None
) -> list[tuple[str, Any, bool]]:
    """(label, value shown, secret?) for the channel list: a secret says only that it is set."""
    if transport is None:
        return []
    labels = {setting.name: str(setting.label) for setting in transport.settings}
    shown = settings_shown(config, transport)
    rows = [(labels.get(key, key), value, False) for key, value in shown.items()]
    rows += [(labels.get(key, key), "", True) for key in secrets_set(config, transport)]
    return rows


def field_name(transport: str, key: str) -> str:
    return f"{transport}__{key}"


CLEAR = "__clear"


class SecretTextarea(forms.Textarea):
    """A textarea for a long secret (a PEM key) that never writes a value into the page."""

    def format_value(self, value: Any) -> None:
        return None


def _form_field(setting: Setting) -> forms.Field:
    attrs = {"placeholder": setting.example} if setting.example else {}
    common: dict[str, Any] = {
        "label": setting.label,
        "help_text": setting.help,
        "required": False,
    }
    if setting.kind == SECRET:
        if setting.multiline:
            widget: forms.Widget = SecretTextarea(
                attrs={**attrs, "rows": 4, "autocomplete": "off", "spellcheck": "false"}
            )
        else:
            widget = forms.PasswordInput(
                attrs={**attrs, "autocomplete": "new-password"}, render_value=False
            )
        return forms.CharField(widget=widget, **common)
    if setting.kind == EMAIL:
        return forms.EmailField(widget=forms.EmailInput(attrs=attrs), **common)
    if setting.kind == INT:
        return forms.IntegerField(min_value=0, widget=forms.NumberInput(attrs=attrs), **common)
    if setting.kind == BOOL:
        return forms.BooleanField(**common)
    if setting.kind == CHOICE:
        return forms.ChoiceField(choices=list(setting.choices), **common)
    if setting.kind == JSON:
        textarea = {**attrs, "rows": 3, "class": "json", "spellcheck": "false"}
        return forms.CharField(widget=forms.Textarea(attrs=textarea), **common)
    if setting.kind == URL:
        attrs = {**attrs, "inputmode": "url", "spellcheck": "false"}
    return forms.CharField(widget=forms.TextInput(attrs=attrs), **common)


def _shown_value(setting: Setting, value: Any) -> Any:
    """A stored (non-secret) value as its field shows it."""
    if setting.kind == JSON and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if setting.kind == BOOL:
        return bool(value)
    return _without_url_passwords(value)


class ChannelConfigForm(forms.Form):
    transport = forms.ChoiceField(label=gettext_lazy("Transport"))
    config = forms.CharField(
        label=gettext_lazy("Other settings (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "json", "spellcheck": "false"}),
        help_text=gettext_lazy(
            'Rarely needed: settings the fields above do not cover, such as {"timeout": 10}.'
        ),
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
            mine = name == stored_transport
            for setting in transport.settings:
                field = self.fields[field_name(name, setting.name)] = _form_field(setting)
                if setting.kind == SECRET:
                    if self._kept(name, setting.name):
                        # Dots where the value would be: it is set, and stays unseen.
                        field.widget.attrs["placeholder"] = MASK
                        self.fields[field_name(name, setting.name) + CLEAR] = forms.BooleanField(
                            label=gettext_lazy("Clear"), required=False
                        )
                elif mine and setting.name in self.stored:
                    field.initial = _shown_value(setting, self.stored[setting.name])
                elif setting.kind == CHOICE:
                    field.initial = setting.choices[0][0]
        declared = self._declared(stored_transport)
        extra = {key: value for key, value in self.stored.items() if key not in declared}
        if extra:
            shown = _without_url_passwords(extra)
            self.fields["config"].initial = json.dumps(shown, ensure_ascii=False, indent=2)

    def _declared(self, transport: str) -> set[str]:
        cls = self.transports.get(transport)
        return {setting.name for setting in cls.settings} if cls else set()

    def _kept(self, transport: str, key: str) -> bool:
        """Whether a secret is stored for this transport (another transport's do not carry)."""
        return transport == self.stored_transport and bool(self.stored.get(key))

    def transport_groups(self) -> list[dict[str, Any]]:
        """Each transport's fields in its declared order, for the template."""
        groups = []
        for name, transport in self.transports.items():
            rows = []
            for setting in transport.settings:
                key = field_name(name, setting.name)
                secret = setting.kind == SECRET
                rows.append(
                    {
                        "setting": setting,
                        "field": self[key],
                        "secret": secret,
                        "stored": secret and self._kept(name, setting.name),
                        "clear": self[key + CLEAR] if key + CLEAR in self.fields else None,
                    }
                )
            labels = {setting.name: setting.label for setting in transport.settings}
            destinations = [str(labels.get(key, key)) for key in transport.destinations]
            groups.append({"transport": name, "destinations": destinations, "rows": rows})
        return groups

    def clean_config(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("config") or "").strip() or "{}"
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                _("Not valid JSON: %(msg)s (line %(line)d)") % {"msg": exc.msg, "line": exc.lineno}
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The settings must be a JSON object: { ... }."))
        value = {key: self._unmasked(key, item) for key, item in value.items()}
        hidden = sorted(key for key, item in value.items() if _has_mask(item))
        if hidden:
            raise forms.ValidationError(
                _("The password inside %(keys)s is hidden: write the address again with it.")
                % {"keys": ", ".join(hidden)}
            )
        return value

    def _unmasked(self, key: str, value: Any) -> Any:
        """A value shown with its URL password hidden and sent back unchanged keeps it."""
        if key in self.stored and value == _without_url_passwords(self.stored[key]):
            return self.stored[key]
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name = data.get("transport") or ""
        transport = self.transports.get(name)
        extra = data.get("config")
        if transport is None or not isinstance(extra, dict):
            return data
        clash = sorted(key for key in extra if key in self._declared(name))
        if clash:
            self.add_error(
                "config",
                _("%(keys)s: each has its own field above, not in the JSON.")
                % {"keys": ", ".join(clash)},
            )
            return data
        config = dict(extra)
        for setting in transport.settings:
            if setting.kind != SECRET:
                value = self._setting_value(name, setting, data)
                if value is not None:
                    config[setting.name] = value
        # An unset choice means its default: choosing the default moves nothing.
        defaults = {
            setting.name: setting.choices[0][0]
            for setting in transport.settings
            if setting.kind == CHOICE
        }
        moved = [
            key
            for key in transport.destinations
            if str(config.get(key) or defaults.get(key, "")).strip()
            != str(self.stored.get(key) or defaults.get(key, "")).strip()
        ]
        for setting in transport.settings:
            if setting.kind == SECRET:
                self._secret_keep(name, setting, data, config, moved)
        for setting in transport.settings:
            field = field_name(name, setting.name)
            if setting.required and not config.get(setting.name) and field not in self.errors:
                self.add_error(
                    field,
                    _("%(transport)s needs this setting.") % {"transport": transport.name},
                )
        data["config"] = config
        return data

    def _setting_value(self, name: str, setting: Setting, data: dict[str, Any]) -> Any:
        """The value to store for a non-secret setting; None leaves the key out."""
        field = field_name(name, setting.name)
        value = data.get(field)
        if setting.kind == BOOL:
            return True if value else None
        if value is None or value == "":
            return None
        if setting.kind == JSON:
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                self.add_error(field, _("Not valid JSON: %(msg)s") % {"msg": exc.msg})
                return None
            if not isinstance(parsed, dict):
                self.add_error(field, _("The settings must be a JSON object: { ... }."))
                return None
            return parsed
        if isinstance(value, str):
            value = value.strip()
            if name == self.stored_transport:
                value = self._unmasked(setting.name, value)
            if _has_mask(value):
                self.add_error(
                    field, _("The password in this address is hidden: write it again with it.")
                )
                return None
            if setting.kind == URL and not _is_web_address(value):
                self.add_error(field, _("An address starting with https:// or http://."))
                return None
        return value

    def _secret_keep(
        self,
        name: str,
        setting: Setting,
        data: dict[str, Any],
        config: dict[str, Any],
        moved: list[str],
    ) -> None:
        field = field_name(name, setting.name)
        typed = (data.get(field) or "").strip()
        if typed:
            config[setting.name] = typed
        elif not self._kept(name, setting.name) or data.get(field + CLEAR):
            return
        elif moved:
            self.add_error(
                field,
                _(
                    "%(settings)s changed: enter this secret again, or it would be sent "
                    "to the new address."
                )
                % {"settings": ", ".join(moved)},
            )
        else:
            config[setting.name] = self.stored[setting.name]


def _is_web_address(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class ChannelTestForm(forms.Form):
    to = forms.CharField(max_length=500, required=False, strip=True)
