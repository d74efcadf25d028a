"""The Content-Security-Policy in a real browser (Debian's Chromium): nothing on the main staff
pages or the portal is refused, and what the pages draw with script still draws.

Every console message and every `securitypolicyviolation` event is collected; a page passes with
none. The charts must be real Chart.js charts with a non-zero canvas, the journey canvas must be
laid out, the segment builder must still swap its rules, and the template editor's preview must
show the email's inline styles in its sandboxed frame while the email's script does not run.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.analytics.rollups import analytics_rollup
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.models import Channel, Customer
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.journeys.models import Enrollment, JourneyStatus
from lifelong.journeys.services import journey_create, journey_status_set
from lifelong.lib.signing import token_make
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.segments.services import stages_refresh
from lifelong.web.headers import CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY

DAY = dt.timedelta(days=1)
VAPID_PUBLIC = (
    "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"
)
# Runs before any page script (and is not subject to the page's policy): records every refusal.
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI || "inline"} ${where}`);
});
"""
FLOW: dict[str, Any] = {
    "trigger": {"kind": "manual"},
    "start": "pause",
    "nodes": [
        {"id": "pause", "type": "wait", "days": 3, "next": "ab"},
        {
            "id": "ab",
            "type": "split",
            "branches": [
                {"weight": 1, "next": "tag_vip", "label": "A"},
                {"weight": 1, "next": "stop", "label": "B"},
            ],
        },
        {"id": "tag_vip", "type": "tag", "tag": "vip", "next": "stop"},
        {"id": "stop", "type": "exit"},
    ],
    "goal": {"event": "order_placed", "within_days": 30},
    "holdout_percent": 50,
}

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(transactional_db) -> dict[str, Any]:
    """Buyers over a year and a half (charts, cohorts), a journey with results, a template."""
    for i in range(30):
        customer = CustomerFactory.create()
        OrderFactory.create(customer=customer, placed_at=clock.now() - DAY * (7 + i * 37 % 500))
        if i % 3 == 0:
            OrderFactory.create(customer=customer, placed_at=clock.now() - DAY * (i % 40))
    anna = CustomerFactory.create(first_name="Анна", last_name="Заречная", email="anna@example.ru")
    OrderFactory.create(customer=anna, total=Decimal("2490"), placed_at=clock.now() - DAY)
    customer_summaries_refresh(Customer.objects.values_list("pk", flat=True))
    stages_refresh()
    journey = journey_create(name="После покупки", slug="after", definition=FLOW)
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    assert journey.current_version is not None
    for n in range(40):
        holdout = n >= 20
        converted = n < 10 or (holdout and n < 24)
        Enrollment.objects.create(
            journey=journey,
            version=journey.current_version,
            customer=CustomerFactory.create(),
            key="once",
            holdout=holdout,
            status="converted" if converted else "completed",
            goal_met_at=clock.now() if converted else None,
            entered_at=clock.now() - DAY * 40,
        )
    analytics_rollup()
    template = Template.objects.create(
        slug="thanks", name="Спасибо", channel="email", body_text="Спасибо, до встречи"
    )
    message = Message.objects.create(
        customer=anna,
        dedupe_key="k1",
        channel="email",
        purpose="marketing",
        transport="sandbox",
        status="sent",
        to=anna.email,
        subject="Письмо",
        body_text="Здравствуйте!",
        body_html='<p id="styled" style="color: rgb(15, 118, 110)">Здравствуйте!</p>',
    )
    ChannelConfig.objects.create(
        channel=Channel.PUSH, transport="sandbox", config={"vapid_public_key": VAPID_PUBLIC}
    )
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    client = Client()
    client.force_login(owner)
    return {
        "anna": anna,
        "journey": journey,
        "template": template,
        "message": message,
        "session": client.cookies["sessionid"].value,
    }


class Watched:
    """A page whose console messages, script errors and policy refusals are all kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.add_init_script(VIOLATIONS)

    def open(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, url
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["permissions-policy"] == PERMISSIONS_POLICY

    def assert_clean(self) -> None:
        violations = self.page.evaluate("window.__violations")
        assert violations == [], violations
        assert self.console == [], self.console


def chart_size(page: Page, canvas_id: str) -> list[int] | None:
    """The canvas's drawing size if Chart.js drew a chart on it, else None."""
    return page.evaluate(
        """id => {
          const canvas = document.getElementById(id);
          return canvas && Chart.getChart(canvas) ? [canvas.width, canvas.height] : null;
        }""",
        canvas_id,
    )


