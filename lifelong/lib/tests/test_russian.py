"""Russian grammar helpers: names in cases, number agreement, gendered words and verbs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib import russian
from lifelong.lib.russian import gendered, name_case, name_gender, plural, verb_past


@pytest.mark.parametrize(
    ("name", "case", "gender", "expected"),
    [
        ("Алексей", "datv", None, "Алексею"),
        ("Мария", "datv", None, "Марии"),
        ("Мария", "gent", "f", "Марии"),
        ("Пётр", "datv", "m", "Петру"),
        ("Лев", "datv", "m", "Льву"),
        ("Никита", "datv", "m", "Никите"),
        ("Любовь", "datv", "f", "Любови"),
        ("Саша", "ablt", None, "Сашей"),
        ("Семен", "gent", "m", "Семена"),  # spelled without ё stays without ё
        ("Сергеевич", "datv", "m", "Сергеевичу"),
        ("Петровна", "datv", "f", "Петровне"),
        ("Иванов", "datv", "m", "Иванову"),
        ("Иванова", "datv", "f", "Ивановой"),
        ("Иванова", "ablt", "f", "Ивановой"),
        ("Кузнецова", "datv", None, "Кузнецовой"),
        ("Петренко", "datv", "m", "Петренко"),  # indeclinable surname
        ("Смит", "datv", "f", "Смит"),  # a woman's foreign surname does not decline
        ("Иванова Мария Петровна", "datv", "f", "Ивановой Марии Петровне"),
        ("Иванов Алексей Сергеевич", "ablt", "m", "Ивановым Алексеем Сергеевичем"),
        ("Анна-Мария", "datv", "f", "Анне-Марии"),
        ("Алексей", "loct", None, "Алексее"),
        ("Алексей", "accs", None, "Алексея"),
        ("Алексей", "nomn", None, "Алексей"),
        ("АЛЕКСЕЙ", "datv", None, "АЛЕКСЕЮ"),
        ("алексей", "datv", None, "алексею"),
        ("Алексей", "дат", None, "Алексею"),
        ("Алексей", "dat", None, "Алексею"),
        ("Мишель", "datv", None, "Мишель"),  # his or hers: left alone without a gender
        ("Мишель", "datv", "m", "Мишелю"),
        ("Smith", "datv", None, "Smith"),
        ("John Smith", "datv", None, "John Smith"),
        ("Шмыгалёв", "datv", "m", "Шмыгалёву"),  # not in the dictionary: guessed by its ending
        ("O'Brien", "datv", None, "O'Brien"),
        ("стол", "datv", None, "стол"),  # not a name at all
        ("", "datv", None, ""),
    ],
)
def test_name_case(name, case, gender, expected):
    assert name_case(name, case, gender) == expected


def test_unknown_case_is_an_error():
    with pytest.raises(ValueError, match="unknown case"):
        name_case("Алексей", "dative")


@pytest.mark.parametrize(
    ("name", "gender"),
    [
        ("Алексей", "m"),
        ("Мария", "f"),
        ("Александра", "f"),
        ("Саша", ""),
        ("Саша Петровна", "f"),
        ("Саша Петрович", "m"),
        ("John", ""),
        ("", ""),
    ],
)
def test_name_gender(name, gender):
    assert name_gender(name) == gender


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0 баллов"),
        (1, "1 балл"),
        (2, "2 балла"),
        (3, "3 балла"),
        (4, "4 балла"),
        (5, "5 баллов"),
        (11, "11 баллов"),
        (12, "12 баллов"),
        (14, "14 баллов"),
        (21, "21 балл"),
        (22, "22 балла"),
        (25, "25 баллов"),
        (101, "101 балл"),
        (111, "111 баллов"),
        (1990, "1\u00a0990 баллов"),
        (-1, "-1 балл"),
        (Decimal("2.5"), "2,5 балла"),
        (Decimal("3.00"), "3 балла"),
    ],
)
def test_plural_points(n, expected):
    assert plural(n, "балл") == expected


@pytest.mark.parametrize(
    ("n", "word", "expected"),
    [
        (1, "бонусный балл", "1 бонусный балл"),
        (3, "бонусный балл", "3 бонусных балла"),
        (7, "бонусный балл", "7 бонусных баллов"),
        (2, "день", "2 дня"),
        (5, "день", "5 дней"),
        (21, "покупка", "21 покупка"),
        (22, "покупка", "22 покупки"),
        (5, "Рубль", "5 Рублей"),
        (5, "xyz", "5 xyz"),
    ],
)
def test_plural_other_words(n, word, expected):
    assert plural(n, word) == expected


def textbook(n: int) -> str:
    """The school rule: 1 (not 11) -> балл; 2-4 (not 12-14) -> балла; else баллов."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return "балл"
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return "балла"
    return "баллов"


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_plural_agrees_like_the_textbook(n):
    assert russian.plural_word(n, "балл") == textbook(n)


@pytest.mark.parametrize(
    ("gender", "expected"),
    [("m", "дорогой"), ("f", "дорогая"), ("", "дорогой/дорогая")],
)
def test_gendered(gender, expected):
    assert gendered(gender, "дорогой", "дорогая") == expected


def test_gendered_neutral_wins_for_unknown():
    assert gendered("", "дорогой", "дорогая", "уважаемый клиент") == "уважаемый клиент"
    assert gendered("f", "рад", "рада") == "рада"
    assert gendered("", "рад", "рада") == "рад(а)"


@pytest.mark.parametrize(
    ("verb", "gender", "expected"),
    [
        ("купил", "m", "купил"),
        ("купил", "f", "купила"),
        ("купил", "", "купил(а)"),
        ("купила", "m", "купил"),
        ("купить", "f", "купила"),
        ("Сделал", "f", "Сделала"),
        ("пришла", "m", "пришёл"),
        ("записался", "f", "записалась"),
        ("записался", "", "записался/записалась"),
        ("стол", "f", "стол"),
    ],
)
def test_verb_past(verb, gender, expected):
    assert verb_past(verb, gender) == expected


def test_one_analyser_per_process():
    assert russian.morph() is russian.morph()
