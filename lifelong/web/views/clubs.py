"""The club pages: the list of clubs, one club with its members by status (in the club,
invited, left, removed, with when and why), the club's form, and the staff actions: invite a
customer, take a member out, ask Telegram what the bot may do.

Everyone who may view sees the clubs; editing a club, removing a member and checking the bot
is for marketing; inviting is for whoever edits customers. A club page costs a fixed number of
queries whatever the number of members: one grouped count, one page of members with their
invites, one grouped sum of the page's activity.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.permissions import EDIT_CUSTOMERS, MANAGE_MARKETING, VIEW
from lifelong.accounts.services import audit_record
from lifelong.community.models import (
    Club,
    ClubActivity,
    ClubMember,
    ClubText,
    MemberStatus,
    RemovalReason,
)
from lifelong.community.services import (
    TEXTS_KEPT,
    ClubError,
    club_bot_check,
    club_invite_send,
    club_member_remove,
    club_texts_forget,
)
from lifelong.community.telegram import BotApiError
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms_clubs import ClubForm, InviteForm
from lifelong.web.listing import page_number, page_slice

PER_PAGE = 50
ACTIVITY_DAYS = 30
TEXTS_SHOWN = 30
# Newest first within each status: joins for members, the change itself for the others.
ORDER = {
    MemberStatus.JOINED: ("-joined_at", "-pk"),
    MemberStatus.INVITED: ("-created_at", "-pk"),
    MemberStatus.LEFT: ("-left_at", "-pk"),
    MemberStatus.REMOVED: ("-removed_at", "-pk"),
}


@require(VIEW)
def clubs(request: HttpRequest) -> HttpResponse:
    rows = (
        Club.objects.select_related("tier", "segment")
        .annotate(
            in_club=Count("members", filter=Q(members__status=MemberStatus.JOINED)),
            invited=Count("members", filter=Q(members__status=MemberStatus.INVITED)),
        )
        .order_by("-active", "title", "pk")
    )
    return render(
        request,
        "web/community/clubs.html",
        {"clubs": rows, "can_edit": staff_user(request).can(MANAGE_MARKETING)},
    )


@require(VIEW)
def club(request: HttpRequest, pk: int) -> HttpResponse:
    found = object_get(request, Club.objects.select_related("tier", "segment"), pk, VIEW)
    return _club_page(request, found, InviteForm())


def _club_page(
    request: HttpRequest, found: Club, invite_form: InviteForm, status: int = 200
) -> HttpResponse:
    wanted = request.GET.get("status", MemberStatus.JOINED)
    if wanted not in MemberStatus.values:
        wanted = MemberStatus.JOINED
    counts = dict(
        ClubMember.objects.filter(club=found)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    members = (
        ClubMember.objects.filter(club=found, status=wanted)
        .select_related("customer", "invite", "invite__invited_by")
        .order_by(*ORDER[MemberStatus(wanted)])
    )
    page = page_slice(members, number=page_number(request.GET.get("page")), per_page=PER_PAGE)
    now = clock.now()
    activity = _activity(found, [m.pk for m in page.rows], since=now.date())
    user = staff_user(request)
    context: dict[str, Any] = {
        "club": found,
        "page": page,
        "rows": [(m, activity.get(m.pk), _removal_due(found, m)) for m in page.rows],
        "wanted": wanted,
        "tabs": [(value, label, counts.get(value, 0)) for value, label in MemberStatus.choices],
        "activity_days": ACTIVITY_DAYS,
        "invite_form": invite_form,
        "can_edit": user.can(MANAGE_MARKETING),
        "can_invite": user.can(EDIT_CUSTOMERS) and found.active,
        "now": now,
        "texts": [],
        "texts_days": TEXTS_KEPT.days,
    }
    if found.keep_texts and context["can_edit"]:
        # Members' own words: read only by those who may change the club's settings.
        context["texts"] = list(
            ClubText.objects.filter(club=found)
            .select_related("member__customer")
            .order_by("-sent_at", "-pk")[:TEXTS_SHOWN]
        )
    return render(request, "web/community/clubs_club.html", context, status=status)


def _activity(found: Club, member_ids: list[int], *, since: dt.date) -> dict[int, dict[str, int]]:
    """Messages, replies and reactions of the page's members over the last days."""
    if not member_ids:
        return {}
    rows = (
        ClubActivity.objects.filter(
            club=found,
            member_id__in=member_ids,
            day__gt=since - dt.timedelta(days=ACTIVITY_DAYS),
        )
        .order_by()
        .values("member_id")
        .annotate(messages=Sum("messages"), replies=Sum("replies"), reactions=Sum("reactions"))
    )
    return {row["member_id"]: row for row in rows}


