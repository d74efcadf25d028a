"""The contract every channel transport keeps, and the registry that finds them by name.

A transport lives in `messaging/channels/<kind>/transport.py`, subclasses `Transport`
and registers itself with `@register`. The dispatcher opens one transport per batch
(so SMTP can reuse its connection), calls `send()` per message and `close()` at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib import import_module
from typing import Any, ClassVar

from django.utils.functional import Promise

# Transport modules, imported on first use so that each registers itself.
TRANSPORT_MODULES = (
    "lifelong.messaging.channels.sandbox.transport",
    "lifelong.messaging.channels.email.transport",
    "lifelong.messaging.channels.sms.transport",
    "lifelong.messaging.channels.telegram.transport",
    "lifelong.messaging.channels.vk.transport",
    "lifelong.messaging.channels.max.transport",
    "lifelong.messaging.channels.whatsapp.transport",
    "lifelong.messaging.channels.webpush.transport",
    "lifelong.messaging.channels.webhook.transport",
)


# The kinds of a setting: how the set-up form asks for it and what it stores.
TEXT, SECRET, URL, EMAIL, INT, BOOL, CHOICE, JSON = (
    "text",
    "secret",
    "url",
    "email",
    "int",
    "bool",
    "choice",
    "json",
)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One key of a transport's settings, as the owner fills it in on the set-up page.

    A SECRET is never shown again once saved; `example` is a placeholder, never a default.
    `choices` are (stored value, label) pairs of a CHOICE, the first being the default.
    """

    name: str
    label: str | Promise
    help: str | Promise = ""
    kind: str = TEXT
    required: bool = False
    example: str = ""
    choices: tuple[tuple[str, str | Promise], ...] = ()
    multiline: bool = False


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """What a transport needs to deliver one message; plain data, no ORM objects."""

    message_id: int
    channel: str
    to: str
    subject: str
    text: str
    html: str = ""
    marketing: bool = False
    payload: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # RFC 8058: the one-click unsubscribe URL (marketing email only), and the signed token
    # it carries, which names the same unsubscribe in a `mailto:` subject.
    unsubscribe_url: str = ""
    unsubscribe_token: str = ""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # The id the provider will know the message by, chosen and stored when the dispatcher
    # claimed it (email: the Message-ID), so an `unknown` message can be found in its logs.
    reference: str = ""


@dataclasses.dataclass(frozen=True)
class SendResult:
    provider_id: str = ""


class TransportError(Exception):
    """A send that did not succeed.

    permanent: retrying cannot help (bad address, rejected content): the message fails.
    bounce: the address itself is dead: it is suppressed for the channel.
    may_have_sent: the request left and no answer came (timeout): the provider may have
    accepted it, so the message becomes `unknown` and is never blindly re-sent.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        bounce: bool = False,
        may_have_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent or bounce
        self.bounce = bounce
        self.may_have_sent = may_have_sent


class Transport:
    """Base class: subclasses set `name`, the channels they serve, and implement `send`."""

    name: ClassVar[str]
    channels: ClassVar[tuple[str, ...]]
    # The settings the owner fills in, in the order the set-up form asks for them. Other
    # keys (timeouts, API versions) stay possible in the form's advanced JSON.
    settings: ClassVar[tuple[Setting, ...]] = ()
    # Derived from `settings`: keys the owner must fill in, checked when the channel is
    # set up, and keys that are credentials (never shown again, kept when left blank).
    required: ClassVar[tuple[str, ...]] = ()
    secrets: ClassVar[tuple[str, ...]] = ()
    # Keys that say where requests (and the credentials in them) go: changing one asks for
    # the stored secrets again, so an edited address cannot collect them.
    destinations: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "settings" not in cls.__dict__:
            return  # a transport without declared settings keeps its own (tests' fakes)
        cls.required = tuple(setting.name for setting in cls.settings if setting.required)
        cls.secrets = tuple(setting.name for setting in cls.settings if setting.kind == SECRET)

    def __init__(self, config: Mapping[str, Any]) -> None:
        missing = [key for key in self.required if not config.get(key)]
        if missing:
            raise TransportError(
                f"{self.name}: missing settings {', '.join(missing)}", permanent=True
            )
        self.config = config

    @classmethod
    def reference_new(cls, config: Mapping[str, Any], message_id: int) -> str:
        """The provider's id for a message about to be sent, where we choose it ("" where
        the provider does); the dispatcher stores it before the send."""
        return ""

    def send(self, message: Outgoing) -> SendResult:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections held across sends."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_REGISTRY: dict[str, type[Transport]] = {}


def register(cls: type[Transport]) -> type[Transport]:
    _REGISTRY[cls.name] = cls
    return cls


def transports() -> dict[str, type[Transport]]:
    """All transports by name; modules not written yet are simply absent."""
    for module in TRANSPORT_MODULES:
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            # Only a missing transport module (or its package) is expected here.
            if exc.name != module and not module.startswith(f"{exc.name}."):
                raise
    return dict(_REGISTRY)


def transport_class(name: str) -> type[Transport]:
    found = _REGISTRY.get(name)
    if found is not None:
        return found  # the dispatcher asks for every message it claims
    try:
        return transports()[name]
    except KeyError:
        raise TransportError(f"unknown transport {name!r}", permanent=True) from None
