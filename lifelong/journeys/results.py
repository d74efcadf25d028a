"""A journey's results: goal conversion per arm and the uplift against the holdout.

One function, `journeys_results`, feeds every page that shows a journey's figures (the
list, the journey's page, the dashboard), so they cannot disagree.

Only enrollments whose goal window has closed are counted, in both arms alike. Counting
an early converter at once but a non-converter only when its window closes would put
every young journey near 100 %; the enrollments still inside their window are returned
apart, as "in progress". The arithmetic on the counts is `lifelong.journeys.uplift`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Count, F, Q

from lifelong.journeys.models import Enrollment, EnrollmentStatus, JourneyStatus, JourneyVersion
from lifelong.journeys.uplift import NO_GOAL, Arm, Results, results_compute


def journeys_results(journey_ids: list[int], now: dt.datetime) -> dict[int, Results]:
    """Results of these journeys as of `now`: two queries, whatever their number.

    Per version (each has its own goal window of `days`):
    - closed: entered at least `days` before `now`. An archived journey stops watching
      goals when archived, so its cut-off is the archiving time, and the enrollments
      whose window was still open then are left out for good, not shown as in progress;
    - converted: closed and reached the goal inside the window (the reactor marks no
      later goal, the bound only keeps the rule in one place);
    - in progress: the window is still open;
    - an enrollment cancelled before its window closed (a merged duplicate) stopped
      being watched, so it is in neither count.
    A journey without a goal in any version gets `NO_GOAL`.
    """
    groups: dict[tuple[dt.datetime, int, bool], list[int]] = defaultdict(list)
    with_goal: set[int] = set()
    for pk, journey_id, days, status, updated_at in (
        JourneyVersion.objects.filter(journey_id__in=journey_ids)
        .values_list(
            "pk",
            "journey_id",
            "definition__goal__within_days",
            "journey__status",
            "journey__updated_at",
        )
        .order_by("pk")
    ):
        if days is None:
            continue
        archived = status == JourneyStatus.ARCHIVED
        cutoff = min(now, updated_at) if archived else now
        groups[cutoff, int(days), archived].append(pk)
        with_goal.add(journey_id)
    results = {pk: NO_GOAL for pk in journey_ids}
    if not with_goal:
        return results
    closed, converted, still_open = Q(pk__in=[]), Q(pk__in=[]), Q(pk__in=[])
    for (cutoff, days, archived), versions in groups.items():
        window = dt.timedelta(days=days)
        window_end = F("entered_at") + window
        in_group = Q(version_id__in=versions)
        watched = ~Q(status=EnrollmentStatus.CANCELLED, ended_at__lt=window_end)
        closed_here = in_group & Q(entered_at__lte=cutoff - window) & watched
        closed |= closed_here
        converted |= closed_here & Q(goal_met_at__isnull=False, goal_met_at__lte=window_end)
        if not archived:
            still_open |= (
                in_group & Q(entered_at__gt=cutoff - window) & ~Q(status=EnrollmentStatus.CANCELLED)
            )
    counts: dict[tuple[int, bool], dict[str, int]] = {
        (row["journey_id"], row["holdout"]): row
        for row in Enrollment.objects.filter(journey_id__in=with_goal)
        .values("journey_id", "holdout")
        .annotate(
            closed=Count("pk", filter=closed),
            converted=Count("pk", filter=converted),
            open=Count("pk", filter=still_open),
        )
        .order_by()
    }
    empty = {"closed": 0, "converted": 0, "open": 0}
    for journey_id in with_goal:
        treated = counts.get((journey_id, False), empty)
        holdout = counts.get((journey_id, True), empty)
        results[journey_id] = results_compute(
            Arm(n=treated["closed"], converted=treated["converted"]),
            Arm(n=holdout["closed"], converted=holdout["converted"]),
            treated_open=treated["open"],
            holdout_open=holdout["open"],
        )
    return results
