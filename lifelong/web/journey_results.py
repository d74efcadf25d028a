"""A journey's results as the pages print them, and the dashboard's forest plot.

The journey list, the journey's page and the dashboard print these same strings, made
from the same `Results`, so the three can only show one figure per journey. A figure
with nothing behind it is "—", never a sentence with a hole in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _

from lifelong.journeys.models import Journey
from lifelong.journeys.uplift import Arm, Results

DASH = "—"
MINUS = "−"  # U+2212: a hyphen reads as a dash next to a number


@dataclass(frozen=True)
class ResultTexts:
    treated: str  # "12.5 %" or "—"
    treated_count: str  # "5 of 40", or "" with no closed window
    holdout: str
    holdout_count: str
    uplift: str  # "+3.0 pp" or "—"
    interval: str  # "−1.2 … 7.2 pp", or ""
    # "good" or "bad" when the interval excludes zero (closed windows only), else "".
    verdict: str
    in_progress: str  # "in progress: 12", or "" when every window has closed


def _number(value: float, sign: bool = False, places: int = 1) -> str:
    value = round(value, places)
    text = formats.number_format(abs(value), decimal_pos=places)
    if value < 0:
        return MINUS + text
    return ("+" if sign and value > 0 else "") + text


def _rate(arm: Arm) -> tuple[str, str]:
    if arm.percent is None:
        return DASH, ""
    count = _("%(converted)s of %(n)s") % {
        "converted": formats.number_format(arm.converted, force_grouping=True),
        "n": formats.number_format(arm.n, force_grouping=True),
    }
    return f"{_number(arm.percent)} %", count


def result_texts(results: Results) -> ResultTexts:
    treated, treated_count = _rate(results.treated)
    holdout, holdout_count = _rate(results.holdout)
    uplift, interval, verdict = DASH, "", ""
    if results.uplift is not None:
        u = results.uplift
        uplift = f"{_number(u.diff_pp, sign=True)} {_('pp')}"
        interval = f"{_number(u.low_pp)} … {_number(u.high_pp)} {_('pp')}"
        if u.significant:
            verdict = "good" if u.diff > 0 else "bad"
    in_progress = ""
    if results.in_progress:
        in_progress = _("in progress: %(n)s") % {
            "n": formats.number_format(results.in_progress, force_grouping=True)
        }
    return ResultTexts(
        treated=treated,
        treated_count=treated_count,
        holdout=holdout,
        holdout_count=holdout_count,
        uplift=uplift,
        interval=interval,
        verdict=verdict,
        in_progress=in_progress,
    )


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 3, 4, 5, 6, 8 × 10^k at or above `value`: round axis ends."""
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 3, 4, 5, 6, 8, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # unreachable: 10 × power is always enough


def forest_rows(
    entries: list[tuple[Journey, Results]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of the forest plot and the ticks of its axis, in pp, zero in the middle.

    The scale is symmetric around zero (no effect), ends on a round number and is wide
    enough for every interval; positions are percentages of the plot's width.
    """
    reach = _nice_ceiling(
        max(
            [
                5.0,
                *(
                    max(abs(r.uplift.low_pp), abs(r.uplift.high_pp))
                    for _j, r in entries
                    if r.uplift is not None
                ),
            ]
        )
    )

    def position(pp: float) -> float:
        return 50 + 50 * pp / reach

    rows = []
    for journey, results in entries:
        row: dict[str, Any] = {"journey": journey, "texts": result_texts(results), "plot": None}
        if results.uplift is not None:
            u = results.uplift
            low, high = position(u.low_pp), position(u.high_pp)
            row["plot"] = {"low": low, "width": high - low, "diff": position(u.diff_pp)}
        rows.append(row)
    ticks = [
        {
            "x": position(pp),
            # Whole numbers but for the half of a 5 (2.5) or of a 1 (0.5).
            "label": _number(pp, sign=True, places=0 if pp == int(pp) else 1),
            "zero": not pp,
        }
        for pp in (-reach, -reach / 2, 0.0, reach / 2, reach)
    ]
    return rows, ticks
