"""The points liability report and its CSV export (anyone who reads reports)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.permissions import MANAGE_MARKETING, VIEW
from lifelong.loyalty.liability import Liability, liability_report
from lifelong.web.access import require, staff_user
from lifelong.web.exports import csv_download


def _month_label(liability: Liability, index: int) -> str:
    return formats.date_format(liability.months[index].month, "YEAR_MONTH_FORMAT")


def _chart(liability: Liability) -> dict[str, Any]:
    return {
        "labels": [_month_label(liability, n) for n in range(len(liability.months))],
        "points": [month.points for month in liability.months],
        "text": {"points": _("Points expiring"), "y": _("points")},
    }


@require(VIEW)
def loyalty_liability(request: HttpRequest) -> HttpResponse:
    liability = liability_report()
    rows: list[tuple[str, int, bool]] = []
    if liability.overdue:
        rows.append((_("Expired, not yet swept"), liability.overdue, True))
    rows += [
        (_month_label(liability, n), month.points, False)
        for n, month in enumerate(liability.months)
    ]
    rows.append((_("Later"), liability.later, True))
    rows.append((_("Never expires"), liability.never, True))
    months = [
        {"label": label, "points": points, "edge": edge, "value": liability.month_value(points)}
        for label, points, edge in rows
    ]
    context = {
        "liability": liability,
        "months": months,
        "chart": _chart(liability),
        "can_edit_programme": staff_user(request).can(MANAGE_MARKETING),
    }
    return render(request, "web/loyalty/liability.html", context)


def _rows(liability: Liability) -> Iterator[Sequence[object]]:
    yield [_("line"), _("month"), _("points"), _("value, roubles")]
    balances = liability.balances
    for label, points in (
        (_("available"), balances.available),
        (_("pending"), balances.pending),
        (_("held at checkout"), balances.held),
        (_("outstanding"), balances.outstanding),
        (_("debts (owed by customers)"), balances.debt),
    ):
        yield [label, "", points, liability.month_value(points)]
    yield [
        _("expired, not yet swept"),
        "",
        liability.overdue,
        liability.month_value(liability.overdue),
    ]
    for month in liability.months:
        yield [
            _("expires"),
            month.month.strftime("%Y-%m"),
            month.points,
            liability.month_value(month.points),
        ]
    yield [_("expires later"), "", liability.later, liability.month_value(liability.later)]
    yield [_("never expires"), "", liability.never, liability.month_value(liability.never)]


@require(VIEW)
def loyalty_liability_csv(request: HttpRequest) -> StreamingHttpResponse:
    liability = liability_report()
    day = timezone.localtime(clock.now()).date().isoformat()
    return csv_download(_rows(liability), filename=f"points-liability-{day}.csv")
