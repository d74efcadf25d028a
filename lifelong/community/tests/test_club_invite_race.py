"""Four workers inviting the same customer at once (a journey, a campaign and two clicks on the
join address) end with one invite and one usable Telegram link: the loser's link is revoked."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from lifelong import clock
from lifelong.community.models import ClubInvite, InviteSource
from lifelong.community.services import club_invite_link, club_invite_prepare
from lifelong.community.tests.clubs_setup import (
    TOKEN,
    bot_set_up,
    club_make,
    ladder_make,
    link_created,
)
from lifelong.factories import CustomerFactory
from lifelong.loyalty.tiers import tier_set_manual
from lifelong.messaging.tests.fake_api import FakeApi, Reply


def _together(work: Callable[[], object], n: int = 4) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_invitations_make_one_invite_and_one_link(settings):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so the race needs PostgreSQL")
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)
    ladder = ladder_make()
    club = club_make(ladder["guru"])
    anna = CustomerFactory.create()
    tier_set_manual(
        customer_id=anna.pk,
        tier=ladder["guru"],
        until=clock.now().replace(year=clock.now().year + 1),
        actor=None,
        reason="VIP",
    )
    with FakeApi() as api:
        api.default.body = {"ok": True, "result": True}
        bot_set_up(api.url)
        invites = _together(
            lambda: club_invite_prepare(club=club, customer=anna, source=InviteSource.JOURNEY)
        )
        assert ClubInvite.objects.count() == 1
        assert {i.pk for i in invites if isinstance(i, ClubInvite)} == {ClubInvite.objects.get().pk}

        # Each createChatInviteLink answers with its own link, slowly enough to overlap.
        for n in range(4):
            api.replies.append(Reply(body=link_created(f"https://t.me/+race{n}"), delay=0.2))
        # Each worker reads the invite itself, as each request does.
        links = _together(
            lambda: club_invite_link(invite=ClubInvite.objects.select_related("club").get())
        )

        stored = ClubInvite.objects.get().link
        assert set(links) == {stored}
        made = len(api.at(f"/bot{TOKEN}/createChatInviteLink"))
        revoked = [r.json()["invite_link"] for r in api.at(f"/bot{TOKEN}/revokeChatInviteLink")]
        assert made - 1 == len(revoked) and stored not in revoked
