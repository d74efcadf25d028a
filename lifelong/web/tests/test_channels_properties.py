"""Properties of the channel set-up form over every transport's declared settings: a saved
secret never appears in the page, and saving the page as it is shown changes nothing."""

from __future__ import annotations

import string
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.accounts.models import Role
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
    transports,
)
from lifelong.messaging.models import WEBHOOK, ChannelConfig
from lifelong.web.tests.conftest import logged_in, staff

WORD = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)
# Long and marked, so it cannot turn up in a page by chance.
SECRET_VALUE = st.text(alphabet=string.ascii_letters + string.digits, min_size=10, max_size=24).map(
    lambda text: f"zq{text}"
)
DECLARED = sorted(
    (name, cls) for name, cls in transports().items() if cls.settings and name != "sandbox"
)


def _value(setting: Setting) -> st.SearchStrategy[Any]:
    if setting.kind == SECRET:
        return SECRET_VALUE
    if setting.kind == URL:
        return st.builds(lambda host, path: f"https://{host}.example/{path}", WORD, WORD)
    if setting.kind == EMAIL:
        return st.builds(lambda box, host: f"{box}@{host}.example", WORD, WORD)
    if setting.kind == INT:
        return st.integers(min_value=1, max_value=65535)
    if setting.kind == BOOL:
        return st.just(True)
    if setting.kind == CHOICE:
        return st.sampled_from([value for value, _label in setting.choices])
    if setting.kind == JSON:
        return st.dictionaries(WORD, WORD, min_size=1, max_size=3)
    return WORD


@st.composite
def stored_settings(draw: st.DrawFn) -> tuple[str, type[Transport], dict[str, Any]]:
    name, cls = draw(st.sampled_from(DECLARED))
    required = {s.name: _value(s) for s in cls.settings if s.required}
    optional = {s.name: _value(s) for s in cls.settings if not s.required}
    config = draw(st.fixed_dictionaries(required, optional=optional))
    return name, cls, config


def _channel(cls: type[Transport]) -> str:
    return WEBHOOK if WEBHOOK in cls.channels else cls.channels[0]


def _as_the_browser_posts(client: Client, url: str, name: str) -> dict[str, str]:
    """Every field of the chosen transport with the value the page shows in it."""
    form = client.get(url).context["form"]
    posted = {"transport": name, "cap_count": "0", "cap_hours": "24", "active": "on"}
    for field in form.fields:
        if not field.startswith(f"{name}__"):
            continue
        value = form[field].value()
        if value is True:
            posted[field] = "on"
        elif value not in (None, False, ""):
            posted[field] = str(value)
    return posted


PROPERTY = settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def owner(db) -> Client:
    return logged_in(staff(Role.OWNER))


@PROPERTY
@given(case=stored_settings())
def test_a_saved_secret_is_never_in_the_page(owner, case):
    name, cls, config = case
    ChannelConfig.objects.all().delete()
    channel = _channel(cls)
    ChannelConfig.objects.create(channel=channel, transport=name, config=config)

    with translation.override("en"):
        pages = [
            owner.get(reverse("web:channel_edit", kwargs={"channel": channel})),
            owner.get(reverse("web:channels")),
        ]

    secrets = [str(config[key]) for key in cls.secrets if key in config]
    for page in pages:
        assert page.status_code == 200
        for secret in secrets:
            assert secret not in page.content.decode()


@PROPERTY
@given(case=stored_settings())
def test_saving_the_page_as_shown_keeps_the_settings(owner, case):
    name, cls, config = case
    ChannelConfig.objects.all().delete()
    channel = _channel(cls)
    ChannelConfig.objects.create(channel=channel, transport=name, config=config)
    url = reverse("web:channel_edit", kwargs={"channel": channel})

    response = owner.post(url, _as_the_browser_posts(owner, url, name))

    assert response.status_code == 302, response.context["form"].errors
    # A choice left unset is shown, and so saved, as its default.
    defaults = {s.name: s.choices[0][0] for s in cls.settings if s.kind == CHOICE}
    assert ChannelConfig.objects.get().config == {**defaults, **config}
