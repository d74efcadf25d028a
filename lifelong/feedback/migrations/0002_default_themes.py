"""The default themes and their rules, for a shop of goods, courses and B2B orders.

Staff edit them on the Themes page; this migration only fills an empty table, so running it
again after staff edits changes nothing. Words are lemmas (or forms the tagger lemmatises),
phrases are words in order with at most three other words between neighbours.
"""

from django.db import migrations

# slug: (Russian name, English name, Russian rules, English rules)
DEFAULTS: dict[str, tuple[str, str, list[str], list[str]]] = {
    "delivery": (
        "Доставка",
        "Delivery",
        [
            "доставка", "доставить", "доставлять", "доставщик", "курьер", "курьерский",
            "привезти", "привозить", "посылка", "отгрузка", "отгрузить", "пункт выдачи",
            "пвз", "самовывоз", "сдэк", "транспортная компания", "трек", "трек-номер",
            "дойти", "интервал", "заказ прийти", "прийти позиция", "ждать день",
            "ждать неделя", "везти", "прийти быстро",
        ],
        [
            "delivery", "deliver", "shipping", "ship", "courier", "parcel", "arrive",
            "arrival", "tracking", "pick-up point", "pickup point",
        ],
    ),
    "price": (
        "Цены",
        "Price",
        [
            "цена", "ценник", "стоимость", "стоить", "дорого", "дешево", "дешевый",
            "недорого", "переплата", "переплачивать", "переплатить", "выгодно", "выгодный",
            "невыгодно", "невыгодный", "недорогой", "подорожать", "подорожание", "дороговато", "платный", "бюджетный", "прайс", "наценка", "за такой деньги",
        ],
        ["price", "pricey", "cheap", "expensive", "cost", "overpriced", "afford", "value money"],
    ),
    "quality": (
        "Качество товара",
        "Product quality",
        [
            "качество", "качественный", "качественно", "некачественный", "брак",
            "бракованный", "дефект", "подделка", "натуральный", "запах", "пахнуть", "вонять",
            "аромат", "ароматный", "вкус", "вкусный", "привкус", "ткань", "материал", "шов",
            "свежий", "прогорклый", "просрочка", "срок годности", "разбавить",
            "скатываться", "крошиться", "трещина", "скользить", "скользкий", "скользковатый",
            "держать форму", "звучать", "гореть", "аллергия", "крепкий", "прочный", "дырка", "облезать", "облезть", "подсохнуть", "засохнуть", "испортиться", "испорченный", "плесень", "линять", "полинять", "выдохнуться",
            "соответствовать описанию", "оказаться хороший", "оказаться плохой",
            "товар хороший", "хороший товар", "товар плохой", "плохой товар", "залом", "тонкий",
            "тонковатый", "сушить",
        ],
        [
            "quality", "defect", "defective", "fake", "smell", "durable", "material",
            "fabric", "flimsy", "fresh", "taste", "fall apart",
        ],
    ),
    "support": (
        "Поддержка",
        "Customer support",
        [
            "поддержка", "чат", "оператор", "горячая линия", "дозвониться", "перезвонить",
            "ответ", "ответить", "отвечать", "обращение", "обратиться",
            "на связи", "отписка",
        ],
        [
            "support", "customer service", "chat", "operator", "reply", "respond", "response",
            "answer", "email", "call back", "hotline", "helpdesk",
        ],
    ),
    "website": (
        "Сайт и приложение",
        "Website and app",
        [
            "сайт", "приложение", "личный кабинет", "аккаунт", "корзина", "поиск", "фильтр",
            "страница", "пароль", "код подтверждения", "интерфейс", "навигация",
            "платформа", "мобильная версия", "войти",
        ],
        [
            "website", "site", "app", "checkout", "login", "log in", "password", "account",
            "search", "filter", "page", "cart", "interface",
        ],
    ),
    "staff": (
        "Сотрудники",
        "Staff",
        [
            "сотрудник", "персонал", "менеджер", "консультант", "консультация", "продавец",
            "продавщица", "кассир", "вежливый", "вежливо", "невежливый",
            "грубый", "грубо", "хамить", "нахамить", "хамство", "хамский", "огрызаться",
            "приветливый", "доброжелательный", "компетентный", "некомпетентный",
        ],
        [
            "staff", "manager", "consultant", "employee", "cashier", "shop assistant", "rude",
            "polite", "impolite",
        ],
    ),
    "assortment": (
        "Ассортимент",
        "Assortment",
        [
            "ассортимент", "выбор", "наличие", "под заказ", "на заказ", "нет размер",
            "завезти", "продажа", "не найти", "больше товар", "много товар", "мало товар", "нет нигде", "нигде нет", "есть всё",
            "больше размер", "мало вид", "нету размер", "нет на склад", "не оказаться на склад",
            "когда появиться", "когда быть снова",
        ],
        ["assortment", "selection", "choice", "range", "variety", "out of stock", "in stock"],
    ),
    "packaging": (
        "Упаковка",
        "Packaging",
        [
            "упаковка", "упаковать", "упакованный", "запаковать", "коробка", "пакет",
            "пупырка", "пленка", "обертка", "обернуть", "картон", "крафтовый", "пластик", "крышка", "скотч", "пакетик", "коробочка",
            "упаковывать",
        ],
        ["packaging", "packed", "box", "wrap", "wrapping", "bubble wrap"],
    ),
    "returns": (
        "Возврат и обмен",
        "Returns and exchanges",
        [
            "возврат", "вернуть", "возвращать", "возвратить", "обмен", "обменять", "замена",
            "принимать назад", "принять назад",
        ],
        ["return", "refund", "exchange", "send back"],
    ),
    "payment": (
        "Оплата и документы",
        "Payment and invoices",
        [
            "оплата", "оплатить", "оплачивать", "неоплаченный", "платеж", "платить",
            "заплатить", "списать", "списание", "чек", "счет", "реквизиты",
            "безнал", "рассрочка", "счет-фактура", "упд", "бухгалтерия", "сбп", "транзакция", "закрывающие документы",
        ],
        ["payment", "pay", "paid", "card", "invoice", "receipt", "charge", "transaction", "bank"],
    ),
    "courses": (
        "Курсы и занятия",
        "Courses and classes",
        [
            "курс", "урок", "лекция", "вебинар", "семинар", "мастер-класс", "ретрит", "тур", "занятие",
            "преподаватель", "тренер", "инструктор", "учиться", "обучение", "ученик",
            "модуль", "домашнее задание",
        ],
        [
            "course", "lesson", "lecture", "webinar", "workshop", "retreat", "teacher",
            "instructor", "module", "homework",
        ],
    ),
    "promotions": (
        "Скидки и бонусы",
        "Discounts and bonuses",
        [
            "скидка", "промокод", "бонус", "балл", "кэшбэк", "подарок", "подарочек", "пробник", "акция",
            "распродажа", "программа лояльности", "купон", "сертификат", "начислить",
            "начислять",
        ],
        [
            "discount", "promo code", "promo", "coupon", "bonus", "points", "cashback", "gift",
            "sample", "sale", "loyalty",
        ],
    ),
}


def themes_create(apps, schema_editor):
    Theme = apps.get_model("feedback", "Theme")
    ThemeRule = apps.get_model("feedback", "ThemeRule")
    if Theme.objects.exists():
        return
    for slug, (name_ru, name_en, rules_ru, rules_en) in DEFAULTS.items():
        theme = Theme.objects.create(slug=slug, name_ru=name_ru, name_en=name_en)
        ThemeRule.objects.bulk_create(
            [ThemeRule(theme=theme, language="ru", phrase=p) for p in dict.fromkeys(rules_ru)]
            + [ThemeRule(theme=theme, language="en", phrase=p) for p in dict.fromkeys(rules_en)]
        )


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_themes")]

    operations = [migrations.RunPython(themes_create, migrations.RunPython.noop)]
