"""Russian grammar for message text: names in cases, numbers with nouns, gendered words.

Built on pymorphy3. The analyser loads its dictionaries once per process (slow-ish and
tens of MB), so it is created lazily and shared; it is thread-safe for reading.
Every helper is conservative: a word the dictionary does not know is returned as
written, because a wrongly inflected name reads worse than an uninflected one.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

import pymorphy3

CASES = frozenset({"nomn", "gent", "datv", "accs", "ablt", "loct", "voct"})
# Shorter spellings staff may type in a template: Latin abbreviations and Russian ones.
CASE_ALIASES = {
    "nom": "nomn",
    "gen": "gent",
    "dat": "datv",
    "acc": "accs",
    "ins": "ablt",
    "instr": "ablt",
    "abl": "ablt",
    "loc": "loct",
    "prep": "loct",
    "voc": "voct",
    "им": "nomn",
    "род": "gent",
    "дат": "datv",
    "вин": "accs",
    "тв": "ablt",
    "пр": "loct",
}
NAME_GRAMMEMES = ("Name", "Patr", "Surn")
MALE, FEMALE = "m", "f"
_PARTS = re.compile(r"([\s\-]+)")


@functools.cache
def morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer()


def case_code(case: str) -> str:
    """The pymorphy3 grammeme for a case name ("datv", "dat", "дат"); ValueError if unknown."""
    code = case.strip().lower()
    code = CASE_ALIASES.get(code, code)
    if code not in CASES:
        raise ValueError(f"unknown case {case!r}: use one of {', '.join(sorted(CASES))}")
    return code


def _gender_grammemes(gender: str | None) -> tuple[str, ...]:
    if gender == MALE:
        return ("masc", "ms-f")
    if gender == FEMALE:
        return ("femn", "ms-f")
    return ("masc", "femn", "ms-f")


def _same_shape(original: str, word: str, *, name: bool = False) -> str:
    """Give an inflected word the capitalisation of the original (and, for names, its е/ё)."""
    if name and "ё" not in original.lower():
        # People write "Семен" as they like; the dictionary's "Семёна" would correct them.
        word = word.replace("ё", "е")
    if original.isupper() and len(original) > 1:
        return word.upper()
    if original[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _name_word(word: str, case: str, gender: str | None) -> str:
    genders = _gender_grammemes(gender)
    candidates = [
        parse
        for parse in morph().parse(word)
        if {"nomn", "sing"} in parse.tag
        and any(g in parse.tag for g in NAME_GRAMMEMES)
        and any(g in parse.tag for g in genders)
    ]
    if not candidates:
        return word
    forms = set()
    for parse in candidates:
        inflected = parse.inflect({case})
        forms.add(inflected.word if inflected else parse.word)
    if gender is None and len(forms) > 1 and _both_genders(candidates):
        # "Мишель" is his (Мишелю) or hers (Мишель): without a gender, leave it be.
        return word
    best = max(candidates, key=lambda parse: parse.score)
    inflected = best.inflect({case})
    return _same_shape(word, inflected.word, name=True) if inflected else word


def _both_genders(parses: list[pymorphy3.analyzer.Parse]) -> bool:
    return any("masc" in p.tag for p in parses) and any("femn" in p.tag for p in parses)


def name_case(name: str, case: str, gender: str | None = None) -> str:
    """A first name, patronymic or surname (or all three) in a grammatical case.

    `name_case("Алексей", "datv")` is "Алексею"; `gender` ("m"/"f") picks between
    readings such as the surname "Иванова" (hers, nominative) and "Иванова" (his, genitive).
    Words pymorphy3 does not read as a name in the nominative come back unchanged.
    """
    code = case_code(case)
    if not name or code == "nomn":
        return name
    parts = _PARTS.split(name)
    return "".join(
        part if not part or _PARTS.fullmatch(part) else _name_word(part, code, gender)
        for part in parts
    )


def name_gender(name: str) -> str:
    """ "m" or "f" when the name (first name or patronymic) says so clearly, else ""."""
    male = female = 0.0
    for word in name.split():
        word_male, word_female = _word_gender(word)
        male += word_male
        female += word_female
    if male > 2 * female:
        return MALE
    if female > 2 * male:
        return FEMALE
    return ""


@functools.lru_cache(maxsize=20_000)
def _word_gender(word: str) -> tuple[float, float]:
    """How strongly one word reads as a man's and as a woman's name or patronymic. Cached:
    a grouped send asks for every customer, and most people share a few hundred names."""
    male = female = 0.0
    for parse in morph().parse(word):
        if "nomn" not in parse.tag or not ({"Name"} in parse.tag or {"Patr"} in parse.tag):
            continue
        if "masc" in parse.tag:
            male += parse.score
        elif "femn" in parse.tag:
            female += parse.score
    return male, female


def format_number(n: int | Decimal) -> str:
    """Digits grouped by three with no-break spaces, as Russian text writes them: 1 990."""
    return f"{n:,}".replace(",", "\u00a0")


def plural_word(n: int | Decimal, word: str) -> str:
    """The word (or adjective + noun) agreeing with the number: 1 балл, 3 балла, 5 баллов."""
    value = Decimal(n)
    fractional = value != value.to_integral_value()
    number = abs(int(value))
    out = []
    for part in _PARTS.split(word):
        if not part or _PARTS.fullmatch(part):
            out.append(part)
            continue
        parses = [p for p in morph().parse(part) if {"nomn"} in p.tag]
        if not parses:
            out.append(part)
            continue
        parse = parses[0]
        # "2,5 балла": a fraction takes the genitive singular.
        agreed = parse.inflect({"gent", "sing"}) if fractional else None
        agreed = agreed or parse.make_agree_with_number(number)
        out.append(_same_shape(part, agreed.word) if agreed else part)
    return "".join(out)


def plural(n: int | Decimal, word: str) -> str:
    """The number and the agreeing word: "25 баллов", "21 балл", "1 990 рублей"."""
    value = Decimal(n)
    shown: int | Decimal = int(value) if value == value.to_integral_value() else value
    text = format_number(shown)
    if isinstance(shown, Decimal):
        text = text.replace(".", ",")
    return f"{text} {plural_word(n, word)}"


def either(masculine: str, feminine: str) -> str:
    """Both forms for an unknown gender, as Russian forms print them: "купил(а)", "рад/рада"."""
    if feminine.startswith(masculine) and feminine != masculine:
        return f"{masculine}({feminine[len(masculine) :]})"
    return f"{masculine}/{feminine}"


def gendered(gender: str, masculine: str, feminine: str, neutral: str | None = None) -> str:
    """Pick the form for "m" or "f"; otherwise `neutral`, or both forms when it is not given."""
    if gender == MALE:
        return masculine
    if gender == FEMALE:
        return feminine
    return neutral if neutral is not None else either(masculine, feminine)


def verb_past(verb: str, gender: str) -> str:
    """A past-tense verb (or infinitive) for the gender: "купил" -> "купила" for "f".

    Unknown gender gives both forms ("купил(а)", "записался/записалась"); a word that is
    not a verb comes back unchanged.
    """
    parses = [p for p in morph().parse(verb) if p.tag.POS in ("VERB", "INFN")]
    if not parses:
        return verb
    forms = {}
    for key, grammeme in ((MALE, "masc"), (FEMALE, "femn")):
        inflected = parses[0].inflect({"VERB", "past", "sing", grammeme})
        forms[key] = _same_shape(verb, inflected.word) if inflected else verb
    return gendered(gender, forms[MALE], forms[FEMALE])
