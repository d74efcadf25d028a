"""The community lift's counts: members and matched non-members per stratum, set-based.

Who is compared with whom
    A member is a customer who joined any club (the first `joined_at` of their `ClubMember`
    rows; leaving or removal later does not undo it: the comparison is of those who joined).
    Members are grouped by the week they joined, and the week's start (Monday 00:00 UTC) is
    their cohort's anchor. The non-members of a cohort are the customers who had not joined
    any club by the anchor (someone who joins later is a non-member for earlier cohorts).
    Everyone compared had at least one counted order before the anchor.

The matching key, as it stood at the anchor
    - tier: the `to` of the customer's last `tier_changed` event before the anchor, else the
      `from` of their first one after it, else the tier last announced on their row (no event
      at all: it never changed), else none;
    - RFM segment: the quintile scores recomputed from the orders before the anchor over
      every buyer of that moment, mapped to a segment with the same grid the sweeps use
      (`segments.rfm.rfm_segment_of`);
    - tenure: time since the first order (under 3 months, 3-12 months, 1-2 years, longer).

Outcomes over 90 days
    Members from the moment they joined, non-members from the anchor (at most six days
    earlier), so a purchase made just before joining is never counted as the club's:
    - repeat: any counted order in the window;
    - lapsed: at the window's end the silence since the last order passes the at-risk test
      of the lifecycle rules (k x the customer's own mean gap, the default gap for one-order
      customers, never beyond the sleeping threshold): the stage would read at risk,
      sleeping or churned;
    - spend: net spend (total less refunds) of the counted orders in the window.
    Only cohorts whose members' windows have all closed are counted; the members of the
    other cohorts are "in progress".

Cost
    Two small queries over the members, then one statement over anchors x orders: every
    weekly cohort scans the orders once, inside the database, and Python receives one row per
    cohort and stratum, never one per customer.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Min

from lifelong.commerce.models import Order
from lifelong.commerce.services import UNCOUNTED_STATUSES
from lifelong.community.lift import WINDOW_DAYS, Cell, Lift, lift_compute
from lifelong.community.models import ClubMember
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.loyalty.models import CustomerTier
from lifelong.loyalty.tiers import EVENT_TYPE as TIER_EVENT
from lifelong.segments.models import LifecycleRules
from lifelong.segments.rfm import rfm_segment_of
from lifelong.segments.sql import analyze, fetch, scratch_fill, scratch_table, table_of

DAY = 86400.0
WINDOW = WINDOW_DAYS * DAY
# Cohorts are weeks: one pass over the orders per week with members in it.
COHORT = dt.timedelta(days=7)
# Tenure buckets: first order less than this many days before the anchor.
TENURE_DAYS = (91, 365, 730)
TENURE_LABELS = ("<3m", "3-12m", "1-2y", "2y+")
ANCHOR_COLUMNS = "id bigint, start float, stop float, t1 float, t2 float, t3 float"
MEMBER_COLUMNS = "customer_id bigint, joined float, anchor float"


def week_start(moment: dt.datetime) -> dt.datetime:
    """Monday 00:00 UTC of the week holding `moment`."""
    day = moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=day.weekday())


def _epoch(column: str) -> str:
    """Seconds since 1970 of a datetime column in raw SQL (see `segments.stages.Epoch`)."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS double precision)"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _json_text(column: str, key: str) -> str:
    if connection.vendor == "postgresql":
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def _members() -> dict[int, dt.datetime]:
    """Customer id -> the first moment they joined any club (one grouped query)."""
    rows = (
        ClubMember.objects.filter(customer__isnull=False, joined_at__isnull=False)
        .values("customer_id")
        .annotate(first=Min("joined_at"))
        .order_by()
        .values_list("customer_id", "first")
    )
    return {int(cid): first for cid, first in rows}


