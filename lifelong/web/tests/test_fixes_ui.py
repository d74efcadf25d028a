"""The Fixes pages through Django's client: roles, form errors, the list in a fixed number of
queries, and a fix's results page."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong import clock
from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.feedback.fixes import fix_announce
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Fix, FixRecipient, ItemSource, Theme


def announce(note: str) -> Fix:
    return fix_announce(
        theme=Theme.objects.get(slug="delivery"),
        note=note,
        subject="s",
        text="{note}",
        holdout_percent=10,
        actor=None,
    )


def test_support_and_the_analyst_may_not_open_the_fixes(support, analyst):
    for user in (support, analyst):
        assert client_for(user).get("/feedback/fixes/").status_code == 403
        assert client_for(user).post("/feedback/fixes/", {"confirm": "1"}).status_code == 403


def test_a_bad_form_announces_nothing(marketer):
    theme = Theme.objects.get(slug="delivery")
    response = client_for(marketer).post(
        "/feedback/fixes/",
        {
            "theme": theme.pk,
            "note": "",
            "subject": "s",
            "text": "t",
            "holdout_percent": 80,
            "since": "2026-03-02",
            "until": "2026-03-01",
            "confirm": "1",
        },
    )
    assert response.status_code == 400 and not Fix.objects.exists()


def test_the_list_reads_in_the_same_queries_for_one_fix_or_five(marketer, owner):
    customer = CustomerFactory.create()
    item_record(source=ItemSource.MESSAGE, source_key="a", customer=customer, text="Курьер опоздал")
    client = client_for(marketer)
    announce("one")
    with CaptureQueriesContext(connection) as one:
        assert client.get("/feedback/fixes/").status_code == 200
    for n in range(4):
        announce(f"more {n}")
    with CaptureQueriesContext(connection) as five:
        page = client.get("/feedback/fixes/")
    assert len(one.captured_queries) == len(five.captured_queries)
    assert page.content.decode().count("/feedback/fixes/") >= 5
    fix = Fix.objects.first()
    assert fix is not None
    detail = client_for(owner).get(f"/feedback/fixes/{fix.pk}/")
    assert detail.status_code == 200 and 'id="fix-uplift"' in detail.content.decode()
    assert client_for(owner).get("/feedback/fixes/999999/").status_code == 404


def test_the_results_page_shows_the_difference_with_its_interval(owner, frozen_time):
    fix = Fix.objects.create(
        theme=Theme.objects.get(slug="delivery"), note="быстрее", subject="s", text="t"
    )
    start = clock.now() - dt.timedelta(days=40)
    for n in range(8):
        customer = CustomerFactory.create()
        FixRecipient.objects.create(
            fix=fix, customer=customer, holdout=n >= 4, channel="email", created_at=start
        )
        if n in (0, 1, 2, 4):  # 3 of 4 sent, 1 of 4 held back bought again
            OrderFactory.create(customer=customer, placed_at=start + dt.timedelta(days=3))
    client = client_for(owner)
    client.cookies["django_language"] = "ru"
    page = client.get(f"/feedback/fixes/{fix.pk}/").content.decode()
    assert (
        "Разница в доле купивших снова: 0,500 (доверительный интервал 95 %: -0,135 … 0,789)" in page
    )
    assert "Интервал включает ноль" in page
