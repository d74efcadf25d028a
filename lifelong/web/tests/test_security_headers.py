"""Content-Security-Policy and Permissions-Policy on every staff and portal page; no inline code.

Walks the URL conf: every route of the staff UI and the portal is requested as the owner, and
every response must carry both policies. Every template (and every page that opened) is scanned
for inline scripts, event handlers, `javascript:` URLs, style attributes and srcdoc frames,
which the policy would refuse in the browser: a new one fails here first.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from lifelong.accounts.models import ApiKey, Role
from lifelong.events.models import ImportJob
from lifelong.factories import CustomerFactory, OrderFactory, TaskFactory
from lifelong.journeys.services import journey_create
from lifelong.lib.signing import token_make
from lifelong.messaging.models import Message, Template
from lifelong.segments.services import segment_create
from lifelong.web.headers import CONTENT_SECURITY_POLICY, MESSAGE_HTML_POLICY, PERMISSIONS_POLICY
from lifelong.web.tests.conftest import logged_in, staff

REPO = Path(__file__).resolve().parents[3]
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "xlink:href"}


class InlineCode(HTMLParser):
    """Collects what a `script-src 'self'; style-src 'self'` policy would refuse or break."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        kind = dict(attrs).get("type") or ""
        line = self.getpos()[0]
        if tag == "script" and "src" not in names and kind != "application/json":
            self.problems.append(f"line {line}: inline <script>")
        if tag == "style":
            self.problems.append(f"line {line}: <style> element")
        for name, value in attrs:
            text = (value or "").strip().lower()
            if name.startswith("on"):
                self.problems.append(f"line {line}: event handler {name}=")
            elif name == "style":
                self.problems.append(f"line {line}: style attribute")
            elif name == "srcdoc":
                self.problems.append(f"line {line}: srcdoc frame (inherits the page's policy)")
            elif name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"line {line}: {name}= (htmx evaluates it as script)")
            elif text.startswith("javascript:") and name in URL_ATTRIBUTES:
                self.problems.append(f"line {line}: javascript: URL in {name}=")
            elif name.startswith(("hx-", "data-hx-")) and text.startswith(("js:", "javascript:")):
                self.problems.append(f"line {line}: {name}= evaluated by htmx")
            elif name.endswith("hx-trigger") and "[" in text:
                self.problems.append(f"line {line}: hx-trigger filter (htmx evaluates it)")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.problems


def test_the_scanner_finds_each_kind_of_inline_code():
    page = """<p onclick="go()">x</p><script>alert(1)</script><style>p{}</style>
    <a href=" JavaScript:go()">x</a><div style="color: red" hx-on:click="go()"></div>
    <div hx-vals="js:{a: 1}"></div><iframe srcdoc="<p>x</p>"></iframe>
    <input hx-get="/s" hx-trigger="keyup[key=='Enter']">"""
    assert len(inline_code(page)) == 9
    allowed = """<script src="/static/a.js" defer></script>
    <script id="d" type="application/json">{"a": 1}</script><a href="/x" hx-get="/y">ok</a>
    <svg><rect x="5%" width="10%"></rect></svg><option>only</option>"""
    assert inline_code(allowed) == []


def templates() -> Iterator[Path]:
    for directory in sorted((REPO / "lifelong").glob("*/templates")):
        yield from sorted(directory.rglob("*.html"))


def test_no_template_holds_inline_script_or_style():
    found = {
        str(path.relative_to(REPO)): problems
        for path in templates()
        if (problems := inline_code(path.read_text(encoding="utf-8")))
    }
    assert len(list(templates())) > 50  # the walk reached the staff and portal templates
    assert found == {}, "inline code the Content-Security-Policy refuses: move it to static/"


def routes() -> Iterator[tuple[str, str, list[str]]]:
    """(namespaced name, route, parameter names) of every route of the staff UI and portal."""
    for resolver in get_resolver().url_patterns:
        if isinstance(resolver, URLResolver) and resolver.namespace in {"web", "portal"}:
            for pattern in resolver.url_patterns:
                assert isinstance(pattern, URLPattern)
                route = str(pattern.pattern)
                params = list(pattern.pattern.converters)
                yield f"{resolver.namespace}:{pattern.name}", route, params


@pytest.fixture
def shop(db) -> dict[str, Model]:
    customer = CustomerFactory.create(email="anna@example.ru")
    OrderFactory.create(customer=customer)
    message = Message.objects.create(
        customer=customer,
        dedupe_key="k1",
        channel="email",
        purpose="marketing",
        transport="sandbox",
        status="sent",
        to=customer.email,
        subject="Письмо",
        body_text="Здравствуйте!",
        body_html='<p style="color: #0f766e">Здравствуйте!</p>',
    )
    return {
        "customers": customer,
        "tasks": TaskFactory.create(customer=customer),
        "imports": ImportJob.objects.create(kind="customers", file_name="a.csv", file_path="a"),
        "staff": ApiKey.objects.create(name="shop", prefix="0badc0de", key_hash="0" * 64),
        "segments": segment_create(name="Все", rules={"op": "and", "rules": []}),
        "journeys": journey_create(
            name="Спасибо",
            slug="thanks",
            definition={
                "trigger": {"kind": "manual"},
                "start": "stop",
                "nodes": [{"id": "stop", "type": "exit"}],
            },
        ),
        "inbox": message,
        "templates": Template.objects.create(
            slug="thanks", name="Спасибо", channel="email", body_text="Привет"
        ),
    }


