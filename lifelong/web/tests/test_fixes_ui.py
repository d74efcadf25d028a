"""The Fixes pages through Django's client: roles, form errors, the list in a fixed number of
queries, and a fix's results page."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory
from lifelong.feedback.fixes import fix_announce
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Fix, ItemSource, Theme


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
