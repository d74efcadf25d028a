"""The tagger on its own: lemmas, phrases, typos, negation and intensity, English, staff names,
the score, and suggestions of new themes. Rules here are small and written in the test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifelong.feedback.sentiment import score_polarity
from lifelong.feedback.suggestions import themes_suggest
from lifelong.feedback.themes import (
    StaffName,
    ThemeSpec,
    compile_rules,
    stem_en,
    tag,
    tokenize,
    word_is_known,
)

RULES = compile_rules(
    [
        ThemeSpec(
            "delivery",
            (
                ("ru", "доставка"),
                ("ru", "курьер опоздал"),
                ("ru", "заказ прийти"),
                ("en", "delivery"),
                ("en", "courier"),
            ),
        ),
        ThemeSpec("price", (("ru", "цена"), ("ru", "дорого"), ("en", "expensive"))),
        ThemeSpec("quality", (("ru", "качество"), ("en", "quality"))),
        ThemeSpec("assortment", (("ru", "под заказ"), ("en", "out of stock"))),
        ThemeSpec("staff", (("ru", "менеджер"),)),
    ]
)


def themes(text: str, **kwargs) -> tuple[str, ...]:
    return tag(text, RULES, **kwargs).themes


@pytest.mark.parametrize(
    "text",
    [
        "Доставка быстрая",
        "Спасибо за доставку!",
        "Доставкой недовольна",
        "Проблемы с доставками",
        "Курьер опоздал",
        "Курьер опять немного опоздал",  # a phrase with words between
        "Курьеры опоздали",  # any form of each word of the phrase
        "Заказ так и не пришёл",
        "Экспресс-доставку ждала неделю",  # the last part of a hyphenated word
    ],
)
def test_inflected_forms_and_phrases_find_the_theme(text):
    assert themes(text) == ("delivery",)


def test_phrase_words_stay_inside_a_sentence_and_in_order():
    assert themes("Курьер пришёл. Я опоздала на работу.") == ()
    assert themes("Опоздал курьер") == ()


def test_a_preposition_in_a_phrase_takes_the_next_word_only():
    assert themes("Половина товаров под заказ") == ("assortment",)
    assert themes("Сотрудник под вечер перепутал заказ") == ()


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Курер опаздал на час", "delivery"),  # a dropped and a changed letter
        ("Каччество так себе", "quality"),  # a doubled letter
        ("Доставкa долгая", "delivery"),  # a Latin «a» typed among Cyrillic letters
        ("Качетсво отличное", "quality"),  # two letters swapped
    ],
)
def test_typos_one_edit_from_a_rule_word_still_match(text, slug):
    assert slug in themes(text)


def test_short_or_known_words_are_not_read_as_typos():
    # «цепа» is one letter from «цена» but too short; «дата» is a real word.
    assert themes("цепа") == ()
    assert themes("дата") == ()


def test_english_words_match_by_their_stems():
    assert themes("The deliveries were slow and the courier was rude") == ("delivery",)
    assert themes("Too expensive for this quality") == ("price", "quality")
    assert themes("Half of it was out of stock") == ("assortment",)
    assert stem_en("delivered") == stem_en("deliver")
    assert stem_en("shipping") == stem_en("shipped") == "ship"


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("Очень понравилось", "positive"),
        ("Не понравилось", "negative"),
        ("Совсем не понравилось", "negative"),
        ("Заказ так и не пришёл", "negative"),  # a plain expected verb, negated
        ("Сайт не работает", "negative"),
        ("Курьер не опоздал, спасибо", "positive"),
        ("Нормально", "neutral"),
        ("Заказала подарок маме", "neutral"),
        ("Курс хороший, но очень дорого и ужасно долго", "negative"),  # after «но» weighs more
        ("Not good at all", "negative"),
        ("I didn't like it", "negative"),
        ("Great quality, thank you", "positive"),
    ],
)
def test_sentiment_from_the_text(text, sentiment):
    assert tag(text, RULES).sentiment == sentiment


def test_intensity_makes_a_word_weigh_more():
    plain = tag("Хорошо", RULES).polarity
    assert tag("Очень хорошо", RULES).polarity > plain > 0
    assert tag("Совсем плохо", RULES).polarity < tag("Плохо", RULES).polarity < 0


def test_the_score_and_the_text_together():
    assert tag("Нормально", RULES, score=10).sentiment == "positive"
    assert tag("Нормально", RULES, score=2).sentiment == "negative"
    assert tag("Всё отлично, спасибо!", RULES, score=3).sentiment == "neutral"
    assert tag("Нормально", RULES, score=5, scale="csat").sentiment == "positive"
    assert tag("Нормально", RULES, score=1, scale="csat").sentiment == "negative"
    with pytest.raises(ValueError, match="NPS score is 0 to 10"):
        score_polarity(11)
    with pytest.raises(ValueError, match="CSAT score is 1 to 5"):
        score_polarity(0, "csat")


STAFF = [
    StaffName(1, "Ольга", "Петрова"),
    StaffName(2, "Вера", "Смирнова"),
    StaffName(3, "Алексей", ""),
]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("Спасибо Ольге за помощь", (1,)),
        ("С Ольгой Петровой всегда приятно", (1,)),
        ("Благодарю Петрову", (1,)),
        ("Алексей и Вера помогли", (3, 2)),
        ("вера в лучшее", ()),  # a common word needs its capital letter to be a name
        ("Никого не назвали", ()),
    ],
)
def test_staff_names_in_any_case_form(text, ids):
    assert tag(text, RULES, staff=STAFF).staff == ids


def test_a_named_staff_member_tags_the_staff_theme():
    tagging = tag("Спасибо Ольге!", RULES, staff=STAFF)
    assert tagging.themes == ("staff",)
    assert tag("Спасибо Ольге!", RULES).themes == ()


def test_as_json_is_plain_data():
    data = tag("Курьер опоздал", RULES, score=4).as_json()
    assert data["themes"] == ["delivery"]
    assert data["sentiment"] == "negative"
    assert data["evidence"] == {"delivery": ["курьер опоздал"]}


def test_suggestions_group_untagged_comments_by_shared_words():
    texts = [
        "Кешбэк баллами пришёл через месяц",
        "Где мой кешбэк за прошлый месяц?",
        "Кешбэк не начислили",
        "Хочу подарочный сертификат для подруги",
        "Продаёте подарочный сертификат?",
        "Подарочный сертификат на день рождения — есть?",
        "Доставка быстрая",  # tagged: not a candidate
        "Благовония пахнут чудесно",  # alone: below the minimum
    ]
    suggestions = themes_suggest(texts, RULES, min_count=3)
    assert [(s.words[0], s.count) for s in suggestions] == [("кешбэк", 3), ("сертификат", 3)]
    assert suggestions[0].examples[0] == texts[0]
    # Rule words never make a suggestion, even where no rule phrase matched.
    assert all("доставка" not in s.words for s in suggestions)


@settings(max_examples=200)
@given(
    st.text(
        alphabet=st.sampled_from("абвгдеёжзийклмнопрстуфхцчшщъыьэюяABCxyz -,.!?'\n"), max_size=80
    )
)
def test_any_text_tags_without_error_and_within_the_rules(text):
    tagging = tag(text, RULES, score=5, staff=STAFF)
    assert set(tagging.themes) <= set(RULES.slugs)
    assert -1 <= tagging.polarity <= 1
    assert tagging.sentiment in {"negative", "neutral", "positive"}


@settings(max_examples=100)
@given(
    st.lists(
        st.sampled_from(
            ["доставку", "курьер", "опоздал", "цены", "качеством", "не", "очень", "и", "сайт"]
        ),
        max_size=12,
    )
)
def test_themes_do_not_depend_on_letter_case(words):
    text = " ".join(words)
    assert themes(text) == themes(text.upper()) == themes(text.capitalize())


def test_tokens_carry_sentences_and_clauses():
    tokens = tokenize("Курьер опоздал, но вежливый. Спасибо")
    assert [(t.word, t.sentence, t.contrast) for t in tokens] == [
        ("курьер", 0, False),
        ("опоздал", 0, False),
        ("вежливый", 0, True),
        ("спасибо", 1, False),
    ]


@settings(max_examples=150)
@given(
    word=st.sampled_from(["доставкой", "качеством", "доставку", "курьера", "expensive"]),
    slip=st.sampled_from(["drop", "double", "swap", "change"]),
    data=st.data(),
)
def test_one_slip_in_a_long_rule_word_still_finds_its_theme(word, slip, data):
    expected = themes(word)
    position = data.draw(st.integers(min_value=1, max_value=len(word) - 2))
    letters = list(word)
    if slip == "drop":
        del letters[position]
    elif slip == "double":
        letters.insert(position, letters[position])
    elif slip == "swap":
        letters[position], letters[position + 1] = letters[position + 1], letters[position]
    else:
        other = "ыю" if word[0] >= "а" else "qz"
        letters[position] = other[0] if letters[position] != other[0] else other[1]
    typo = "".join(letters)
    # A slip that makes another real word is that word, not a typo (checked in Russian only).
    if typo == word or (typo[0] >= "а" and word_is_known(typo)):
        return
    assert themes(typo) == expected, typo
