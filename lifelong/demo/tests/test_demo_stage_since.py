"""The demo's stage dates come from its history, and rebuild identically for the same seed.

The demo is classified in one run after it is built; "since" used to be that day for every
customer. Now each stage dates from the moment its rule first held in the generated history.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong import clock
from lifelong.demo.generator import demo_build
from lifelong.segments.models import CustomerState, Stage
from lifelong.segments.services import stages_refresh

pytestmark = pytest.mark.django_db
SMALL = 200


def stage_dates() -> list[tuple[str | None, str, dt.datetime | None]]:
    return list(
        CustomerState.objects.order_by("customer__external_id").values_list(
            "customer__external_id", "stage", "stage_since"
        )
    )


def test_the_demo_cards_show_believable_since_dates_the_same_on_every_build(frozen_time):
    demo_build(customers=SMALL, seed=11)
    stages_refresh()
    first = stage_dates()
    now = clock.now()
    buyers = [
        (stage, since) for _id, stage, since in first if stage != Stage.LEAD and since is not None
    ]
    assert len(buyers) > SMALL // 2
    assert all(since <= now for _stage, since in buyers)
    # Spread over the history, not the day of the build.
    assert sum(since.date() == now.date() for _stage, since in buyers) < len(buyers) // 10
    assert len({since.date() for _stage, since in buyers}) > len(buyers) // 3
    churned = [since for stage, since in buyers if stage == Stage.CHURNED]
    assert churned and all((now - since).days < 2000 for since in churned)

    demo_build(customers=SMALL, seed=11)
    stages_refresh()
    assert stage_dates() == first
