"""The dashboard page and the CSV exports, through HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.analytics.rollups import analytics_rollup, rollups_rebuild
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.conftest import client_for
from lifelong.customers.models import Customer
from lifelong.customers.services import customer_tags_add
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.segments.models import CustomerState
from lifelong.segments.services import stages_refresh

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
URL = reverse("web:dashboard")


@pytest.fixture
def client(db) -> Client:
    return client_for(UserFactory.create(username="analyst", role=Role.ANALYST, password=None))


def shop(customers: int) -> None:
    """`customers` buyers spread over a year and a half, every third one coming back."""
    for i in range(customers):
        customer = CustomerFactory()
        OrderFactory(customer=customer, placed_at=clock.now() - DAY * (7 + i * 37 % 500))
        if i % 3 == 0:
            OrderFactory(customer=customer, placed_at=clock.now() - DAY * (i % 40), total="500")
    customer_summaries_refresh(Customer.objects.values_list("pk", flat=True))
    stages_refresh()
    analytics_rollup()


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:]), delimiter=";"))


def test_before_the_first_rollup_the_page_says_so(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert "dashboard-data" not in response.content.decode()


def test_the_page_shows_kpis_charts_and_the_cohort_heatmap(client, frozen_time):
    shop(12)
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    kpis = {k.key: k for k in response.context["kpis"]}
    assert set(kpis) == {
        "active_customers",
        "repeat_rate",
        "returning",
        "retention",
        "churn",
        "average_order",
        "frequency",
        "repeat_revenue_share",
    }
    assert kpis["active_customers"].value != "—"
    charts = response.context["charts"]
    assert sum(charts["stages"]["counts"]) == 12
    assert len(charts["lorenz"]) == 21
    assert sum(charts["histogram"]["counts"]) == 12
    assert 'id="dashboard-data"' in body and "vendor/chart.umd.min.js" in body
    rows = response.context["cohorts"]
    assert len(rows) == 12 and rows[-1].cohort == dt.date(2026, 3, 1)
    assert any(cell.share for row in rows for cell in row.cells)
    assert 'class="cell heat-' in body
    top = max(cell.heat for row in rows for cell in row.cells)
    assert top == 10  # the highest share takes the darkest of the stylesheet's shades
    assert response.context["value_source"] == "spend"


def test_the_value_chart_uses_predicted_clv_once_there_is_one(client, frozen_time):
    shop(6)
    CustomerState.objects.filter(customer__orders_count__gt=0).update(
        predicted_clv=Decimal("4200.00")
    )
    analytics_rollup()
    assert client.get(URL).context["value_source"] == "spend"  # hourly runs keep the histogram
    rollups_rebuild()
    response = client.get(URL)
    assert response.context["value_source"] == "clv"
    assert sum(response.context["charts"]["histogram"]["counts"]) == 6


def test_the_period_switch_picks_the_period_and_ignores_junk(client, frozen_time):
    shop(6)
    year = client.get(URL, {"period": "365"})
    assert year.context["period"] == 365
    # A year by week, shorter periods by day, with days without orders as zeros.
    assert len(year.context["charts"]["trend"]["labels"]) == 53
    month = client.get(URL, {"period": "30"}).context["charts"]["trend"]
    assert len(month["orders"]) == 30
    assert sum(year.context["charts"]["trend"]["orders"]) >= sum(month["orders"]) > 0
    assert client.get(URL, {"period": "7"}).context["period"] == 30
    assert client.get(URL, {"period": "abc"}).context["period"] == 30


@pytest.mark.parametrize("customers", [3, 30])
def test_query_count_does_not_grow_with_the_shop(
    client, frozen_time, django_assert_num_queries, customers
):
    shop(customers)
    # session, user, rollup state, churn reasons, the feedback digest's themes and NPS,
    # latest stage counts, stage flows, daily trend, cohorts, journeys (none here, so no
    # goal windows to read)
    with django_assert_num_queries(11):
        response = client.get(URL, {"period": "90"})
    assert response.status_code == 200


def test_flows_show_customers_moving_between_stages(client, frozen_time):
    shop(6)
    frozen_time.shift(DAY * 200)
    stages_refresh()
    analytics_rollup()
    response = client.get(URL, {"period": "30"})
    flows = response.context["charts"]["flows"]
    assert (
        flows["labels"]
        and sum(sum(d["data"]) for d in flows["datasets"]) == response.context["flows_total"]
    )
    assert response.context["flows_total"] > 0


def test_kpi_and_cohort_csv_exports(client, frozen_time):
    shop(9)
    kpis = csv_rows(client.get(reverse("web:dashboard_kpis_csv")))
    assert len(kpis) == 1 + 3 * 8
    assert {row[0] for row in kpis[1:]} == {"30", "90", "365"}
    cohorts = csv_rows(client.get(reverse("web:dashboard_cohorts_csv")))
    assert len(cohorts) > 1
    assert sum(int(row[3]) for row in cohorts[1:] if row[2] == "0") == 9


def test_customer_export_streams_the_filtered_list_with_formula_cells_escaped(client):
    evil = CustomerFactory(last_name='=HYPERLINK("http://x.test","Иванова")', first_name="@SUM(A1)")
    customer_tags_add(customer=evil, names=["-vip"])
    CustomerFactory(last_name="Петров")
    response = client.get(reverse("web:customers_csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="customers.csv"'
    everyone = csv_rows(response)
    by_id = {row[0]: row for row in everyone[1:]}
    row = by_id[str(evil.pk)]
    assert row[2].startswith("'=HYPERLINK")
    assert row[3] == "'@SUM(A1)"
    assert row[13] == "'-vip"
    assert len(everyone) == 3


def test_customer_export_applies_the_list_filters(client):
    buyer = CustomerFactory(last_name="Сидорова")
    CustomerFactory(last_name="Смирнова")
    OrderFactory(customer=buyer, total=Decimal("100"))
    customer_summaries_refresh([buyer.pk])
    rows = csv_rows(client.get(reverse("web:customers_csv"), {"status": "buyers"}))
    assert [row[2] for row in rows[1:]] == ["Сидорова"]
    assert rows[1][7] == "1"


@pytest.mark.parametrize("customers", [2, 20])
def test_customer_export_query_count_is_fixed(client, django_assert_num_queries, customers):
    for customer in CustomerFactory.create_batch(customers):
        customer_tags_add(customer=customer, names=["vip"])
    # session, user, customers, their tags (one chunk)
    with django_assert_num_queries(4):
        rows = csv_rows(client.get(reverse("web:customers_csv")))
    assert len(rows) == customers + 1


def test_the_customer_list_links_its_export_with_the_filters(client):
    CustomerFactory()
    body = client.get(reverse("web:customers"), {"status": "leads"}).content.decode()
    assert reverse("web:customers_csv") + "?status=leads" in body


def test_dashboard_needs_a_login():
    response = Client().get(URL)
    assert response.status_code == 302


def test_json_for_charts_is_escaped(client, frozen_time):
    shop(3)
    body = client.get(URL).content.decode()
    start = body.index('id="dashboard-data"')
    payload = body[body.index(">", start) + 1 : body.index("</script>", start)]
    assert json.loads(payload)["text"]["customers"]


def test_kpi_changes_are_points_for_rates_and_colour_by_direction():
    from lifelong.analytics.metrics import Kpi
    from lifelong.web.views.dashboard import _change

    churn = Kpi("churn", "rate", 0.30, 0.25, higher_is_better=False)
    assert churn.change == pytest.approx(0.05) and churn.improved is False
    assert _change(churn).startswith("+5")
    aov = Kpi("average_order", "money", 900.0, 1000.0)
    assert aov.change == pytest.approx(-0.1) and aov.improved is False
    flat = Kpi("frequency", "number", 1.5101, 1.51)
    assert flat.improved is None and _change(flat).startswith("±")
    assert Kpi("active_customers", "count", 10.0, None).change is None


def test_journey_results_show_uplift_against_the_holdout(client, frozen_time):
    from lifelong.journeys.models import Enrollment, JourneyStatus
    from lifelong.journeys.services import journey_create, journey_status_set

    journey = journey_create(
        name="После покупки",
        slug="after",
        definition={
            "trigger": {"kind": "manual"},
            "start": None,
            "goal": {"event": "order_placed", "within_days": 30},
            "holdout_percent": 50,
        },
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    assert journey.current_version is not None
    # 40 treated of whom 20 bought again, 40 in the holdout of whom 8 did.
    for n in range(80):
        holdout = n >= 40
        converted = (n < 20) or (holdout and n < 48)
        Enrollment.objects.create(
            journey=journey,
            version=journey.current_version,
            customer=CustomerFactory.create(),
            key="once",
            holdout=holdout,
            status="converted" if converted else "completed",
            goal_met_at=clock.now() - DAY * 35 if converted else None,
            entered_at=clock.now() - DAY * 40,
        )
    shop(3)
    response = client.get(URL, {"period": "30"})
    [row] = response.context["journeys"]
    texts = row["texts"]
    assert (texts.treated, texts.treated_count) == ("50,0 %", "20 из 40")
    assert (texts.holdout, texts.holdout_count) == ("20,0 %", "8 из 40")
    assert texts.uplift == "+30,0 п. п."
    assert texts.interval == "9,1 … 47,6 п. п."
    assert texts.verdict == "good" and texts.in_progress == ""
    html = response.content.decode()
    assert "После покупки" in html and texts.interval in html
    # The plot puts zero in the middle and the interval right of it.
    assert row["plot"]["low"] > 50
    # The axis ends on round numbers in percentage points, zero in the middle.
    ticks = response.context["journey_ticks"]
    assert [t["label"] for t in ticks] == ["−50", "−25", "0", "+25", "+50"]
    assert ticks[2]["x"] == 50 and ticks[2]["zero"]
    assert "разница, п. п." in html
