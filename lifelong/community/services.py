"""Clubs: who may join, invite links, members matched from the bot's updates, removal.

Public functions (keyword-only; the Bot API is called only outside transactions):
- `entry.customers_qualifying(club)`: a queryset of the customers the club's entry rule
  admits now; `entry.customer_qualifies(club=, customer=)`: the same test for one customer.
- `club_invite_prepare(club=, customer=, source=, invited_by=None)`: claims the customer's one
  invite row (a retry returns the same row); None when they do not qualify or are already
  in. No network.
- `club_invite_url(invite=)`: our signed join address for the invite; journeys and campaigns
  put it in messages as the template variable `club_invite_url`.
- `club_invite_context(club=, customer=, source=)`: prepare + url as a template context
  ({"club_invite_url", "club": {"name", "url"}}), or None: what a campaign calls per recipient.
- `club_invite_link(invite=)`: the Telegram single-use link behind the join address, asked of
  the Bot API once (createChatInviteLink, member_limit 1, expire_date) and reused until it
  expires; a VK club's reusable link. Outside transactions only.
- `club_invite_send(club=, customer=, by=)`: a staff invitation: prepare the invite and queue
  the club's invitation text with the join address through the outbox.
- `updates.telegram_update_receive(update=)`: a group, supergroup or channel update from the
  bot's webhook (chat_member, my_chat_member, message, message_reaction,
  message_reaction_count); applied once per update_id.
- `vk_updates.vk_event_receive(event=)`: a VK Callback API message_new event from a
  conversation (joins, leaves, members' messages); applied once per event_id.
- `club_members_sweep()`: marks members who stopped qualifying, removes those past the club's
  grace period (Telegram: ban + unban; VK: messages.removeChatUser while the community is an
  admin of the conversation), with the polite message and event community_removed.
- `club_member_remove(member=, reason=)`: removes one member now (staff action too).
- `club_texts_forget(club=)`: deletes the texts kept while `keep_texts` was on; the sweep
  deletes any kept text older than `TEXTS_KEPT` (90 days).
- `club_bot_check(club=)`: asks getChatMember whether the bot is an admin with the rights a
  club needs, and stores the answer on the club; getWebhookInfo says which update kinds
  (chat_member, message_reaction...) the webhook still has to be set up for. For a VK club,
  messages.getConversationsById says whether the community administers the conversation.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.community import telegram, vk
from lifelong.community.entry import customer_qualifies, customers_qualifying
from lifelong.community.models import (
    BotStatus,
    Club,
    ClubInvite,
    ClubMember,
    ClubText,
    ClubUpdate,
    EntryRule,
    InviteSource,
    MemberStatus,
    RemovalReason,
)
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.events.services import event_record
from lifelong.lib.errors import DomainError
from lifelong.lib.signing import absolute_url, token_make
from lifelong.messaging.models import ChannelConfig, Message
from lifelong.messaging.services import address_of, channel_choose, message_enqueue

log = logging.getLogger(__name__)

JOIN_PURPOSE = "club"
# The join address in a message lives as long as a campaign's message is worth acting on;
# the Telegram link behind it is made when it is opened and lives `Club.invite_days`.
JOIN_LINK_DAYS = 60
# A link this close to its expiry is replaced rather than handed out.
LINK_MARGIN = dt.timedelta(hours=1)
BATCH_SIZE = 200
UPDATES_KEPT = dt.timedelta(days=7)
# Members' texts (kept only while a club's keep_texts is on) are deleted after this long.
TEXTS_KEPT = dt.timedelta(days=90)
REASON_BY_RULE = {
    EntryRule.TIER: RemovalReason.TIER,
    EntryRule.SEGMENT: RemovalReason.SEGMENT,
    EntryRule.OPEN: RemovalReason.UNLINKED,
    EntryRule.STAFF: RemovalReason.STAFF,
}


class ClubError(DomainError):
    """A club action the service refuses."""


# Invites


def club_invite_prepare(
    *, club: Club, customer: Customer, source: str, invited_by: User | None = None
) -> ClubInvite | None:
    """The customer's invite to the club, claimed once; None when the club is off, the
    customer does not qualify (a staff invitation always does) or is in the club already.

    A customer who left or was removed and is invited again gets the same row back with its
    old link cleared, so the next opening asks Telegram for a fresh one.
    """
    if not club.active:
        return None
    if source != InviteSource.STAFF and not customer_qualifies(club=club, customer=customer):
        return None
    member = ClubMember.objects.filter(club=club, customer=customer).first()
    if member is not None and member.status == MemberStatus.JOINED:
        return None
    now = clock.now()
    with transaction.atomic():
        invite = ClubInvite.objects.select_for_update().filter(club=club, customer=customer).first()
        if invite is None:
            try:
                with transaction.atomic():
                    invite = ClubInvite.objects.create(
                        club=club,
                        customer=customer,
                        source=source,
                        invited_by=invited_by,
                        created_at=now,
                    )
            except IntegrityError:
                # A concurrent call claimed it first: that row is the one.
                invite = ClubInvite.objects.select_for_update().get(club=club, customer=customer)
        elif invite.used_at is not None or invite.revoked_at is not None:
            invite.link, invite.used_at, invite.expires_at, invite.created_at = "", None, None, now
            invite.error, invite.revoked_at = "", None
            if source == InviteSource.STAFF:
                invite.source, invite.invited_by = source, invited_by
            invite.save(
                update_fields=[
                    "link",
                    "used_at",
                    "expires_at",
                    "created_at",
                    "error",
                    "revoked_at",
                    "source",
                    "invited_by",
                ]
            )
        elif source == InviteSource.STAFF and invite.source != InviteSource.STAFF:
            # Staff vouching for a customer makes the invitation theirs (it counts for a
            # staff-only club from now on).
            invite.source, invite.invited_by = source, invited_by
            invite.save(update_fields=["source", "invited_by"])
        if member is None:
            ClubMember.objects.get_or_create(
                club=club,
                customer=customer,
                defaults={"status": MemberStatus.INVITED, "invite": invite, "created_at": now},
            )
        elif member.status != MemberStatus.INVITED:
            ClubMember.objects.filter(pk=member.pk).update(
                status=MemberStatus.INVITED, invite=invite, lapsed_at=None, updated_at=now
            )
    return invite


def club_invite_url(*, invite: ClubInvite) -> str:
    """The join address for messages: our page, which hands out the club's link when opened."""
    token = token_make(purpose=JOIN_PURPOSE, value=f"{invite.customer_id}:{invite.club_id}")
    return absolute_url(reverse("portal:club_join", args=[token]))


