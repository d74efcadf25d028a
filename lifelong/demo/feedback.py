"""The demo's feedback: eight weeks of NPS answers, messenger and email replies, outside
reviews, staff answering and closing them, and one closed loop ("delivery fixed").

Everything goes through the real services (`survey_invite_create`, `response_submit`,
`inbound_receive`, `review_record`, `reply_send`, `conversation_status_set`, `fix_announce`),
with the clock set back to each moment (`clock.rewound`), so the inbox, the themes, the
insights and the fix's results read exactly what a live shop would have written. About
1,200 invites and 400 answers on the default demo: quick enough to go one by one.

Delivery complaints rise over the first weeks, peak, and fall once the shop changes courier
and says so to the customers who complained (`fix_announce`); the last week's conversations
are left for staff to work through. `feedback_reactions_apply` keeps feedback coming during
`lifelong simulate`: answers to the journeys' survey invites, messenger questions, a review now
and then, and staff answering what waits.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.commerce.models import Order
from lifelong.customers.models import Customer
from lifelong.demo import feedback_texts as texts
from lifelong.demo.people import CUSTOMER_PREFIX
from lifelong.demo.purchases import ORDER_PREFIX
from lifelong.feedback.fixes import fix_announce
from lifelong.feedback.inbox import (
    conversation_assign,
    conversation_status_set,
    inbound_receive,
    reply_send,
    review_record,
)
from lifelong.feedback.models import (
    Conversation,
    ConversationStatus,
    Fix,
    Invite,
    ItemSource,
    Question,
    Survey,
    Theme,
)
from lifelong.feedback.surveys import (
    SurveyClosed,
    first_scored,
    questions_of,
    response_submit,
    survey_invite_create,
)
from lifelong.journeys.library import NPS_SURVEY_NAME
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message
from lifelong.messaging.services import message_engagement_record

WEEKS = 8
# As the ready NPS-after-delivery journey does: each delivered order's customer is asked 14
# days later (the survey's 90-day throttle asks a customer once however many orders came), and
# about a third answer, the same share `lifelong simulate` answers. On the default demo that is
# 120–190 invites and 40–66 answers a week: enough for a week's NPS (30 answers at least).
INVITE_AFTER = dt.timedelta(days=14)
WEEK = dt.timedelta(weeks=1)
RESPONSE_RATE = 0.35
# Customers who write in or leave a review outside: a few hundred at most.
WRITERS = 200
# How much more often than usual a detractor blames delivery, week by week: it rises,
# peaks, and falls after the fix announced at the start of FIX_WEEK: five weeks before the
# end, so the fix's 30-day window of repeat purchases has closed and its results show.
DELIVERY_TREND = (0.25, 0.6, 0.9, 0.3, 0.15, 0.1, 0.05, 0.05)
FIX_WEEK = 3
HOLDOUT_PERCENT = 20
MESSAGES_PER_WEEK = 3
SCORES = (0, 2, 3, 4, 5, 6, 7, 7, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 10)
REVIEW_PREFIX = "prana-"
# The demo's owner and support lead (generator.STAFF), who answer during `simulate`.
STAFF_USERNAMES = ("demo", "demo-support")
SIMULATED_ORDER_PREFIX = f"{ORDER_PREFIX}sim-"  # reactions.py's orders


def feedback_history_write(
    rng: random.Random, *, customer_ids: list[int], staff: dict[str, User], end: dt.datetime
) -> None:
    """Write the feedback of the last WEEKS weeks before `end`, in time order."""
    survey = Survey.objects.get(name=NPS_SURVEY_NAME)
    questions = questions_of(survey)
    # In id order: the database's own order differs between SQLite and PostgreSQL, and the
    # same seed must build the same shop.
    people = list(
        Customer.objects.filter(
            pk__in=rng.sample(customer_ids, min(len(customer_ids), WRITERS))
        ).order_by("pk")
    )
    start = end - dt.timedelta(weeks=WEEKS)
    for week in range(WEEKS):
        week_start = start + dt.timedelta(weeks=week)
        if week == FIX_WEEK:
            # In the morning, Moscow time: quiet hours would hold the messages.
            _fix(rng, at=week_start.replace(hour=8, minute=0), owner=staff["owner"])
        plan: list[tuple[dt.datetime, str, object]] = [
            (moment, "invite", order)
            for moment, order in invites_due(since=week_start, until=min(end, week_start + WEEK))
        ]
        for _n in range(MESSAGES_PER_WEEK):
            plan.append((_moment(rng, week_start), "message", rng.choice(people)))
        if week % 2 == 1:
            plan.append((_moment(rng, week_start), "review", texts.REVIEWS[week // 2]))
        for moment, what, subject in sorted(plan, key=lambda p: p[0]):
            with clock.rewound(moment):
                if what == "invite":
                    assert isinstance(subject, Order)
                    _invite(
                        rng,
                        survey,
                        questions,
                        subject,
                        delivery=DELIVERY_TREND[week],
                        fixed=week >= FIX_WEEK,
                        end=end,
                    )
                elif what == "message":
                    assert isinstance(subject, Customer)
                    _message(rng, subject)
                else:
                    _review(rng, subject, key=f"{week}", customer=rng.choice(people))
        # Staff work through the week's conversations the next morning; the last week's
        # wait in the inbox.
        if week < WEEKS - 1:
            with clock.rewound(week_start + dt.timedelta(days=7, hours=7)):
                staff_work(rng, staff=staff, close_share=0.85)
                dispatch_due()
        else:
            with clock.rewound(end - dt.timedelta(hours=2)):
                staff_work(rng, staff=staff, close_share=0.3, limit=8)
                dispatch_due()


def invites_due(*, since: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, Order]]:
    """When each order's customer is asked (INVITE_AFTER its delivery), for the moments in
    [since, until), in a fixed order."""
    orders = (
        Order.objects.filter(
            delivered_at__gte=since - INVITE_AFTER,
            delivered_at__lt=until - INVITE_AFTER,
            customer__merged_into__isnull=True,
        )
        .select_related("customer")
        .order_by("delivered_at", "external_id")
    )
    return [(order.delivered_at + INVITE_AFTER, order) for order in orders if order.delivered_at]


def _moment(rng: random.Random, week_start: dt.datetime) -> dt.datetime:
    # Customers write in the daytime, Moscow time.
    day = rng.randrange(7)
    return week_start + dt.timedelta(days=day, hours=rng.randint(5, 18), minutes=rng.randrange(60))


def _channel(customer: Customer) -> str:
    return "telegram" if customer.telegram_chat_id else "email"


def _comment(rng: random.Random, score: int, *, delivery: float, fixed: bool) -> str:
    if score <= 6:
        if rng.random() < delivery:
            return rng.choice(texts.DELIVERY_BAD)
        return rng.choice(rng.choice((texts.PRICE_BAD, texts.QUALITY_BAD, texts.SITE_BAD)))
    if score <= 8:
        return rng.choice(texts.PASSIVE)
    if fixed and rng.random() < 0.1:
        return rng.choice(texts.DELIVERY_GOOD)
    return rng.choice(texts.PROMOTER)


def _invite(
    rng: random.Random,
    survey: Survey,
    questions: list[Question],
    order: Order,
    *,
    delivery: float,
    fixed: bool,
    end: dt.datetime,
) -> bool:
    """Ask the order's customer (as the NPS journey would); about a third answer, within a
    day or so, if that is before the demo's `end`."""
    customer = order.customer
    assert customer is not None
    invite = survey_invite_create(
        survey=survey,
        customer=customer,
        key=f"demo:{order.external_id}",
        channel=_channel(customer),
    )
    if invite is None or rng.random() >= RESPONSE_RATE:
        return False
    clock.advance(dt.timedelta(hours=rng.randint(1, 30)))
    if clock.now() >= end:
        return False
    return _respond(rng, invite, questions, delivery=delivery, fixed=fixed)