def test_staff_pages_and_portal_run_under_the_policy(browser, live_server, shop):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    context.add_cookies([{"name": "sessionid", "value": shop["session"], "url": live_server.url}])
    watched = Watched(context.new_page())
    page = watched.page
    page.set_default_timeout(15_000)
    site = live_server.url

    watched.open(f"{site}{reverse('web:dashboard')}")
    for canvas in ("chart-trend", "chart-stages", "chart-value", "chart-lorenz"):
        size = chart_size(page, canvas)
        assert size is not None and size[0] > 0 and size[1] > 0, canvas
    # The cohort heatmap's shades and the journey forest plot come from the stylesheet.
    shade = page.eval_on_selector(
        "table.heatmap td.heat-10", "td => getComputedStyle(td).getPropertyValue('--heat')"
    )
    assert shade.strip() == "1"
    dot = page.locator("svg.forest circle.forest-dot").first
    assert dot.bounding_box()["width"] > 5
    watched.assert_clean()

    watched.open(f"{site}{reverse('web:customers')}")
    page.fill("input[name=q]", "заречная")
    page.wait_for_url("**q=*")
    expect(page.locator("#customer-results tbody tr")).to_have_count(1)
    watched.open(f"{site}{reverse('web:customer', args=[shop['anna'].pk])}")
    page.wait_for_selector("#timeline")
    watched.assert_clean()

    watched.open(f"{site}{reverse('web:journey', args=[shop['journey'].pk])}")
    # The flow is the builder's canvas, read-only: cards placed and wires drawn by script.
    expect(page.locator("#jc-root #node-ab")).to_be_visible()
    expect(page.locator("#jc-root .jc-wire-label")).to_have_count(2)
    expect(page.locator(".jc-fallback")).to_be_hidden()
    size = chart_size(page, "chart-results")
    assert size is not None and size[0] > 0 and size[1] > 0
    watched.assert_clean()

    watched.open(f"{site}{reverse('web:segment_create')}")
    expect(page.locator("#live-count")).not_to_contain_text("…")
    rules = page.locator("#builder .rule-cond")
    before = rules.count()
    page.locator("#builder button[hx-vals*='add:']").first.click()
    expect(rules).to_have_count(before + 1)
    watched.assert_clean()

    watched.open(f"{site}{reverse('web:template_edit', args=[shop['template'].pk])}")
    page.fill(
        "textarea[name=body_html]",
        '<p id="styled" style="color: rgb(200, 0, 0)">Привет, {{ customer.first_name }}</p>'
        '<script>parent.document.title = "pwned"</script>',
    )
    frame = page.frame_locator("iframe.preview-html")
    expect(frame.locator("#styled")).to_have_css("color", "rgb(200, 0, 0)")
    expect(frame.locator("#styled")).to_contain_text("Привет,")
    assert page.title() != "pwned"
    expect(page.locator("#preview .preview-text")).to_contain_text("Спасибо,")
    # The one refusal is the email's own script, in the frame, by its sandbox.
    refused = [line for line in watched.console if "Blocked script execution" in line]
    assert refused and all(reverse("web:template_preview_html") in line for line in refused)
    watched.console = [line for line in watched.console if line not in refused]
    watched.assert_clean()

    watched.open(f"{site}{reverse('web:inbox_message', args=[shop['message'].pk])}")
    styled = page.frame_locator("iframe.mail-html").locator("#styled")
    expect(styled).to_have_css("color", "rgb(15, 118, 110)")
    watched.assert_clean()

    # The portal: a customer's preferences page with the web push block and its script.
    token = token_make(purpose="preferences", value=shop["anna"].pk)
    customer_page = Watched(browser.new_page(locale="ru-RU"))
    customer_page.open(f"{site}{reverse('portal:preferences', args=[token])}")
    expect(customer_page.page.locator("#push button")).to_be_visible()
    customer_page.page.wait_for_load_state("networkidle")
    customer_page.assert_clean()


def test_an_inline_script_would_be_refused(browser, live_server, shop):
    """The check above can fail: a page with inline code gets a refusal in the browser."""
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": shop["session"], "url": live_server.url}])
    watched = Watched(context.new_page())
    watched.open(f"{live_server.url}{reverse('web:dashboard')}")
    watched.page.evaluate(
        """() => {
          const p = document.createElement("p");
          p.setAttribute("style", "color: red");
          document.body.appendChild(p);
        }"""
    )
    watched.page.wait_for_function("window.__violations.length > 0")
    assert watched.page.evaluate("window.__violations")[0].startswith("style-src")
