"""Sending surveys: the journey node's message, with its first question answered in it.

One invite, one outbox message (the invite's dedupe key), per journey step. What the
message carries for the first scored question depends on the channel:

- email: the scale as a row of links to the survey page with `?score=` (a table, which
  every mail client lays out); the page shows the score chosen and records it only when
  the customer sends the form, so link scanners record nothing;
- Telegram: an inline keyboard whose buttons carry a compact signed callback value; the
  bot webhook records the tapped score once (`score_button_receive`) and replies with
  the link to the rest of the survey when that score has follow-ups;
- VK: the page's link and a keyboard of text buttons with the same signed value as their
  payload; the Callback API hook records a tap the same way;
- MAX: an inline keyboard attachment of callback buttons with the same signed value as
  their payload; the bot webhook records a tap the same way and queues MAX's answer;
- any other channel (SMS, WhatsApp, push): the survey page's link.

Promoters (NPS 9–10) may be asked once per invite for a public review when the owner has
switched it on and given the pages; detractors never are. The ask follows every recorded
answer in `response_submit` (review_asks.py), whichever path recorded it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.html import escape, format_html, format_html_join
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.feedback.models import Invite, Question, QuestionKind, Response, ReviewAsk, Survey
from lifelong.feedback.surveys import (
    InviteAsk,
    SurveyClosed,
    first_scored,
    invite_url,
    questions_of,
    questions_shown,
    response_submit,
    survey_invites_create,
)
from lifelong.messaging.models import Template
from lifelong.messaging.outbox import Content, Outgoing, messages_enqueue_many
from lifelong.messaging.services import address_of, channel_choose, message_enqueue
from lifelong.messaging.templating import Rendered

log = logging.getLogger(__name__)

CALLBACK_SALT = "lifelong.feedback.survey-callback"
# "s<invite>.<score>.<mac>": Telegram allows 64 bytes of callback data; 16 base64 characters
# of HMAC-SHA256 (96 bits) cannot be guessed, and the invite id alone reveals nothing usable.
_CALLBACK = re.compile(r"^s(\d{1,12})\.(\d{1,2})\.([A-Za-z0-9_-]{16})$")
# Telegram shows up to 8 buttons a row; 0–10 reads best as two rows.
_ROW = 6


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str = ""
    payload: Mapping[str, Any] | None = None


def _mac(invite_id: int, score: int) -> str:
    digest = salted_hmac(CALLBACK_SALT, f"{invite_id}:{score}", algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode()[:16]


def callback_data(invite: Invite, score: int) -> str:
    """The signed value a score button sends back: which invite, which score."""
    return f"s{invite.pk}.{score}.{_mac(invite.pk, score)}"


def callback_open(data: str) -> tuple[int, int] | None:
    """(invite id, score) from a button's value, or None when it is not one we signed."""
    match = _CALLBACK.match(data or "")
    if match is None:
        return None
    invite_id, score = int(match[1]), int(match[2])
    if not constant_time_compare(match[3], _mac(invite_id, score)):
        return None
    return invite_id, score


def _score_label(question: Question, score: int) -> str:
    return f"{score} ★" if question.kind == QuestionKind.CSAT else str(score)


def _ends(question: Question) -> tuple[str, str]:
    if question.kind == QuestionKind.NPS:
        return _("0 — would not recommend"), _("10 — would recommend for sure")
    if question.kind == QuestionKind.CSAT:
        return _("1 — very bad"), _("5 — excellent")
    low, high = question.scale or (1, 7)
    return _("%(n)s — very hard") % {"n": low}, _("%(n)s — very easy") % {"n": high}


def scale_html(invite: Invite, question: Question) -> str:
    """The first question and its scale as links, for an email.

    A presentation table of equal cells (mail clients honour tables and inline styles, not
    flexbox or classes); each link's visible text is its number and its title says "8 of
    10", and the ends of the scale are written out under it for screen readers and people.
    """
    low, high = question.scale or (0, 10)
    cells = format_html_join(
        "",
        '<td style="padding:2px"><a href="{}" title="{}" style="display:block;min-width:28px;'
        "padding:10px 0;border:1px solid #8a8a8a;border-radius:4px;text-align:center;"
        'color:#1a1a1a;text-decoration:none;font-size:16px">{}</a></td>',
        (
            (
                invite_url(invite, score),
                _("%(score)s of %(high)s") % {"score": score, "high": high},
                _score_label(question, score),
            )
            for score in range(low, high + 1)
        ),
    )
    low_end, high_end = _ends(question)
    return format_html(
        '<p style="font-size:16px;font-weight:bold">{}</p>'
        '<table role="presentation" cellspacing="0" cellpadding="0" border="0"><tr>{}</tr>'
        "</table>"
        '<p style="font-size:13px;color:#555">{}<br>{}</p>'
        '<p><a href="{}">{}</a></p>',
        question.text,
        cells,
        low_end,
        high_end,
        invite_url(invite),
        _("Open the survey"),
    )


