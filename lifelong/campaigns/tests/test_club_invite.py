"""A campaign inviting to a club: only the customers the club admits and who are not in it
or invited get it, one invitation each, with their own join address; opening it asks the
Bot API for one chat link. The clock is 10:00 UTC (13:00 in Moscow): daytime."""

from __future__ import annotations

import pytest
from django.utils import translation

from lifelong import clock
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import CampaignRecipient, RecipientStatus, SkipReason
from lifelong.campaigns.selectors import campaign_preview
from lifelong.campaigns.services import CampaignError, campaign_schedule
from lifelong.campaigns.tests.conftest import (
    SENT,
    campaign_make,
    channels_set_up,
    customers_make,
    policy_set,
    segment_of,
    template_make,
)
from lifelong.community.models import ClubInvite, ClubMember, MemberStatus
from lifelong.community.services import club_invite_url
from lifelong.community.tests.clubs_setup import LINK, TOKEN, link_created
from lifelong.loyalty.tiers import tier_set_manual
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message, Template

pytestmark = pytest.mark.django_db

BODY = "{{ customer.first_name }}, ждём вас в «{{ club.name }}»: {{ club_invite_url }}"


def _guru(customers, ladder):
    for customer in customers:
        tier_set_manual(
            customer_id=customer.pk,
            tier=ladder["guru"],
            until=clock.now().replace(year=clock.now().year + 1),
            actor=None,
            reason="VIP",
        )


@pytest.fixture
def shop(frozen_time, club, ladder):
    channels_set_up("email")
    policy_set(cap_count=0)
    guru = customers_make(3)
    _guru(guru, ladder)
    others = customers_make(2)  # the entry tier: the club does not admit them
    ClubMember.objects.create(
        club=club, customer=guru[2], status=MemberStatus.JOINED, joined_at=clock.now()
    )
    return {"guru": guru, "others": others}


def _invitation(club, customers):
    template = Template.objects.filter(slug="club-welcome").first() or template_make(
        "club-welcome", body_text=BODY, body_html=f"<p>{BODY}</p>"
    )
    return campaign_make(segment_of(customers), template, club=club)


def test_only_admitted_customers_not_yet_in_the_club_get_one_invitation_each(shop, club):
    anna, vera, _in_club = shop["guru"]
    campaign = _invitation(club, [*shop["guru"], *shop["others"]])
    assert campaign_preview(campaign=campaign).sendable == 2

    campaign_schedule(campaign=campaign, actor=None)
    assert campaigns_due() == 2
    dispatch_due()
    campaigns_due()

    invites = {i.customer_id: i for i in ClubInvite.objects.all()}
    assert set(invites) == {anna.pk, vera.pk}
    assert {i.source for i in invites.values()} == {"campaign"}
    messages = {m.customer_id: m for m in Message.objects.all()}
    assert set(messages) == {anna.pk, vera.pk} and len(SENT) == 2
    for customer in (anna, vera):
        url = club_invite_url(invite=invites[customer.pk])
        assert messages[customer.pk].body_text.endswith(f"«Клуб Гуру»: {url}")
    assert CampaignRecipient.objects.count() == 2

    # A second invitation campaign to the same people finds no one left to invite.
    again = _invitation(club, [*shop["guru"], *shop["others"]])
    assert campaign_preview(campaign=again).audience == 0
    campaign_schedule(campaign=again, actor=None)
    assert campaigns_due() == 0
    assert ClubInvite.objects.count() == 2


def test_opening_the_campaigns_link_asks_the_bot_api_for_one_chat_link(
    shop, club, bot, api, client
):
    anna = shop["guru"][0]
    campaign = _invitation(club, [anna])
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    invite = ClubInvite.objects.get(customer=anna)
    url = club_invite_url(invite=invite)
    assert url in Message.objects.get().body_text
    assert not api.requests  # no link is made before the customer opens it
    api.reply(body=link_created())

    first = client.get(url.removeprefix("http://testserver"))
    second = client.get(url.removeprefix("http://testserver"))

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == LINK
    (request,) = api.at(f"/bot{TOKEN}/createChatInviteLink")
    assert request.json()["member_limit"] == 1


def test_a_club_switched_off_before_the_send_skips_everyone_as_not_admitted(shop, club):
    campaign = _invitation(club, shop["guru"])
    campaign_schedule(campaign=campaign, actor=None)
    club.active = False
    club.save(update_fields=["active"])
    assert campaigns_due() == 0
    assert not Message.objects.exists() and not ClubInvite.objects.exists()
    assert set(CampaignRecipient.objects.values_list("status", "reason")) == {
        (RecipientStatus.SKIPPED, SkipReason.NOT_ADMITTED)
    }


def test_a_template_with_the_join_address_needs_a_club(shop, club):
    template = template_make("club-welcome", body_text=BODY)
    with translation.override("en"), pytest.raises(CampaignError) as refused:
        campaign_make(segment_of(shop["guru"]), template)
    assert refused.value.field == "template"
    club.active = False
    club.save(update_fields=["active"])
    with pytest.raises(CampaignError) as off:
        campaign_make(segment_of(shop["guru"]), template, club=club)
    assert off.value.field == "club"