def _strata_sql(rules: LifecycleRules) -> tuple[str, list[Any]]:
    orders, customers = table_of(Order), table_of(Customer)
    events, tiers = table_of(Event), table_of(CustomerTier)
    placed, occurred = _epoch("o.placed_at"), _epoch("e.occurred_at")
    net = "CAST(o.total - o.refunded_total AS double precision)"
    if connection.vendor != "postgresql":
        net = "CAST(o.total - o.refunded_total AS REAL)"
    window = "(CASE WHEN m.anchor = a.id THEN m.joined ELSE a.start END)"
    window_end = "(CASE WHEN m.anchor = a.id THEN m.joined + %s ELSE a.stop END)"
    in_window = f"{placed} >= {window} AND {placed} < {window_end}"
    before = f"{placed} < a.start"
    gap = "(CASE WHEN p.n_upto >= 2 THEN (p.last_upto - p.first_at) / (p.n_upto - 1) ELSE %s END)"
    at_risk_after = f"(%s * (CASE WHEN {gap} < %s THEN %s ELSE {gap} END))"
    threshold = f"(CASE WHEN {at_risk_after} > %s THEN %s ELSE {at_risk_after} END)"
    tier_event = f"FROM {events} AS e WHERE e.customer_id = p.cid AND e.type = %s"
    quintile = "((RANK() OVER (PARTITION BY p.aid ORDER BY {0}) - 1) * 5 / p.buyers + 1)"
    default_gap, min_gap = rules.default_gap_days * DAY, rules.min_gap_days * DAY
    risk = [float(rules.at_risk_factor), default_gap, min_gap, min_gap, default_gap]
    sleeping = rules.sleeping_after_days * DAY
    threshold_params = [*risk, sleeping, sleeping, *risk]
    sql = f"""
    SELECT q.aid, q.role, q.tier, q.r, q.f, q.m, q.tenure, COUNT(*),
           SUM(q.bought), SUM(q.lapsed), SUM(q.spend), SUM(q.spend * q.spend)
    FROM (
      SELECT p.aid, p.role, p.bought, p.spend,
        CASE WHEN (p.stop - p.last_upto) > {threshold} THEN 1 ELSE 0 END AS lapsed,
        COALESCE(
          (SELECT {_json_text("e.properties", "to")} {tier_event} AND {occurred} < p.start
           ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1),
          (SELECT {_json_text("e.properties", "from")} {tier_event} AND {occurred} >= p.start
           ORDER BY e.occurred_at, e.id LIMIT 1),
          (SELECT t.shown FROM {tiers} AS t WHERE t.customer_id = p.cid), ''
        ) AS tier,
        {quintile.format("p.last_before")} AS r,
        {quintile.format("p.n_before")} AS f,
        {quintile.format("p.spend_before")} AS m,
        CASE WHEN p.first_at >= p.t1 THEN 0 WHEN p.first_at >= p.t2 THEN 1
             WHEN p.first_at >= p.t3 THEN 2 ELSE 3 END AS tenure
      FROM (
        SELECT g.*, COUNT(*) OVER (PARTITION BY g.aid) AS buyers
        FROM (
          SELECT a.id AS aid, o.customer_id AS cid, a.start AS start, a.t1 AS t1, a.t2 AS t2,
            a.t3 AS t3,
            MAX({window_end}) AS stop,
            CASE WHEN m.anchor = a.id THEN 1 WHEN m.joined < a.start THEN 2 ELSE 0 END AS role,
            SUM(CASE WHEN {before} THEN 1 ELSE 0 END) AS n_before,
            MAX(CASE WHEN {before} THEN {placed} END) AS last_before,
            SUM(CASE WHEN {before} THEN {net} ELSE 0 END) AS spend_before,
            MAX(CASE WHEN {in_window} THEN 1 ELSE 0 END) AS bought,
            SUM(CASE WHEN {in_window} THEN {net} ELSE 0 END) AS spend,
            MIN({placed}) AS first_at,
            COUNT(*) AS n_upto,
            MAX({placed}) AS last_upto
          FROM lift_anchors AS a
          JOIN {orders} AS o ON {placed} < a.stop + %s
          JOIN {customers} AS c ON c.id = o.customer_id AND c.merged_into_id IS NULL
          LEFT JOIN lift_members AS m ON m.customer_id = o.customer_id
          WHERE o.status NOT IN (%s, %s) AND {placed} < {window_end}
          GROUP BY a.id, o.customer_id, a.start, a.t1, a.t2, a.t3, m.anchor, m.joined
          HAVING SUM(CASE WHEN {before} THEN 1 ELSE 0 END) > 0
        ) AS g
      ) AS p
    ) AS q
    WHERE q.role < 2
    GROUP BY q.aid, q.role, q.tier, q.r, q.f, q.m, q.tenure
    """  # noqa: S608 - table names and our own SQL only
    # Parameters in the order their placeholders appear.
    params: list[Any] = [
        *threshold_params,
        TIER_EVENT,
        TIER_EVENT,
        WINDOW,  # MAX(window_end)
        WINDOW,  # bought: in_window's window_end
        WINDOW,  # spend: in_window's window_end
        COHORT.total_seconds(),  # join: a member's window ends at most a week after a.stop
        *UNCOUNTED_STATUSES,
        WINDOW,  # WHERE window_end
    ]
    return sql, params