def club_invite_context(
    *, club: Club, customer: Customer, source: str = InviteSource.CAMPAIGN
) -> dict[str, Any] | None:
    """What a message inviting the customer to the club renders with: `club_invite_url` and
    `club` ({"name", "url"}), for a campaign's or a journey's template; None when the customer
    is not to be invited (not admitted, already in, or the club is off)."""
    invite = club_invite_prepare(club=club, customer=customer, source=source)
    if invite is None:
        return None
    url = club_invite_url(invite=invite)
    return {"club_invite_url": url, "club": {"name": club.title, "url": url}}


def club_invite_link(*, invite: ClubInvite) -> str:
    """The link into the chat behind an invite, asked of the Bot API once and reused.

    Outside transactions: two openings at once may both ask Telegram, but only the first
    link is stored (a conditional update) and the loser's is revoked, so one usable link
    exists per customer. An expired link, or one already used (its one place is taken: the
    customer left and is coming back), is revoked and replaced.
    """
    club = invite.club
    if not club.on_telegram:
        if not club.vk_link:
            raise ClubError(_("The club has no link to its VK conversation yet."))
        return club.vk_link
    now = clock.now()
    fresh = invite.expires_at is not None and invite.expires_at > now + LINK_MARGIN
    if invite.link and invite.used_at is None and fresh:
        return invite.link
    expires_at = now + dt.timedelta(days=max(club.invite_days, 1))
    try:
        link = telegram.invite_link_create(
            chat_id=club.chat_id, name=f"Lifelong #{invite.pk}", expires_at=expires_at
        )
    except telegram.BotApiError as exc:
        ClubInvite.objects.filter(pk=invite.pk).update(error=str(exc)[:300])
        raise
    stored = ClubInvite.objects.filter(pk=invite.pk, link=invite.link).update(
        link=link, expires_at=expires_at, error="", used_at=None
    )
    if not stored:
        # Another opening stored its link first: ours is withdrawn, theirs is the one.
        _revoke_quietly(club, link)
        invite.refresh_from_db()
        return invite.link
    if invite.link:
        _revoke_quietly(club, invite.link)
    invite.link, invite.expires_at, invite.used_at = link, expires_at, None
    return link