def route_kwargs(name: str, route: str, params: list[str], shop: dict[str, Any]) -> dict[str, Any]:
    """Arguments that reach a real object where the route has one; any value otherwise
    (a 404 must carry the policies just the same)."""
    customer = shop["customers"]
    tokens = {
        "portal:open": token_make(purpose="open", value=shop["inbox"].pk),
        "portal:unsubscribe": token_make(purpose="unsubscribe", value=f"{customer.pk}:email"),
    }
    kwargs: dict[str, Any] = {}
    for param in params:
        if param == "pk":
            owner = shop.get(route.split("/")[0])
            kwargs[param] = owner.pk if owner else 1
        elif param == "token":
            kwargs[param] = tokens.get(name) or token_make(purpose="preferences", value=customer.pk)
        elif param == "channel":
            kwargs[param] = "email"
        elif param.endswith("_pk"):
            kwargs[param] = 1
        else:
            kwargs[param] = "x"
    return kwargs


def test_every_staff_and_portal_page_carries_both_policies(shop):
    client = logged_in(staff(Role.OWNER))
    opened = set()
    for name, route, params in routes():
        url = reverse(name, kwargs=route_kwargs(name, route, params, shop))
        response = client.get(url)
        assert response.status_code < 500, url
        assert response.headers.get("Content-Security-Policy") in (
            CONTENT_SECURITY_POLICY,
            MESSAGE_HTML_POLICY,
        ), url
        assert response.headers.get("Permissions-Policy") == PERMISSIONS_POLICY, url
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            opened.add(name)
            if response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY:
                assert inline_code(response.content.decode()) == [], url
    # The walk opened real pages, not a row of 404s: the main staff pages and the portal.
    assert {
        "web:home",
        "web:dashboard",
        "web:customers",
        "web:customer",
        "web:tasks",
        "web:task",
        "web:segments",
        "web:segment",
        "web:journeys",
        "web:journey",
        "web:journey_edit",
        "web:template_edit",
        "web:inbox_message",
        "web:inbox_message_html",
        "web:channels",
        "web:staff",
        "portal:preferences",
        "portal:unsubscribe",
    } <= opened
    # A signed-out visitor's pages too: the login form and the redirect to it.
    anonymous = Client()
    for url in (reverse("web:login"), reverse("web:dashboard")):
        response = anonymous.get(url)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["Permissions-Policy"] == PERMISSIONS_POLICY


def test_the_page_policy_allows_only_our_own_files():
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in PERMISSIONS_POLICY


def test_message_html_is_its_own_sandboxed_document(shop):
    """Staff-written email keeps its inline styles in the frame; its scripts never run."""
    client = logged_in(staff(Role.OWNER))
    message = shop["inbox"]
    page = client.get(reverse("web:inbox_message", args=[message.pk])).content.decode()
    frame_url = reverse("web:inbox_message_html", args=[message.pk])
    assert f'sandbox="" referrerpolicy="no-referrer" src="{frame_url}"' in page
    response = client.get(frame_url)
    assert response.content.decode() == '<p style="color: #0f766e">Здравствуйте!</p>'
    assert response.headers["Content-Security-Policy"] == MESSAGE_HTML_POLICY
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    directives = dict(part.partition(" ")[::2] for part in MESSAGE_HTML_POLICY.split("; "))
    assert directives["default-src"] == "'none'" and "script-src" not in directives
    assert directives["sandbox"] == ""
    # Other pages may not be framed at all.
    assert client.get(reverse("web:inbox")).headers["X-Frame-Options"] == "DENY"


def test_a_message_outside_the_sandbox_inbox_is_not_served(shop):
    client = logged_in(staff(Role.OWNER))
    real = Message.objects.create(
        customer=shop["customers"], dedupe_key="k2", channel="email", transport="smtp"
    )
    assert client.get(reverse("web:inbox_message_html", args=[real.pk])).status_code == 404
    signed_out = Client().get(reverse("web:inbox_message_html", args=[shop["inbox"].pk]))
    assert signed_out.status_code == 302


def _allowed_hosts(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIFELONG_")}
    code = "from lifelong import settings; print(','.join(settings.ALLOWED_HOSTS))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=clean | env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().split(",")


def test_testserver_is_no_allowed_host_outside_tests(tmp_path):
    var = str(tmp_path)
    production = _allowed_hosts(
        LIFELONG_PRODUCTION="1",
        LIFELONG_SECRET_KEY="s" * 50,
        LIFELONG_ENCRYPTION_KEY=base64.urlsafe_b64encode(bytes(32)).decode(),
        LIFELONG_VAR_DIR=var,
    )
    assert "testserver" not in production
    development = _allowed_hosts(LIFELONG_VAR_DIR=var)
    assert development == ["127.0.0.1", "localhost"]
    assert _allowed_hosts(LIFELONG_ALLOWED_HOSTS="crm.example.ru", LIFELONG_VAR_DIR=var) == [
        "crm.example.ru"
    ]