def _respond(
    rng: random.Random, invite: Invite, questions: list[Question], *, delivery: float, fixed: bool
) -> bool:
    scored = first_scored(questions)
    assert scored is not None
    score, comment = rng.choice(SCORES), ""
    if rng.random() < delivery * 0.4:
        # Late parcels turn customers into detractors who say so, while it lasts.
        score, comment = rng.randint(1, 6), rng.choice(texts.DELIVERY_BAD)
    elif rng.random() < (0.85 if score <= 6 else 0.45):
        # Most detractors say why; fewer of the others bother.
        comment = _comment(rng, score, delivery=delivery, fixed=fixed)
    answers: dict[int, int | list[int] | str | None] = {scored.pk: score}
    if comment:
        for question in questions:
            if question.show_if_id == scored.pk and question.shown_after(score):
                answers[question.pk] = comment
    try:
        response_submit(invite=invite, answers=answers)
    except SurveyClosed:
        return False
    return True


def _message(rng: random.Random, customer: Customer) -> bool:
    channel = _channel(customer)
    address = customer.telegram_chat_id if channel == "telegram" else customer.email
    return inbound_receive(channel=channel, address=address, text=rng.choice(texts.MESSAGES))


def _review(rng: random.Random, review: object, *, key: str, customer: Customer) -> None:
    """A review on Yandex Maps or 2GIS by a customer the shop knows (the site shows their
    first name and initial)."""
    assert isinstance(review, tuple)
    site, rating, text = review
    where = "https://yandex.ru/maps/org/prana/" if site == "yandex_maps" else "https://2gis.ru/"
    review_record(
        source=site,
        external_id=f"{REVIEW_PREFIX}{key}",
        customer=customer,
        text=text,
        rating=rating,
        author=f"{customer.first_name} {customer.last_name[:1]}.".strip(),
        url=where,
        published_at=clock.now(),
    )