def _revoke_quietly(club: Club, link: str) -> None:
    # Best effort: an expired link cannot let anyone in, and a duplicate one stays unknown to
    # everyone (it was never stored or sent); revoking only tidies the chat's link list.
    try:
        telegram.invite_link_revoke(chat_id=club.chat_id, link=link)
    except telegram.BotApiError:
        log.info("club_link_revoke_failed", extra={"club": club.pk})


def club_invite_send(*, club: Club, customer: Customer, by: User) -> Message:
    """Staff invite a customer: the invite is claimed and the club's invitation text with the
    join address goes through the outbox on a channel that reaches the customer."""
    channel = channel_choose(customer=customer, purpose=Purpose.MARKETING)
    if channel is None:
        raise ClubError(
            _("No channel reaches this customer with their consent to receive invitations.")
        )
    invite = club_invite_prepare(
        club=club, customer=customer, source=InviteSource.STAFF, invited_by=by
    )
    if invite is None:
        raise ClubError(_("The customer is already in the club, or the club is switched off."))
    with translation.override(customer.language or "ru"):
        text = club.invite_text.strip() or _(
            "Hello! We are inviting you to «%(club)s», our club for the customers closest to us."
        ) % {"club": club.title}
        text = f"{text}\n\n{_('Join here: %(url)s') % {'url': club_invite_url(invite=invite)}}"
    message, _created = message_enqueue(
        customer=customer,
        dedupe_key=f"club-invite:{invite.pk}:{int(invite.created_at.timestamp())}",
        channel=channel,
        purpose=Purpose.MARKETING,
        subject=club.title,
        text=text,
    )
    return message


# Removal


def club_members_sweep(*, batch_size: int = BATCH_SIZE) -> int:
    """Every active club: mark members who stopped qualifying, forgive those who qualify
    again, and remove the ones whose grace period is over. Returns how many were removed.

    Two set-based updates per club (the qualifying customers as a subquery), then at most
    `batch_size` removals per club per run, oldest lapse first; the rest wait for the next
    run. Members we could not match to a customer are never removed by the sweep.
    """
    now = clock.now()
    _merges_follow(batch_size)
    removed = 0
    for club in Club.objects.filter(active=True).select_related("tier").order_by("pk"):
        qualifying = customers_qualifying(club).values("pk")
        joined = ClubMember.objects.filter(club=club, status=MemberStatus.JOINED)
        joined.filter(lapsed_at__isnull=True, customer__isnull=False).exclude(
            customer_id__in=qualifying
        ).update(lapsed_at=now, updated_at=now)
        joined.filter(lapsed_at__isnull=False, customer_id__in=qualifying).update(
            lapsed_at=None, updated_at=now
        )
        if not club.on_telegram and club.bot_status in (BotStatus.MEMBER, BotStatus.GONE):
            # VK refused: the community is no admin of the conversation. Marked members wait
            # until staff make it one and check again on the club page.
            continue
        due = list(
            joined.filter(lapsed_at__lte=now - dt.timedelta(days=club.grace_days))
            .select_related("club", "customer")
            .order_by("lapsed_at", "pk")[:batch_size]
        )
        for member in due:
            try:
                if club_member_remove(member=member, reason=REASON_BY_RULE[EntryRule(club.entry)]):
                    removed += 1
            except (telegram.BotApiError, ClubError) as exc:
                # Kept as a member and tried again next run: the bot may get its rights back.
                log.warning("club_member_remove_failed", extra={"club": club.pk, "error": str(exc)})
    ClubUpdate.objects.filter(received_at__lt=now - UPDATES_KEPT).delete()
    for club_id in Club.objects.order_by("pk").values_list("pk", flat=True):
        # Per club, along the (club, -sent_at) index.
        ClubText.objects.filter(club_id=club_id, sent_at__lt=now - TEXTS_KEPT).delete()
    return removed