def inline_keyboard(invite: Invite, question: Question) -> dict[str, Any]:
    """A Telegram reply_markup: the scale as callback buttons, then the page as a URL button."""
    low, high = question.scale or (0, 10)
    buttons = [
        {"text": _score_label(question, score), "callback_data": callback_data(invite, score)}
        for score in range(low, high + 1)
    ]
    rows = [buttons[i : i + _ROW] for i in range(0, len(buttons), _ROW)]
    rows.append([{"text": _("Open the survey"), "url": invite_url(invite)}])
    return {"inline_keyboard": rows}


def max_keyboard(invite: Invite, question: Question) -> list[dict[str, Any]]:
    """MAX message attachments: an inline keyboard of callback buttons (the signed value as
    their payload), then the page as a link button (MAX allows 7 buttons a row, 3 links)."""
    low, high = question.scale or (0, 10)
    buttons = [
        {
            "type": "callback",
            "text": _score_label(question, score),
            "payload": callback_data(invite, score),
        }
        for score in range(low, high + 1)
    ]
    rows = [buttons[i : i + _ROW] for i in range(0, len(buttons), _ROW)]
    rows.append([{"type": "link", "text": _("Open the survey"), "url": invite_url(invite)}])
    return [{"type": "inline_keyboard", "payload": {"buttons": rows}}]


def vk_keyboard(invite: Invite, question: Question) -> dict[str, Any]:
    """A VK keyboard of text buttons whose payload is the signed value: a tap sends the
    number as the customer's message, with the payload, to the community's Callback API.
    VK allows at most 10 buttons inline, so an 0–10 scale is a one-time keyboard instead."""
    low, high = question.scale or (0, 10)
    buttons = [
        {
            "action": {
                "type": "text",
                "label": _score_label(question, score),
                "payload": json.dumps({"survey": callback_data(invite, score)}),
            },
            "color": "secondary",
        }
        for score in range(low, high + 1)
    ]
    inline = len(buttons) <= 10
    width = 5 if inline else 4
    rows = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    keyboard: dict[str, Any] = {"inline": inline, "buttons": rows}
    if not inline:
        keyboard["one_time"] = True
    return keyboard


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return "".join(f"<p>{escape(b).replace(chr(10), '<br>')}</p>" for b in blocks)


def compose(
    *, invite: Invite, question: Question | None, channel: str, subject: str, text: str, html: str
) -> Composed:
    """The message around the survey's first question, for one channel (see module doc)."""
    page = invite_url(invite)
    if question is None or question.scale is None:
        # No scored question to answer in the message: the link asks everything.
        return Composed(subject, f"{text}\n\n{page}".strip(), "")
    if channel == Channel.EMAIL:
        body = html or _paragraphs(text)
        plain = f"{text}\n\n{question.text}\n{_('Answer: %(url)s') % {'url': page}}"
        return Composed(subject, plain.strip(), body + scale_html(invite, question))
    if channel == Channel.TELEGRAM:
        payload = {"reply_markup": inline_keyboard(invite, question)}
        return Composed(subject, f"{text}\n\n{question.text}".strip(), "", payload)
    if channel == Channel.VK:
        payload = {"keyboard": vk_keyboard(invite, question)}
        return Composed(subject, f"{text}\n\n{question.text}\n{page}".strip(), "", payload)
    if channel == Channel.MAX:
        buttons: dict[str, Any] = {"attachments": max_keyboard(invite, question)}
        return Composed(subject, f"{text}\n\n{question.text}".strip(), "", buttons)
    return Composed(subject, f"{text}\n\n{question.text}\n{page}".strip(), "")


def survey_send(
    *,
    survey_id: int,
    template_slug: str,
    channel: str,
    customer: Customer,
    key: str,
    context: Mapping[str, Any] | None = None,
    journey_id: int | None = None,
    enrollment_id: int | None = None,
    node_id: str = "",
) -> str:
    """Invite the customer and queue the message; returns a short outcome for the step record.

    A throttled customer, a survey switched off, a missing template or no channel is a skip
    named in the outcome, not an error. The same `key` makes no second invite or message.
    """
    survey = Survey.objects.filter(pk=survey_id).first()
    if survey is None:
        return "skipped: survey missing"
    template = Template.objects.filter(slug=template_slug).first()
    if template is None:
        return "skipped: template missing"
    chosen = (
        channel_choose(customer=customer, purpose=template.purpose, template=template)
        if channel == "preferred"
        else channel
    )
    if chosen is None:
        return "skipped: no channel reaches the customer"
    ask = Outgoing(customer, key, chosen, context or {}, enrollment_id)
    return survey_send_many(
        [ask], survey=survey, template=template, journey_id=journey_id, node_id=node_id
    )[0]


