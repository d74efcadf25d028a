"""The join address of a club invitation, `/c/club/<token>`.

Opening it hands the customer the club's link: for Telegram a single-use invite link, made
at the first opening (after our own transaction, never inside one) and reused until it
expires; for VK the conversation's link, shown only to customers who qualify. The redirect
goes to the link stored on the invite or the club, never to anything taken from the request.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from lifelong.community.entry import customer_qualifies
from lifelong.community.models import ClubInvite, InviteSource, MemberStatus
from lifelong.community.services import JOIN_LINK_DAYS, JOIN_PURPOSE, ClubError, club_invite_link
from lifelong.community.telegram import BotApiError
from lifelong.web.portal.guard import customer_from_link, customer_page


@never_cache
@require_safe
@customer_page
def join(request: HttpRequest, token: str) -> HttpResponse:
    customer, rest = customer_from_link(
        request, purpose=JOIN_PURPOSE, token=token, lifetime_days=JOIN_LINK_DAYS
    )
    if not rest.isdigit():
        raise Http404
    invite = (
        ClubInvite.objects.select_related("club")
        .filter(club_id=int(rest), customer=customer)
        .first()
    )
    if invite is None:
        raise Http404
    club = invite.club
    member = club.members.filter(customer=customer).first()
    if member is not None and member.status == MemberStatus.JOINED:
        return _page(request, club.title, _("You are already in the club. See you in the chat!"))
    still_welcome = club.active and (
        invite.source == InviteSource.STAFF or customer_qualifies(club=club, customer=customer)
    )
    if not still_welcome or (member is not None and member.status == MemberStatus.REMOVED):
        return _page(
            request,
            club.title,
            _("This invitation is no longer valid. Thank you for your interest in the club."),
        )
    try:
        link = club_invite_link(invite=invite)
    except (BotApiError, ClubError):
        return _page(
            request,
            club.title,
            _("We could not open the club's chat just now. Please try the link again later."),
            status=503,
        )
    return HttpResponseRedirect(link)


def _page(request: HttpRequest, heading: str, line: str, *, status: int = 200) -> HttpResponse:
    return render(
        request, "portal/notice.html", {"heading": heading, "lines": [line]}, status=status
    )
