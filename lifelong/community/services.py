"""Clubs: who may join, invite links, members matched from the bot's updates, removal.

Public functions (keyword-only; the Bot API is called only outside transactions):
- `customers_qualifying(club)`: a queryset of the customers the club's entry rule admits now.
- `customer_qualifies(club=, customer=)`: the same test for one customer.
- `club_invite_prepare(club=, customer=, source=, invited_by=None)`: claims the customer's one
  invite row (a retry returns the same row); None when they do not qualify. No network.
- `club_invite_url(invite=)`: our signed join address for the invite; journeys and campaigns
  put it in messages as the template variable `club_invite_url`.
- `club_invite_link(invite=)`: the Telegram single-use link behind the join address, asked of
  the Bot API once (createChatInviteLink, member_limit 1, expire_date) and reused until it
  expires; after commit only.
- `club_invite_send(club=, customer=, by=)`: staff invitation: prepare the invite and queue the
  club's invitation text with the join address through the outbox.
- `telegram_update_receive(update=)`: a group, supergroup or channel update from the bot's
  webhook (chat_member, my_chat_member, message, message_reaction, message_reaction_count);
  applied once per update_id.
- `club_members_sweep(now=None)`: marks members who stopped qualifying, removes those past
  the club's grace period (ban + unban, the polite message, event community_removed).
- `club_member_remove(member=, reason=, by=None)`: removes one member now (staff action).
- `club_bot_check(club=)`: asks getChatMember whether the bot is an admin with the rights a
  club needs.
"""
