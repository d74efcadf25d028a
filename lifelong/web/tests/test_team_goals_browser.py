"""The goal pages in Chromium: the owner creates a team, sets it a goal and a member's goal
through the forms, changes one and deletes it; the report's chart draws, the running period
dashed, under the page policy."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Locator, Page

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.factories import UserFactory
from lifelong.team.models import Goal, Metric, Team
from lifelong.team.periods import period_bounds
from lifelong.web.tests.test_browser_csp import Watched, chart_size

pytestmark = pytest.mark.browser


def submit(page: Page, button: Locator) -> None:
    """Click and wait for the page the form leads to (the goals list after a redirect)."""
    with page.expect_navigation():
        button.click()
    assert page.url.endswith(reverse("web:team_goals")), page.url


def test_the_owner_sets_changes_and_deletes_goals(staff_page, live_server):
    owner = UserFactory.create(username="anna", first_name="Анна", role=Role.OWNER, password=None)
    olga = UserFactory.create(
        username="olga", first_name="Ольга", last_name="Кузнецова", role=Role.SUPPORT
    )
    watched = Watched(staff_page(owner))
    page = watched.page
    watched.open(f"{live_server.url}{reverse('web:team_goals')}")

    page.click("#team-new summary")
    page.fill("#team-new input[name=name]", "Зал")
    page.check(f"#team-new input[name=members][value='{olga.pk}']")
    submit(page, page.locator("#team-new button[type=submit]"))
    team = Team.objects.get()
    assert list(team.members.all()) == [olga]

    # With no goals yet the form is open.
    form = page.locator("#goal-new form")
    form.locator("select[name=who]").select_option(f"t:{team.pk}")
    form.locator("select[name=metric]").select_option(Metric.REVIEWS)
    form.locator("input[name=target]").fill("12")
    submit(page, form.locator("button[type=submit]"))
    goal = Goal.objects.get()
    assert goal.team == team and goal.target == 12
    assert (goal.start, goal.end) == period_bounds("month", timezone.localdate(clock.now()))
    assert page.locator(f"#goal-{goal.pk} progress").count() == 1

    page.click("#goal-new summary")
    form.locator("select[name=who]").select_option(f"u:{olga.pk}")
    form.locator("select[name=metric]").select_option(Metric.NEXT_STEP)
    form.locator("input[name=target]").fill("120")  # a share above 100 %: refused
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert page.locator("#goal-new .errorlist").count() == 1
    # The refused form comes back as a 400, which Chromium logs; nothing else may.
    assert watched.console == [
        "error: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
    watched.console.clear()
    form = page.locator("#goal-new form")
    form.locator("input[name=target]").fill("80")
    submit(page, form.locator("button[type=submit]"))
    hers = Goal.objects.get(user=olga)

    page.click(f"#goal-{hers.pk} a")
    page.fill("input[name=target]", "90")
    submit(page, page.locator("form:has(input[name=target]) button[type=submit]"))
    hers.refresh_from_db()
    assert hers.target == 90

    page.click(f"#goal-{goal.pk} a")
    submit(
        page,
        page.locator(f"form[action='{reverse('web:team_goal_delete', args=[goal.pk])}'] button"),
    )
    assert list(Goal.objects.all()) == [hers]
    watched.assert_clean()


def test_the_report_chart_dashes_the_running_period(staff_page, live_server):
    owner = UserFactory.create(username="anna", first_name="Анна", role=Role.OWNER, password=None)
    watched = Watched(staff_page(owner))
    watched.open(f"{live_server.url}{reverse('web:team_report')}?metric=tasks_on_time")
    page = watched.page
    page.wait_for_function("() => typeof Chart !== 'undefined'")
    size = chart_size(page, "team-chart")
    assert size is not None and size[0] > 0
    drawn = page.evaluate(
        """() => {
          const chart = Chart.getChart(document.getElementById("team-chart"));
          const meta = chart.getDatasetMeta(0);
          return {labels: chart.data.labels.length, names: chart.data.datasets.map(d => d.label),
                  dashed: meta.dataset.options.segment ? true : false};
        }"""
    )
    assert drawn["labels"] == 6 and drawn["names"] == ["Анна"]
    watched.assert_clean()


def test_the_owner_renames_a_team_and_changes_its_members(staff_page, live_server):
    owner = UserFactory.create(username="anna", first_name="Анна", role=Role.OWNER, password=None)
    olga = UserFactory.create(username="olga", first_name="Ольга", role=Role.SUPPORT)
    ivan = UserFactory.create(username="ivan", first_name="Иван", role=Role.SUPPORT)
    team = Team.objects.create(name="Зал")
    team.members.set([olga])
    watched = Watched(staff_page(owner))
    page = watched.page
    watched.open(f"{live_server.url}{reverse('web:team_goals')}")
    with page.expect_navigation():
        page.click(f"a[href='{reverse('web:team_edit', args=[team.pk])}']")
    page.fill("input[name=name]", "Торговый зал")
    page.uncheck(f"input[name=members][value='{olga.pk}']")
    page.check(f"input[name=members][value='{ivan.pk}']")
    submit(page, page.locator("form:has(input[name=members]) button[type=submit]"))
    team.refresh_from_db()
    assert team.name == "Торговый зал" and list(team.members.all()) == [ivan]
    assert "Торговый зал: Иван" in page.inner_text("main")
    watched.assert_clean()