def staff_work(
    rng: random.Random, *, staff: dict[str, User], close_share: float, limit: int = 1000
) -> Counter[str]:
    """Staff answer the open conversations whose move is theirs, oldest first, and close the
    answered ones the customer did not come back to; what they did, counted."""
    done: Counter[str] = Counter()
    support, owner = staff["support"], staff["owner"]
    waiting = Conversation.objects.filter(status=ConversationStatus.WAITING).order_by("pk")
    for conversation in waiting[:limit]:
        if rng.random() < close_share:
            conversation_status_set(
                conversation=conversation, status=ConversationStatus.CLOSED, actor=support
            )
            done["staff_closed"] += 1
    ours = (
        Conversation.objects.filter(
            status__in=(ConversationStatus.NEW, ConversationStatus.IN_PROGRESS),
            customer__isnull=False,
        )
        .select_related("customer")
        .order_by("opened_at", "pk")
    )
    for conversation in ours[:limit]:
        # The hard ones go to the founder; everything else to the support lead.
        author = owner if conversation.urgent else support
        conversation = conversation_assign(conversation=conversation, assignee=author, actor=author)
        assert conversation.customer is not None
        last = conversation.items.order_by("-received_at", "-pk").first()
        pool: tuple[str, ...] = texts.REPLY_ANSWER
        if last is not None and last.source != ItemSource.MESSAGE:
            pool = texts.REPLY_SORRY if conversation.urgent else texts.REPLY_THANKS
        name = conversation.customer.first_name or "Здравствуйте"
        reply_send(
            conversation=conversation,
            author=author,
            text=rng.choice(pool).format(name=name),
            signer=texts.SIGNER_FOUNDER if conversation.urgent else texts.SIGNER_SUPPORT,
            key=f"demo:{conversation.pk}:{clock.now().isoformat()}",
        )
        done["staff_replies"] += 1
    return done