def survey_send_many(
    asks: Sequence[Outgoing],
    *,
    survey: Survey,
    template: Template,
    journey_id: int | None = None,
    node_id: str = "",
) -> list[str]:
    """`survey_send` for many customers of one survey and template (a journey step's group),
    in a fixed number of queries: per ask, in order, the outcome. An ask's `dedupe_key` is
    its invite's key: one invite per key, and the invite keys its message.

    The invites are made together (`survey_invites_create`); the messages are rendered
    together and each composed around its own invite (`compose`), in its customer's
    language, then stored together.
    """
    question = first_scored(questions_of(survey)) if asks else None
    invites = survey_invites_create(
        survey=survey,
        asks=[InviteAsk(a.customer, a.dedupe_key, a.channel, a.enrollment_id) for a in asks],
        node=node_id,
    )
    by_key: dict[str, Invite] = {}
    items = []
    for ask, invite in zip(asks, invites, strict=True):
        if invite is None:
            continue
        by_key[invite.dedupe_key] = invite
        survey_data = {"url": invite_url(invite), "name": survey.name}
        items.append(
            replace(
                ask, dedupe_key=invite.dedupe_key, context={**ask.context, "survey": survey_data}
            )
        )

    def composed(item: Outgoing, rendered: Rendered) -> Content:
        with translation.override(item.customer.language or survey.language):
            message = compose(
                invite=by_key[item.dedupe_key],
                question=question,
                channel=item.channel,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
            )
        return Content(
            subject=message.subject,
            text=message.text,
            html=message.html,
            payload=message.payload or {},
            topic=template.topic,
        )

    if items:
        messages_enqueue_many(
            items, template=template, journey_id=journey_id, node_id=node_id, compose=composed
        )
    off = "skipped: survey off" if not survey.active else "skipped: asked recently (throttle)"
    return [
        off if invite is None else f"survey queued on {ask.channel}"
        for ask, invite in zip(asks, invites, strict=True)
    ]


@dataclass(frozen=True)
class CallbackAnswer:
    """What the bot says in answerCallbackQuery (a short notice over the chat)."""

    text: str
    recorded: bool = False


def score_button_receive(*, channel: str, address: str, data: str) -> CallbackAnswer | None:
    """A score button tapped in a messenger (a Telegram or MAX callback, a VK keyboard button):
    record the score once (a promoter's review ask follows in `response_submit`), then,
    through the outbox on the same channel, the link to the rest of the survey.

    None when the data is not a survey button's at all (another feature's button). A forged
    value, a button from someone else's chat, an expired link or an invite already answered
    record nothing; a replayed update finds the score recorded and changes nothing.
    """
    if not (data or "").startswith("s"):
        return None
    opened = callback_open(data)
    if opened is None:
        log.warning("survey_callback_forged")
        return CallbackAnswer(_("This button does not work."))
    invite_id, score = opened
    with transaction.atomic():
        invite = (
            Invite.objects.select_for_update()
            .select_related("survey", "customer")
            .filter(pk=invite_id)
            .first()
        )
        if invite is None or not address or address_of(invite.customer, channel) != address:
            log.warning("survey_callback_wrong_chat", extra={"invite_id": invite_id})
            return CallbackAnswer(_("This button does not work."))
        with translation.override(invite.customer.language or invite.survey.language):
            if invite.first_score is not None or Response.objects.filter(invite=invite).exists():
                return CallbackAnswer(_("Thank you, we already have your answer."))
            questions = questions_of(invite.survey)
            question = first_scored(questions)
            if question is None:
                return CallbackAnswer(_("This button does not work."))
            try:
                response_submit(
                    invite=invite,
                    answers={question.pk: score},
                    complete=False,
                    from_message=True,
                )
            except SurveyClosed:
                return CallbackAnswer(_("This survey has closed. Thank you!"))
            more = [q for q in questions_shown(questions, {question.pk: score}) if q != question]
            text = (
                _("Thank you! A little more, if you have a minute: %(url)s")
                % {"url": invite_url(invite)}
                if more
                else _("Thank you for your answer! Every answer is read by a person.")
            )
            message_enqueue(
                customer=invite.customer,
                dedupe_key=f"{invite.dedupe_key}:rest",
                channel=channel,
                purpose=Purpose.TRANSACTIONAL,
                text=text,
            )
            return CallbackAnswer(_("Thank you! Your score: %(score)s") % {"score": score}, True)


REVIEW_ASK_FIELDS = (
    "enabled",
    "yandex_maps_url",
    "two_gis_url",
    "marketplace_name",
    "marketplace_url",
)


@transaction.atomic
def review_ask_update(*, values: Mapping[str, Any], actor: User | None) -> ReviewAsk:
    """Change where promoters are asked to leave a review; audited with what changed."""
    row = ReviewAsk.objects.select_for_update().filter(pk=ReviewAsk.current().pk).get()
    changes = {
        name: [getattr(row, name), values[name]]
        for name in REVIEW_ASK_FIELDS
        if name in values and getattr(row, name) != values[name]
    }
    if changes:
        for name, (_before, after) in changes.items():
            setattr(row, name, after)
        row.full_clean()
        row.save()
        audit_record(actor=actor, action="feedback.review_ask.update", obj=row, changes=changes)
    return row