def _removal_due(found: Club, member: ClubMember) -> dt.datetime | None:
    if member.status != MemberStatus.JOINED or member.lapsed_at is None:
        return None
    return member.lapsed_at + dt.timedelta(days=found.grace_days)


@require(MANAGE_MARKETING)
def club_new(request: HttpRequest) -> HttpResponse:
    form = ClubForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        made = form.save(commit=False)
        made.created_at = made.updated_at = clock.now()
        made.save()
        audit_record(actor=staff_user(request), action="community.club_create", obj=made)
        messages.success(request, _("The club is saved."))
        return redirect("web:club", pk=made.pk)
    return render(
        request,
        "web/community/clubs_form.html",
        {"form": form, "club": None},
        status=400 if form.errors else 200,
    )


@require(MANAGE_MARKETING)
def club_edit(request: HttpRequest, pk: int) -> HttpResponse:
    found = object_get(request, Club, pk, MANAGE_MARKETING)
    form = ClubForm(request.POST or None, instance=found)
    if request.method == "POST" and form.is_valid():
        changed = {name: str(form.cleaned_data.get(name)) for name in form.changed_data}
        edited = form.save(commit=False)
        edited.updated_at = clock.now()
        edited.save()
        if "keep_texts" in form.changed_data and not edited.keep_texts:
            changed["texts_deleted"] = str(club_texts_forget(club=edited))
        audit_record(
            actor=staff_user(request), action="community.club_edit", obj=edited, changes=changed
        )
        messages.success(request, _("The club is saved."))
        return redirect("web:club", pk=edited.pk)
    return render(
        request,
        "web/community/clubs_form.html",
        {"form": form, "club": found},
        status=400 if form.errors else 200,
    )


@require_POST
@require(EDIT_CUSTOMERS)
def club_invite(request: HttpRequest, pk: int) -> HttpResponse:
    found = object_get(request, Club, pk, EDIT_CUSTOMERS)
    form = InviteForm(request.POST)
    if form.is_valid():
        customer = form.cleaned_data["customer"]
        try:
            club_invite_send(club=found, customer=customer, by=staff_user(request))
        except ClubError as exc:
            form.add_error("customer", exc.message)
        else:
            messages.success(
                request,
                _("The invitation to %(customer)s is queued.") % {"customer": customer},
            )
            return redirect(f"{_club_url(found)}?status=invited")
    return _club_page(request, found, form, status=400)


@require_POST
@require(MANAGE_MARKETING)
def club_member_remove_view(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    found = object_get(request, Club, pk, MANAGE_MARKETING)
    member = object_get(
        request,
        ClubMember.objects.filter(club=found).select_related("club", "customer"),
        member_pk,
        MANAGE_MARKETING,
    )
    try:
        removed = club_member_remove(member=member, reason=RemovalReason.STAFF)
    except (BotApiError, ClubError) as exc:
        messages.error(request, _("Not removed: %(error)s") % {"error": exc})
    else:
        if removed:
            audit_record(
                actor=staff_user(request),
                action="community.member_remove",
                obj=member,
                changes={"club": found.pk, "customer": member.customer_id},
            )
            messages.success(request, _("Taken out of the club."))
    return redirect(_club_url(found))


@require_POST
@require(MANAGE_MARKETING)
def club_bot_check_view(request: HttpRequest, pk: int) -> HttpResponse:
    found = object_get(request, Club, pk, MANAGE_MARKETING)
    try:
        missing = club_bot_check(club=found)
    except (BotApiError, ClubError) as exc:
        messages.error(request, _("The check failed: %(error)s") % {"error": exc})
    else:
        messages.success(
            request,
            _("The bot's rights are checked.")
            if found.on_telegram
            else _("The community's rights are checked."),
        )
        if missing:
            messages.warning(
                request,
                _(
                    "The bot's webhook does not receive %(kinds)s: set it again with "
                    "allowed_updates as the Telegram channel guide shows, or joins, leaves "
                    "and reactions will not reach the club."
                )
                % {"kinds": ", ".join(missing)},
            )
    return redirect(_club_url(found))


def _club_url(found: Club) -> str:
    return reverse("web:club", args=[found.pk])