def _merges_follow(batch_size: int) -> None:
    """Members and invitations of a merged duplicate move to the surviving customer, so a
    merge never reads as "no longer qualifies". Where the survivor has its own row in the
    club, the row of whoever is in the chat keeps the customer and the other keeps only its
    counted history. Merges are rare: a small batch per run, row by row."""
    stale = (
        ClubMember.objects.filter(customer__merged_into__isnull=False)
        .select_related("customer")
        .order_by("pk")[:batch_size]
    )
    for member in stale:
        survivor_id = member.customer.merged_into_id if member.customer else None
        assert survivor_id is not None  # the filter's own condition
        with transaction.atomic():
            theirs = ClubMember.objects.filter(club_id=member.club_id, customer_id=survivor_id)
            taken = theirs.first()
            if taken is not None and member.status == MemberStatus.JOINED:
                theirs.update(customer=None)
                taken = None
            ClubMember.objects.filter(pk=member.pk).update(
                customer_id=survivor_id if taken is None else None, updated_at=clock.now()
            )
    for invite in (
        ClubInvite.objects.filter(customer__merged_into__isnull=False)
        .select_related("customer")
        .order_by("pk")[:batch_size]
    ):
        survivor_id = invite.customer.merged_into_id
        assert survivor_id is not None  # the filter's own condition
        if not ClubInvite.objects.filter(club_id=invite.club_id, customer_id=survivor_id).exists():
            ClubInvite.objects.filter(pk=invite.pk).update(customer_id=survivor_id)
        else:
            # The survivor was invited too: the duplicate's invitation is withdrawn.
            ClubInvite.objects.filter(pk=invite.pk).delete()


def club_member_remove(*, member: ClubMember, reason: str) -> bool:
    """Take a member out of the club's chat now, then record it: status removed with the
    reason, the event community_removed and the club's polite message through the outbox.

    The Bot API call comes first and outside any transaction (ban + unban is harmless to
    repeat); the record is a conditional update, so two sweeps racing write it once.
    Returns False when someone else recorded it first.
    """
    club = member.club
    if member.status == MemberStatus.INVITED:
        # Not in the chat yet: withdrawing the invitation is revoking its link.
        invite = member.invite
        if invite is not None and invite.link and club.on_telegram:
            _revoke_quietly(club, invite.link)
            ClubInvite.objects.filter(pk=invite.pk).update(revoked_at=clock.now())
    elif member.user_id is not None:
        if club.on_telegram:
            telegram.member_remove(chat_id=club.chat_id, user_id=member.user_id)
        else:
            _vk_remove(club, member.user_id)
    now = clock.now()
    with transaction.atomic():
        changed = ClubMember.objects.filter(
            pk=member.pk, status__in=(MemberStatus.JOINED, MemberStatus.INVITED)
        ).update(
            status=MemberStatus.REMOVED,
            removed_at=now,
            reason=reason,
            lapsed_at=None,
            updated_at=now,
        )
        if not changed:
            return False
        was_in = member.status == MemberStatus.JOINED
        member.status, member.removed_at, member.reason = MemberStatus.REMOVED, now, reason
        if member.customer is not None:
            event_record(
                customer=member.customer,
                type="community_removed",
                properties={"club_id": club.pk, "reason": reason},
                occurred_at=now,
                source="community",
                idempotency_key=f"community_removed:{member.pk}:{int(now.timestamp())}",
            )
            if was_in:
                _removal_message(club, member.customer, key=f"{member.pk}:{int(now.timestamp())}")
    return True


