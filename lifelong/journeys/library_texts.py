"""Default texts of the ready-made journeys: Russian first, English in `translations["en"]`.

Installed once as ordinary `Template` rows, so the business edits them like any other.
Every text says plainly that it was sent automatically and that a person reads replies:
people forgive automation, not pretending.
"""

from __future__ import annotations

from dataclasses import dataclass

from lifelong.customers.models import Purpose

# Topics a customer can leave one by one on the preferences page: (slug, Russian, English).
TOPICS = (
    ("news", "Новости и советы", "News and tips"),
    ("offers", "Предложения и подарки", "Offers and gifts"),
    ("reminders", "Напоминания", "Reminders"),
)

# The brand voice (greeting, signature) is set per channel in the UI; until it is, a plain
# greeting by first name and an unsigned team sign-off.
_HELLO = (
    "{% if brand.greeting %}{{ brand.greeting }}"
    "{% elif customer.first_name %}{{ customer.first_name }}, здравствуйте!"
    "{% else %}Здравствуйте!{% endif %}"
)
_HELLO_EN = (
    "{% if customer.first_name %}Hello {{ customer.first_name }},{% else %}Hello,{% endif %}"
)
_HONEST = (
    "Это сообщение отправлено автоматически, но ответ на него прочитает живой человек — "
    "просто ответьте, если захотите что-то спросить."
)
_HONEST_EN = (
    "This message was sent automatically, but a real person reads the replies — "
    "just answer it if you want to ask anything."
)
_SIGN = (
    "{% if brand.signature %}{{ brand.signature }}{% else %}С теплом, команда"
    "{% if brand.sender_name %} «{{ brand.sender_name }}»{% else %} магазина{% endif %}"
    "{% endif %}"
)
_SIGN_EN = (
    "Warmly, the {% if brand.sender_name %}{{ brand.sender_name }}{% else %}shop's{% endif %} team"
)
_PREFS = "Писать реже или о другом: {{ links.preferences }}"
_PREFS_EN = "Fewer messages or other topics: {{ links.preferences }}"


@dataclass(frozen=True)
class Text:
    """One message in four variants: the email (subject and text), the same text in a
    messenger (the preferences link as a button), and an SMS of one or two segments that
    is also the short text of any other channel. An SMS cannot be answered and every
    segment is paid for, so it says the one thing, without the «просто ответьте» and
    without long links."""

    name: str
    subject: str
    body: str
    subject_en: str
    body_en: str
    sms: str
    sms_en: str
    purpose: str = Purpose.MARKETING
    topic: str = ""

    def body_text(self) -> str:
        return _wrap(self.body, _HELLO, _HONEST, _SIGN, _PREFS, self.purpose)

    def messenger_text(self) -> str:
        return _wrap(self.body, _HELLO, _HONEST, _SIGN, "", self.purpose)

    def sms_text(self) -> str:
        return _named(self.sms, "{{ customer.first_name }}, ")

    def messenger_buttons(self, *, english: bool = False) -> list[dict[str, str]]:
        if self.purpose != Purpose.MARKETING:
            return []
        label = "Fewer messages or other topics" if english else "Писать реже или о другом"
        return [{"label": label, "url": "{{ links.preferences }}"}]

    def translations(self) -> dict[str, dict[str, object]]:
        body = _wrap(self.body_en, _HELLO_EN, _HONEST_EN, _SIGN_EN, _PREFS_EN, self.purpose)
        messenger = _wrap(self.body_en, _HELLO_EN, _HONEST_EN, _SIGN_EN, "", self.purpose)
        sms = _named(self.sms_en, "{{ customer.first_name }}, ", english=True)
        return {
            "en": {
                "subject": self.subject_en,
                "body_text": body,
                "body_html": "",
                "messenger_text": messenger,
                "messenger_buttons": self.messenger_buttons(english=True),
                "sms_text": sms,
                "short_text": sms,
            }
        }


def _wrap(body: str, hello: str, honest: str, sign: str, prefs: str, purpose: str) -> str:
    parts = [hello, body.strip(), sign, honest]
    if purpose == Purpose.MARKETING and prefs:
        # Marketing only: service messages about a purchase are not something to opt out of.
        parts.append(prefs)
    # The renderer trims the line break right after a block tag: give such parts one more.
    return "".join(p + ("\n\n\n" if p.endswith("%}") else "\n\n") for p in parts).strip()


