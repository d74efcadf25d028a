"""Feedback insights benchmark: each figure of lifelong.feedback.insights on N survey answers,
against a fair floor, on PostgreSQL.

    LIFELONG_DATABASE_URL=... .venv/bin/python bench/insights_bench.py
    LIFELONG_DATABASE_URL=... .venv/bin/python bench/insights_bench.py --invites 1000000

Needs a migrated database whose survey tables are empty (it refuses otherwise); it writes N
invites spread over the last year, answers nine in ten (scores 0–10, themes, a comment on
every third), times every figure warm, and deletes what it wrote.

floor: one scan of the same answers that sums them (`count(*)`, `sum(score)` over the year):
       the least any figure over all of them costs;
ours:  each insights function as the Insights page calls it.
Prints seconds of each and ours / floor. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from lifelong.factories import CustomerFactory  # noqa: E402
from lifelong.feedback import insights  # noqa: E402
from lifelong.feedback.models import Invite, Response, Survey  # noqa: E402

INVITES = """
INSERT INTO feedback_invite (survey_id, customer_id, dedupe_key, channel, node, created_at,
    expires_at)
SELECT %s, %s, 'bench:' || g, 'email', '',
       now() - (g %% 365) * interval '1 day' - interval '1 hour',
       now() - (g %% 365) * interval '1 day' + interval '14 day'
FROM generate_series(1, %s) g
"""
RESPONSES = """
INSERT INTO feedback_response (invite_id, survey_id, customer_id, score, comment, themes,
    sentiment, submitted_at, updated_at, editable_until)
SELECT i.id, i.survey_id, i.customer_id, (i.id * 7) %% 11,
       CASE WHEN i.id %% 3 = 0 THEN 'Курьер опоздал на ' || (i.id %% 50) || ' минут' ELSE '' END,
       (ARRAY['["delivery"]', '["price", "quality"]', '[]', '["support"]'])[1 + i.id %% 4]::jsonb,
       '', i.created_at + interval '1 hour', i.created_at + interval '1 hour',
       i.created_at + interval '1 day'
FROM feedback_invite i WHERE i.survey_id = %s AND i.id %% 10 <> 0
"""
FLOOR = "SELECT count(*), sum(score) FROM feedback_response WHERE submitted_at >= %s"


def timed(run: Callable[[], object]) -> float:
    run()
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invites", type=int, default=200_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("needs PostgreSQL: set LIFELONG_DATABASE_URL")
    if Response.objects.exists() or Invite.objects.exists():
        sys.exit("the survey tables are not empty: use a database of its own")
    survey = Survey.objects.create(name="NPS bench", kind="nps")
    customer = CustomerFactory.create(external_id="insights-bench")
    try:
        with connection.cursor() as cursor:
            cursor.execute(INVITES, [survey.pk, customer.pk, args.invites])
            cursor.execute(RESPONSES, [survey.pk])
            cursor.execute("ANALYZE feedback_invite")
            cursor.execute("ANALYZE feedback_response")

        def floor() -> None:
            with connection.cursor() as cursor:
                cursor.execute(FLOOR, [timezone.now() - dt.timedelta(days=365)])
                cursor.fetchall()

        base = timed(floor)
        print(f"{Response.objects.count():,} answers; floor (one scan of the year) {base:.2f} s")
        for name, run in (
            ("nps_by_period week", lambda: insights.nps_by_period(period="week")),
            ("nps_by_period month", lambda: insights.nps_by_period(period="month")),
            ("csat_by_period week", lambda: insights.csat_by_period(period="week")),
            ("response_rates week", lambda: insights.response_rates(period="week")),
            ("nps_by_segment", insights.nps_by_segment),
            ("nps_by_tier", insights.nps_by_tier),
            ("nps_by_journey", insights.nps_by_journey),
            ("weekly_digest", insights.weekly_digest),
        ):
            seconds = timed(run)
            print(f"{name:22} {seconds:6.2f} s  {seconds / base:5.2f} × floor")
    finally:
        # Plain SQL: the rows were written that way, and nothing refers to them.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM feedback_response WHERE survey_id = %s", [survey.pk])
            cursor.execute("DELETE FROM feedback_invite WHERE survey_id = %s", [survey.pk])
        Survey.objects.filter(pk=survey.pk).delete()
        customer.delete()


if __name__ == "__main__":
    main()