def _vk_remove(club: Club, user_id: int) -> None:
    """messages.removeChatUser; a refusal for want of rights is noted on the club (the sweep
    then waits for staff to make the community an admin and check again)."""
    try:
        vk.member_remove(peer_id=club.chat_id, user_id=user_id)
    except vk.VkApiError as exc:
        if exc.code in vk.NO_RIGHTS:
            club.bot_status, club.bot_can_restrict = BotStatus.MEMBER, False
            club.bot_checked_at = clock.now()
            club.save(update_fields=["bot_status", "bot_can_restrict", "bot_checked_at"])
        raise ClubError(str(exc)) from exc


def _removal_message(club: Club, customer: Customer, *, key: str) -> None:
    """The club's own words (or ours) to the removed customer: on the club's messenger when
    it reaches them (their linked Telegram chat, their VK id), else on whichever channel
    reaches them."""
    own = Channel.TELEGRAM if club.on_telegram else Channel.VK
    configured = ChannelConfig.objects.filter(channel=own, active=True).exists()
    channel: str | None = own
    if not (configured and address_of(customer, own)):
        channel = channel_choose(customer=customer, purpose=Purpose.TRANSACTIONAL)
    if channel is None:
        return
    with translation.override(customer.language or "ru"):
        text = club.removal_text.strip() or _(
            "Hello! «%(club)s» is a club for customers who meet its entry rule, and for now "
            "you no longer do, so we have taken you out of the chat. Thank you for being "
            "with us: we will be glad to see you back."
        ) % {"club": club.title}
    message_enqueue(
        customer=customer,
        dedupe_key=f"club-removed:{key}",
        channel=channel,
        purpose=Purpose.TRANSACTIONAL,
        subject=club.title,
        text=text,
    )


def club_texts_forget(*, club: Club) -> int:
    """Delete the message texts kept for the club (its owner turned keeping them off);
    the counts stay. Returns how many texts were deleted."""
    deleted, _by_model = ClubText.objects.filter(club=club).delete()
    return deleted


def club_bot_check(*, club: Club) -> list[str]:
    """Ask Telegram what the bot may do in the club's chat and store the answer; returns the
    update kinds a club needs that the bot's webhook was not set up to receive."""
    if not club.on_telegram:
        try:
            club.bot_status = vk.community_rights(peer_id=club.chat_id)
        except vk.VkApiError as exc:
            raise ClubError(str(exc)) from exc
        club.bot_can_invite = False  # VK has no personal links to make
        club.bot_can_restrict = club.bot_status == BotStatus.ADMIN
        club.bot_checked_at = clock.now()
        club.save(
            update_fields=["bot_status", "bot_can_invite", "bot_can_restrict", "bot_checked_at"]
        )
        return []
    rights = telegram.bot_rights(chat_id=club.chat_id)
    status = str(rights.get("status") or "")
    club.bot_status = (
        BotStatus.ADMIN
        if status in ("administrator", "creator")
        else BotStatus.MEMBER
        if status in ("member", "restricted")
        else BotStatus.GONE
    )
    club.bot_can_invite = bool(rights.get("can_invite_users")) or status == "creator"
    club.bot_can_restrict = bool(rights.get("can_restrict_members")) or status == "creator"
    club.bot_checked_at = clock.now()
    club.save(update_fields=["bot_status", "bot_can_invite", "bot_can_restrict", "bot_checked_at"])
    return telegram.updates_missing()