def _named(text: str, name: str, *, english: bool = False) -> str:
    """ "Ирина, спасибо…" for a customer whose first name we know, "Спасибо…" otherwise.
    A text that starts with a template tag or a name keeps its first letter as it is."""
    if not text[:1].isalpha():
        return text
    first = text[0] if english and text.split()[0] in ("I", "I'm") else text[0].lower()
    return (
        "{% if customer.first_name %}"
        + name
        + first
        + text[1:]
        + "{% else %}"
        + text
        + "{% endif %}"
    )


TEXTS: dict[str, Text] = {
    # Welcome programme
    "welcome-thanks": Text(
        name="Знакомство: спасибо за первый заказ",
        subject="Спасибо, что выбрали нас",
        body=(
            "Спасибо за первый заказ! Нам правда приятно: за каждым заказом мы видим человека, "
            "а не номер.\n\n"
            "Если что-то окажется не так — с доставкой, размером или самим товаром, — "
            "напишите нам, разберёмся."
        ),
        subject_en="Thank you for choosing us",
        body_en=(
            "Thank you for your first order! It genuinely makes our day: behind every order "
            "we see a person, not a number.\n\n"
            "If anything is not right — delivery, size or the item itself — write to us "
            "and we will sort it out."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms="Спасибо за первый заказ! Если что-то не так — напишите нам, разберёмся.",
        sms_en=(
            "Thank you for your first order! If anything is wrong, write to us and we will "
            "sort it out."
        ),
    ),
    "welcome-howto": Text(
        name="Знакомство: как всё устроено",
        subject="Как получить от покупки максимум",
        body=(
            "Прошло несколько дней — надеемся, заказ уже у вас. Пара вещей, которые "
            "обычно спрашивают:\n"
            "• как ухаживать за покупкой, чтобы она прослужила дольше;\n"
            "• как устроены бонусные баллы; ваш баланс — здесь: {{ loyalty.status_url }};\n"
            "• как вернуть или обменять, если не подошло.\n\n"
            "Ответим на любой вопрос — ответьте на это сообщение."
        ),
        subject_en="Getting the most out of your purchase",
        body_en=(
            "A few days have passed — we hope your order has arrived. A few things people "
            "usually ask:\n"
            "• how to care for your purchase so it lasts;\n"
            "• how bonus points work; your balance is here: {{ loyalty.status_url }};\n"
            "• how to return or exchange if something does not fit.\n\n"
            "We will answer any question — just reply to this message."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms="Надеемся, заказ уже у вас. Вопросы об уходе, баллах или обмене — пишите, ответим.",
        sms_en=(
            "We hope your order has arrived. Questions about care, points or exchanges: "
            "write to us."
        ),
    ),
    "welcome-invite": Text(
        name="Знакомство: приглашение в сообщество",
        subject="Приглашаем в наше сообщество",
        body=(
            "У нас есть сообщество, где мы делимся практиками, отвечаем на вопросы и "
            "первыми рассказываем о новинках. Без спама — раз в неделю, по делу.\n\n"
            "Будем рады видеть вас там."
        ),
        subject_en="Join our community",
        body_en=(
            "We have a community where we share practices, answer questions and are first "
            "to tell about new things. No spam — once a week, to the point.\n\n"
            "We would be glad to see you there."
        ),
        topic="news",
        sms="Приглашаем в наше сообщество: практики, ответы на вопросы и новинки раз в неделю.",
        sms_en="Join our community: practices, answers and new things once a week.",
    ),
    # After a course
    "course-start": Text(
        name="Курс: спасибо и чек-лист для старта",
        subject="Ваш курс ждёт: чек-лист для старта",
        body=(
            "Спасибо, что выбрали наш курс! Чтобы первое занятие прошло легко:\n"
            "• выберите постоянное время — 20–30 минут, лучше в одно и то же время дня;\n"
            "• подготовьте место: коврик, плед, немного свободного пространства;\n"
            "• не ешьте плотно за полтора-два часа до занятия;\n"
            "• начните с первого урока, даже если у вас есть опыт.\n\n"
            "Доступ к курсу — в личном кабинете."
        ),
        subject_en="Your course is waiting: a starter checklist",
        body_en=(
            "Thank you for choosing our course! To make the first lesson easy:\n"
            "• pick a regular time — 20–30 minutes, ideally at the same time of day;\n"
            "• prepare a spot: a mat, a blanket, a little free space;\n"
            "• do not eat a heavy meal one and a half to two hours before;\n"
            "• start with lesson one, even if you have some experience.\n\n"
            "Your access is in your account."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms="Спасибо за курс! Выберите постоянное время на 20–30 минут и начните с первого урока.",
        sms_en=(
            "Thank you for choosing the course! Pick a regular 20-30 minutes and start with "
            "lesson one."
        ),
    ),
    "course-faq": Text(
        name="Курс: ответы на частые вопросы новичков",
        subject="Неделя на курсе: частые вопросы",
        body=(
            "Прошла неделя — самое время для вопросов, которые задают почти все:\n"
            "• «Не получается, как у преподавателя» — это нормально, тело привыкает постепенно;\n"
            "• «Пропустил(а) несколько дней» — просто продолжайте с того места, где остановились;\n"
            "• «Болит после занятия» — уменьшите амплитуду и напишите нам, подскажем.\n\n"
            "Если вопрос другой — ответьте на это сообщение."
        ),
        subject_en="One week into the course: common questions",
        body_en=(
            "A week has passed — a good time for the questions almost everyone asks:\n"
            "• “I can't do it like the teacher” — that is normal, the body adapts gradually;\n"
            "• “I skipped a few days” — just carry on from where you stopped;\n"
            "• “It hurts after practice” — reduce the range and write to us, we will help.\n\n"
            "If your question is different, just reply."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms=(
            "Неделя на курсе! Не получается, как у преподавателя, — это нормально. Вопросы — "
            "пишите."
        ),
        sms_en=(
            "One week into the course! Not like the teacher yet? That is normal. Questions: "
            "write to us."
        ),
    ),
    "course-chat": Text(
        name="Курс: приглашение в закрытый чат",
        subject="Приглашение в закрытый чат выпускников",
        body=(
            "Месяц практики — это уже привычка. Приглашаем вас в закрытый чат тех, кто "
            "проходит курс: там преподаватели отвечают на вопросы, а участники делятся "
            "успехами.\n\n"
            "Чтобы вступить, ответьте на это сообщение — пришлём ссылку."
        ),
        subject_en="An invitation to the closed course chat",
        body_en=(
            "A month of practice is already a habit. We invite you to the closed chat of "
            "course participants: teachers answer questions there and people share their "
            "progress.\n\n"
            "To join, reply to this message and we will send the link."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms=(
            "Месяц практики — уже привычка! Хотите в закрытый чат курса? Напишите нам — "
            "пришлём ссылку."
        ),
        sms_en=(
            "A month of practice is a habit! Want to join the closed course chat? Write to "
            "us for the link."
        ),
    ),
    # After a tool (equipment)
    "tool-checklist": Text(
        name="Инвентарь: что проверить в первые дни",
        subject="Что проверить в первые дни",
        body=(
            "Надеемся, покупка уже у вас. Короткий список, что стоит проверить сейчас, "
            "пока действует обмен:\n"
            "• нет ли заводского запаха или дефектов поверхности;\n"
            "• подходит ли размер и толщина под вашу практику;\n"
            "• как покупка ведёт себя на вашем полу — не скользит ли.\n\n"
            "Если что-то смущает — ответьте, поможем с обменом."
        ),
        subject_en="What to check in the first days",
        body_en=(
            "We hope your purchase has arrived. A short list of what to check now, while "
            "an exchange is still easy:\n"
            "• any factory smell or surface defects;\n"
            "• whether the size and thickness suit your practice;\n"
            "• how it behaves on your floor — does it slip.\n\n"
            "If anything bothers you, reply and we will help with an exchange."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms=(
            "Проверьте покупку, пока действует обмен: запах, дефекты, размер. Что-то не так "
            "— напишите."
        ),
        sms_en=(
            "Check your purchase while an exchange is easy: smell, defects, size. Anything "
            "wrong? Write to us."
        ),
    ),
    "tool-mistakes": Text(
        name="Инвентарь: 5 частых ошибок (видео)",
        subject="5 ошибок, которые сокращают жизнь инвентаря",
        body=(
            "Мы собрали короткое видео о пяти ошибках, из-за которых инвентарь служит "
            "меньше, чем мог бы: от стирки до хранения на солнце. Пять минут — и покупка "
            "прослужит годы.\n\n"
            "Видео — в личном кабинете, в разделе «Полезное»."
        ),
        subject_en="5 mistakes that shorten the life of your gear",
        body_en=(
            "We made a short video about five mistakes that make gear wear out sooner than "
            "it should: from washing to storing it in the sun. Five minutes, and your "
            "purchase will last for years.\n\n"
            "The video is in your account, under “Useful”."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms=(
            "5 ошибок, которые сокращают жизнь инвентаря, — видео в личном кабинете, раздел "
            "«Полезное»."
        ),
        sms_en=(
            "5 mistakes that shorten the life of your gear: a short video in your account, "
            "under Useful."
        ),
    ),
    # Abandoned cart
    "cart-reminder-1": Text(
        name="Корзина: первое напоминание",
        subject="Вы кое-что оставили в корзине",
        body=(
            "Похоже, вы не завершили заказ — товары всё ещё ждут в корзине. Если что-то "
            "остановило (доставка, оплата, сомнения в размере), напишите нам — подскажем."
        ),
        subject_en="You left something in your cart",
        body_en=(
            "It looks like you did not finish your order — the items are still in your "
            "cart. If something stopped you (delivery, payment, doubts about size), write to "
            "us and we will help."
        ),
        topic="reminders",
        sms="Товары всё ещё ждут в корзине. Если что-то остановило — напишите нам, подскажем.",
        sms_en=(
            "Your items are still in your cart. If something stopped you, write to us and we "
            "will help."
        ),
    ),
    "cart-reminder-2": Text(
        name="Корзина: второе и последнее напоминание",
        subject="Последнее напоминание о корзине",
        body=(
            "Напоминаем в последний раз, больше писать об этой корзине не будем. "
            "Товары пока в наличии, но мы не можем держать их долго."
        ),
        subject_en="A last reminder about your cart",
        body_en=(
            "This is our last reminder — we will not write about this cart again. The items "
            "are still in stock, but we cannot hold them for long."
        ),
        topic="reminders",
        sms="Последнее напоминание о корзине: товары пока в наличии, но долго держать их не можем.",
        sms_en=(
            "A last reminder about your cart: the items are in stock, but we cannot hold "
            "them for long."
        ),
    ),
    # Sleeping customer
    "winback-picks": Text(
        name="Давно не виделись: подборка по прошлой покупке",
        subject="Давно не виделись — мы кое-что подобрали",
        body=(
            "Давно вас не видели — надеемся, у вас всё хорошо."
            "{% if last_order and last_order.products %}\n\n"
            "В прошлый раз вы выбирали:\n"
            "{% for product in last_order.products %}• {{ product.name }}\n{% endfor %}"
            "С тех пор в этих разделах появились новинки — загляните, вдруг что-то "
            "пригодится.{% endif %}"
        ),
        subject_en="It's been a while — we picked something for you",
        body_en=(
            "We have not seen you for a while — we hope all is well."
            "{% if last_order and last_order.products %}\n\n"
            "Last time you chose:\n"
            "{% for product in last_order.products %}• {{ product.name }}\n{% endfor %}"
            "There are new things in those sections since then — have a look.{% endif %}"
        ),
        topic="offers",
        sms="Давно не виделись! Там, где вы выбирали в прошлый раз, появились новинки — загляните.",
        sms_en="It's been a while! There are new things where you shopped last time: have a look.",
    ),
    "winback-last": Text(
        name="Давно не виделись: писать ли дальше",
        subject="Нам продолжать писать?",
        body=(
            "Мы не хотим быть назойливыми. Если наши письма сейчас не к месту — ничего "
            "страшного, можно писать реже или только о важном. А если просто было не до "
            "этого — мы рядом, когда понадобимся."
        ),
        subject_en="Should we keep writing?",
        body_en=(
            "We do not want to be a nuisance. If our messages are not welcome right now, "
            "that is fine — we can write less often or only about important things. And if "
            "you were simply busy — we are here when you need us."
        ),
        topic="news",
        sms="Мы не хотим надоедать и будем писать реже. А если понадобимся — мы рядом.",
        sms_en=(
            "We do not want to be a nuisance and will write less often. We are here when you "
            "need us."
        ),
    ),
    # Replenishment
    "replenish-reminder": Text(
        name="Пора пополнить запас",
        subject="Кажется, пора пополнить запас",
        body=(
            "{% if journey.product %}Вы брали «{{ journey.product }}» — обычно к этому времени "
            "он заканчивается.{% else %}Кажется, то, что вы брали в прошлый раз, "
            "заканчивается.{% endif %} Если хотите, повторите заказ — соберём и отправим "
            "в тот же день."
        ),
        subject_en="Time to restock?",
        body_en=(
            "{% if journey.product %}You bought “{{ journey.product }}” — it usually runs out "
            "about now.{% else %}What you bought last time is probably running out.{% endif %} "
            "If you like, repeat the order and we will ship it the same day."
        ),
        topic="reminders",
        sms=(
            "{% if journey.product %}«{{ journey.product }}» обычно заканчивается примерно "
            "сейчас.{% else %}Кажется, пора пополнить запас.{% endif %} Повторите заказ — "
            "отправим в тот же день."
        ),
        sms_en=(
            "{% if journey.product %}{{ journey.product }} usually runs out about now.{% "
            "else %}Time to restock?{% endif %} Repeat the order and we ship it the same day."
        ),
    ),
    # Birthday
    "birthday-greeting": Text(
        name="С днём рождения (и 100 баллов)",
        subject="С днём рождения! Подарок внутри",
        body=(
            "С днём рождения! Пусть этот год будет спокойным, тёплым и полным сил.\n\n"
            "Мы начислили вам 100 бонусных баллов — потратьте их на что-нибудь приятное "
            "для себя. Баланс и история баллов: {{ loyalty.status_url }}"
        ),
        subject_en="Happy birthday! A gift inside",
        body_en=(
            "Happy birthday! May this year be calm, warm and full of energy.\n\n"
            "We have added 100 bonus points to your account — spend them on something nice "
            "for yourself. Your balance and its history: {{ loyalty.status_url }}"
        ),
        topic="offers",
        sms=(
            "С днём рождения! Мы начислили вам 100 бонусных баллов — потратьте их на "
            "что-нибудь приятное."
        ),
        sms_en="Happy birthday! We have added 100 bonus points: spend them on something nice.",
    ),
    # Anniversary of the first purchase
    "anniversary-thanks": Text(
        name="Годовщина первой покупки (и 100 баллов)",
        subject="Сегодня особенный день — для нас",
        body=(
            "Ровно в этот день вы впервые сделали у нас заказ"
            "{% if journey.years %} — и вот мы вместе уже {{ journey.years|plural('год') }}"
            "{% endif %}. Спасибо, что вы с нами — "
            "для небольшого магазина это очень много значит.\n\n"
            "В честь годовщины мы начислили вам 100 бонусных баллов. Баланс и история "
            "баллов: {{ loyalty.status_url }}\n\n"
            "Если есть что-то, что нам стоит улучшить, — ответьте, мы читаем каждое письмо."
        ),
        subject_en="A special day — for us",
        body_en=(
            "On this day you placed your first order with us"
            "{% if journey.years %} — {{ journey.years }} "
            "{% if journey.years == '1' %}year{% else %}years{% endif %} ago{% endif %}. "
            "Thank you for staying with "
            "us — for a small shop it means a lot.\n\n"
            "To mark the day we have added 100 bonus points to your account. Your balance "
            "and its history: {{ loyalty.status_url }}\n\n"
            "If there is anything we should improve, reply — we read every message."
        ),
        topic="news",
        sms=(
            "Сегодня годовщина вашего первого заказа у нас. Спасибо! В подарок — 100 "
            "бонусных баллов."
        ),
        sms_en=(
            "Today is the anniversary of your first order with us. Thank you! A gift: 100 "
            "bonus points."
        ),
    ),
    # Customer Day, 19 March
    "customer-day-thanks": Text(
        name="День клиента (и 100 баллов)",
        subject="Сегодня День клиента — а значит, ваш день",
        body=(
            "Сегодня, 19 марта, День клиента. Для нас это повод сказать простую вещь: "
            "спасибо, что вы с нами. Небольшой магазин держится не на рекламе, а на людях, "
            "которые возвращаются, советуют нас друзьям и честно говорят, что можно "
            "сделать лучше.\n\n"
            "В знак благодарности мы начислили вам 100 бонусных баллов — они уже на вашем "
            "счёте: {{ loyalty.status_url }}\n\n"
            "А если есть что-то, что нам стоит изменить, — просто ответьте на это письмо. "
            "Мы читаем каждое."
        ),
        subject_en="Today is Customer Day — so it is your day",
        body_en=(
            "Today, 19 March, is Customer Day. For us it is a reason to say a simple thing: "
            "thank you for being with us. A small shop lives not on advertising but on people "
            "who come back, recommend us to friends and tell us honestly what could be "
            "better.\n\n"
            "As a thank-you we have added 100 bonus points to your account — they are already "
            "there: {{ loyalty.status_url }}\n\n"
            "And if there is something we should change, just reply to this message. We read "
            "every one."
        ),
        topic="offers",
        sms="Сегодня День клиента — спасибо, что вы с нами! Мы начислили вам 100 бонусных баллов.",
        sms_en=(
            "Today is Customer Day: thank you for being with us! We have added 100 bonus points."
        ),
    ),
    # Welcome to the tier (a tier_changed event, direction "up"; journey.tier from the reactor)
    "tier-welcome": Text(
        name="Новый уровень",
        subject="Ваш новый уровень — «{{ journey.tier.name }}»",
        body=(
            "Поздравляем: теперь ваш уровень — «{{ journey.tier.name }}». Спасибо, что "
            "возвращаетесь к нам снова и снова: это и есть самое ценное.\n\n"
            "{% if journey.tier.privileges %}Что теперь открыто для вас:\n"
            "{% for p in journey.tier.privileges %}— {{ p.name }}: {{ p.description }}\n"
            "{% endfor %}\n{% endif %}"
            "Где вы сейчас и что нужно для следующего уровня: {{ loyalty.status_url }}"
        ),
        subject_en="Your new tier: {{ journey.tier.name }}",
        body_en=(
            "Congratulations: your tier is now {{ journey.tier.name }}. Thank you for coming "
            "back to us again and again: that is what we value most.\n\n"
            "{% if journey.tier.privileges_en %}What is open to you now:\n"
            "{% for p in journey.tier.privileges_en %}— {{ p.name }}: {{ p.description }}\n"
            "{% endfor %}\n{% endif %}"
            "Where you stand and what the next tier takes: {{ loyalty.status_url }}"
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms=(
            "Поздравляем: ваш новый уровень — «{{ journey.tier.name }}». Спасибо, что "
            "возвращаетесь!"
        ),
        sms_en=(
            "Congratulations: your new tier is {{ journey.tier.name }}. Thank you for coming back!"
        ),
    ),
    # Surveys: the journey survey node adds the question and its scale under this text
    # (links in an email, buttons in Telegram, the page's link elsewhere).
    "nps-after-delivery": Text(
        name="Вопрос после доставки (NPS)",
        subject="Один вопрос о вашем заказе",
        body=(
            "Две недели назад к вам приехал заказ — надеемся, всё пригодилось. "
            "Нам правда важно, как вам с нами, поэтому спросим всего одно: "
            "ответ займёт пару секунд, просто нажмите на цифру."
        ),
        subject_en="One question about your order",
        body_en=(
            "Your order arrived two weeks ago — we hope it has come in handy. "
            "We really care how it is with us, so just one question: it takes a couple "
            "of seconds, simply tap a number."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms="Две недели назад к вам приехал заказ. Один вопрос о нём — ответ займёт пару секунд.",
        sms_en=(
            "Your order arrived two weeks ago. One question about it: it takes a couple of seconds."
        ),
    ),
    # Back in stock
    "back-in-stock": Text(
        name="Снова в наличии",
        subject="То, что вы ждали, снова в наличии",
        body=(
            "Вы просили сообщить, когда товар снова появится, — он вернулся"
            "{% if journey.skus %} (артикул {{ journey.skus | join(', ') }}){% endif %}. "
            "Партия небольшая, так что, если он всё ещё нужен, лучше не откладывать."
        ),
        subject_en="What you were waiting for is back in stock",
        body_en=(
            "You asked us to tell you when the item is back — it is"
            "{% if journey.skus %} (SKU {{ journey.skus | join(', ') }}){% endif %}. "
            "The batch is small, so if you still need it, better not wait."
        ),
        purpose=Purpose.TRANSACTIONAL,
        sms="То, что вы ждали, снова в наличии. Партия небольшая — лучше не откладывать.",
        sms_en="What you were waiting for is back in stock. The batch is small: better not wait.",
    ),
}
