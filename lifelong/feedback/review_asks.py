"""A promoter's ask for a public review, sent where every answer is recorded.

`response_submit` calls `review_ask_send` after each recorded answer, whichever way it came
(the survey page's form, an email score link's stylesheet, a Telegram, VK or MAX button), so
no path can forget it. Once per invite (the outbox dedupe key), promoters (NPS 9–10) only:
detractors and passives are never asked. An edit within the edit window that raises the
score to 9 or 10 asks then; a second answer changes nothing once the ask is queued.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from lifelong.customers.models import Purpose
from lifelong.feedback.models import Question, QuestionKind, Response, ReviewAsk
from lifelong.messaging.services import address_of, channel_choose, message_enqueue

PROMOTER = (9, 10)


def _promoter(response: Response, scored: Question | None) -> bool:
    return (
        response.score is not None
        and scored is not None
        and scored.kind == QuestionKind.NPS
        and PROMOTER[0] <= response.score <= PROMOTER[1]
    )


def review_ask_send(*, response: Response, scored: Question | None) -> bool:
    """Ask a promoter (NPS 9–10) for a public review, once per invite, on the invite's channel.

    Nothing when the ask is off, no page is given, or the answer is not a promoter's.
    The pages' links are rewritten to tracked ones by the outbox (stored link ids), like
    every outside link in a message.
    """
    if not _promoter(response, scored):
        return False
    places = ReviewAsk.current().places()
    if not places:
        return False
    invite = response.invite
    customer = response.customer
    channel = invite.channel or channel_choose(customer=customer, purpose=Purpose.TRANSACTIONAL)
    if not channel or not address_of(customer, channel):
        return False
    with translation.override(customer.language or invite.survey.language):
        lines = [
            _(
                "Thank you for the high score — it means a lot to us. If you have a minute, "
                "tell others about us too: a short review helps people find us."
            ),
            "",
            *(f"{name}: {url}" for name, url in places),
            "",
            _("Only if you feel like it: we give nothing for reviews, we just ask."),
        ]
        subject = _("Thank you for your answer")
    message_enqueue(
        customer=customer,
        dedupe_key=f"review_ask:{invite.pk}",
        channel=channel,
        purpose=Purpose.TRANSACTIONAL,
        subject=subject,
        text="\n".join(lines),
    )
    return True