def lift_strata(
    now: dt.datetime,
) -> tuple[dict[tuple[str, str, str], tuple[Cell, Cell]], int]:
    """Closed-window counts per stratum (tier, RFM segment, tenure) and the members in progress."""
    members = _members()
    cohorts: dict[dt.datetime, list[int]] = defaultdict(list)
    for cid, first in members.items():
        cohorts[week_start(first)].append(cid)
    # A cohort counts once its last possible member's window has closed.
    closed = sorted(w for w in cohorts if w + COHORT + dt.timedelta(days=WINDOW_DAYS) <= now)
    in_progress = sum(len(cids) for w, cids in cohorts.items() if w not in set(closed))
    if not closed:
        return {}, in_progress
    anchor_ids = {week: n for n, week in enumerate(closed)}
    rules = LifecycleRules.current()
    sql, params = _strata_sql(rules)
    sums: dict[tuple[str, str, str], tuple[list[float], list[float]]] = defaultdict(
        lambda: ([0.0] * 5, [0.0] * 5)
    )
    with (
        transaction.atomic(),
        scratch_table("lift_anchors", ANCHOR_COLUMNS) as anchors_table,
        scratch_table("lift_members", MEMBER_COLUMNS) as members_table,
    ):
        starts = np.array([w.timestamp() for w in closed])
        scratch_fill(
            anchors_table,
            np.arange(len(closed), dtype=np.int64),
            [starts, starts + WINDOW, *(starts - days * DAY for days in TENURE_DAYS)],
        )
        ids = np.fromiter(members, dtype=np.int64, count=len(members))
        joined = np.array([members[cid].timestamp() for cid in members])
        anchor = np.array(
            [anchor_ids.get(week_start(members[cid]), -1) for cid in members], dtype=np.float64
        )
        scratch_fill(members_table, ids, [joined, anchor])
        analyze(anchors_table)
        analyze(members_table)
        rows = fetch(sql, params)
    for _aid, role, tier, r, f, m, tenure, n, bought, lapsed, spend, spend_sq in rows:
        key = (tier or "", rfm_segment_of(int(r), int(f), int(m)).value, TENURE_LABELS[tenure])
        side = sums[key][0 if int(role) == 1 else 1]
        for i, value in enumerate((n, bought, lapsed, spend or 0.0, spend_sq or 0.0)):
            side[i] += float(value)
    strata = {key: (_cell(members), _cell(others)) for key, (members, others) in sums.items()}
    return strata, in_progress


def _cell(sums: list[float]) -> Cell:
    n, repeat, lapsed, spend, spend_sq = sums
    return Cell(n=int(n), repeat=int(repeat), lapsed=int(lapsed), spend=spend, spend_sq=spend_sq)


def community_lift(now: dt.datetime) -> Lift:
    """Members of the clubs against matched non-members, as of `now` (see the module's doc)."""
    strata, in_progress = lift_strata(now)
    return lift_compute(strata, in_progress=in_progress)