def _fix(rng: random.Random, *, at: dt.datetime, owner: User) -> None:
    """The shop changed courier: tell those who complained, then some open, reply, buy."""
    # The delivery theme is seeded by a migration; a shop (or a flushed test database) may
    # have none, and then there is nothing to announce.
    theme = Theme.objects.filter(slug="delivery").first()
    if theme is None:
        return
    with clock.rewound(at):
        fix = fix_announce(
            theme=theme,
            note=texts.FIX_NOTE,
            subject=texts.FIX_SUBJECT,
            text=texts.FIX_TEXT,
            # A fifth kept back, so the results page compares; a salt from the seed, so the
            # same seed keeps back the same customers (the draw uses their external ids).
            holdout_percent=HOLDOUT_PERCENT,
            holdout_salt=f"demo-{rng.getrandbits(64):016x}",
            actor=owner,
        )
        dispatch_due()
        # The next day: those a quiet hour or a cap held back go out, and people read.
        clock.advance(dt.timedelta(days=1))
        dispatch_due()
        messages = Message.objects.filter(
            dedupe_key__startswith=f"fix:{fix.pk}:", sent_at__isnull=False
        ).select_related("customer")
        for n, message in enumerate(messages.order_by("pk")):
            if rng.random() < 0.6:
                message_engagement_record(message=message, kind="opened")
            if n < len(texts.FIX_REPLIES):
                customer = message.customer
                assert customer is not None
                address = (
                    customer.telegram_chat_id if message.channel == "telegram" else customer.email
                )
                inbound_receive(channel=message.channel, address=address, text=texts.FIX_REPLIES[n])


def _history_ask(*, since: dt.datetime, tally: Counter[str]) -> None:
    """Ask about the orders `lifelong demo` wrote, as `feedback_history_write` did up to the
    demo's end: the journey only sees deliveries from the last 48 hours before it first runs,
    so without this the weeks after the demo would hear from almost no one. Orders placed
    during the simulation are the journey's to ask; the survey's throttle keeps it to one
    invite a customer either way."""
    survey = Survey.objects.filter(name=NPS_SURVEY_NAME).first()
    if survey is None:
        return
    for moment, order in invites_due(since=since, until=clock.now()):
        customer = order.customer
        if customer is None or order.external_id.startswith(SIMULATED_ORDER_PREFIX):
            continue
        with clock.rewound(moment):
            invite = survey_invite_create(
                survey=survey,
                customer=customer,
                key=f"demo:{order.external_id}",
                channel=_channel(customer),
            )
        tally["surveys_after_demo_orders"] += invite is not None


def demo_feedback_wipe() -> None:
    """The demo's fix (its customers' conversations, invites and answers go with them)."""
    Fix.objects.filter(note=texts.FIX_NOTE).delete()


def feedback_reactions_apply(
    rng: random.Random, *, customer_ids: list[int], since: dt.datetime, tally: Counter[str]
) -> None:
    """One pass of `lifelong simulate`: the customers of the demo's own orders whose 14 days
    ran out since the last pass are asked, some customers answer the survey invites sent
    since, one or two write in, a review comes now and then, and staff answer."""
    _history_ask(since=since, tally=tally)
    for invite in (
        Invite.objects.filter(
            created_at__gt=since,
            response__isnull=True,
            customer__external_id__startswith=CUSTOMER_PREFIX,
        )
        .select_related("survey")
        .order_by("pk")[:200]
    ):
        if rng.random() < RESPONSE_RATE and _respond(
            rng, invite, questions_of(invite.survey), delivery=0.1, fixed=True
        ):
            tally["survey_answers"] += 1
    customers = Customer.objects.filter(
        pk__in=rng.sample(customer_ids, min(2, len(customer_ids)))
    ).order_by("pk")
    for customer in customers:
        tally["feedback_messages"] += _message(rng, customer)
    if rng.random() < 0.25 and customers:
        _review(
            rng,
            rng.choice(texts.REVIEWS),
            key=f"sim-{rng.randrange(10**9)}",
            customer=rng.choice(list(customers)),
        )
        tally["outside_reviews"] += 1
    staff = {str(u.role): u for u in User.objects.filter(username__in=STAFF_USERNAMES)}
    if {"owner", "support"} <= staff.keys():
        tally.update(staff_work(rng, staff=staff, close_share=0.5, limit=5))
