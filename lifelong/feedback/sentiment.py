"""The sentiment of a comment: a small lexicon of lemmas with negation and intensity, and the
score the customer gave (NPS 0–10, CSAT 1–5) when there is one.

«не понравилось» turns a good word bad; «не опоздал» turns a bad word mildly good; «не пришло»,
«не работает» make a plain verb of something expected into a complaint; «очень», «совсем»
make the next word weigh more. A clause after «но» / "but" weighs more than the one before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
NEGATORS = frozenset({"не", "нет", "без", "not", "no", "never", "without"})
NEGATION_REACH = 2  # a negator reaches this many words ahead, inside its clause
INTENSIFIERS = {
    "очень": 1.5,
    "совсем": 1.5,
    "совершенно": 1.5,
    "абсолютно": 1.5,
    "крайне": 1.7,
    "слишком": 1.3,
    "супер": 1.5,
    "безумно": 1.7,
    "невероятно": 1.5,
    "просто": 1.2,
    "very": 1.5,
    "really": 1.4,
    "so": 1.3,
    "too": 1.3,
    "extremely": 1.7,
    "totally": 1.5,
}
CONTRAST_WEIGHT = 1.5
# Lemmas (ё as е) and English stems (themes.stem_en) with their weight.
LEXICON: dict[str, float] = {
    # Russian, good
    "хороший": 1,
    "хорошо": 1,
    "отличный": 1.5,
    "отлично": 1.5,
    "прекрасный": 1.5,
    "замечательный": 1.5,
    "великолепный": 1.5,
    "потрясающий": 1.5,
    "шикарный": 1.5,
    "чудесный": 1.5,
    "волшебный": 1.5,
    "чудо": 1.2,
    "идеальный": 1.5,
    "лучший": 1.5,
    "супер": 1.5,
    "класс": 1.2,
    "классный": 1.2,
    "круто": 1.2,
    "крутой": 1.2,
    "понравиться": 1.2,
    "нравиться": 1,
    "любить": 1,
    "любовь": 0.8,
    "спасибо": 1,
    "благодарить": 1,
    "благодарность": 1,
    "довольный": 1.2,
    "рад": 1,
    "радовать": 1,
    "рекомендовать": 1.2,
    "советовать": 1,
    "быстро": 0.8,
    "быстрый": 0.8,
    "мгновенно": 0.8,
    "удобно": 1,
    "удобный": 1,
    "вежливый": 1,
    "приятный": 1,
    "приятно": 1,
    "приветливый": 1,
    "доброжелательный": 1,
    "внимательный": 1,
    "аккуратно": 0.8,
    "аккуратный": 0.8,
    "надежный": 0.8,
    "качественный": 1,
    "качественно": 1,
    "свежий": 0.8,
    "ароматный": 0.8,
    "вкусный": 1,
    "помочь": 0.8,
    "помогать": 0.8,
    "выгодно": 1,
    "выгодный": 1,
    "недорого": 0.8,
    "адекватный": 0.6,
    "интересный": 0.8,
    "незабываемый": 1.5,
    "безупречный": 1.5,
    "находка": 1.2,
    "праздник": 1,
    "мечта": 1,
    "восторг": 1.5,
    "превзойти": 1.2,
    "удивить": 0.5,
    "радость": 1,
    "гладко": 0.8,
    "выручить": 1,
    "просто": 0.3,
    "красивый": 1,
    "крепкий": 0.8,
    "мягкий": 0.5,
    "нормально": 0.3,
    "нормальный": 0.3,
    "неплохой": 0.6,
    "неплохо": 0.6,
    "вовремя": 0.8,
    "целый": 0.6,
    "решить": 0.6,
    "разобраться": 0.4,
    # Russian, bad
    "плохой": -1,
    "плохо": -1,
    "ужасный": -1.5,
    "ужасно": -1.5,
    "отвратительный": -1.5,
    "кошмар": -1.5,
    "разочаровать": -1.2,
    "разочаровываться": -1.2,
    "разочароваться": -1.2,
    "разочарованный": -1.2,
    "разочарование": -1.2,
    "недовольный": -1.2,
    "опоздать": -1,
    "опаздывать": -1,
    "задержка": -1,
    "задержать": -1,
    "затянуться": -1,
    "долго": -0.8,
    "долгий": -0.5,
    "медленно": -0.8,
    "медленный": -0.8,
    "тормозить": -1,
    "зависнуть": -1,
    "вылетать": -1,
    "сломать": -1,
    "сломаться": -1,
    "брак": -1.2,
    "трещина": -1,
    "треснуть": -1,
    "протечь": -1,
    "вытечь": -1,
    "разбиться": -1,
    "мятый": -1,
    "порваться": -1,
    "грубо": -1.2,
    "грубый": -1.2,
    "нахамить": -1.5,
    "хамить": -1.5,
    "огрызаться": -1.2,
    "дорого": -0.8,
    "завысить": -1,
    "завышенный": -1,
    "перебор": -1,
    "кусаться": -0.8,
    "проблема": -0.8,
    "ошибка": -0.8,
    "жаль": -0.8,
    "жалоба": -0.8,
    "обмануть": -1.5,
    "подделка": -1.5,
    "аллергия": -1,
    "вонять": -1.2,
    "потерять": -0.8,
    "потеряться": -0.8,
    "пропасть": -1,
    "невозможно": -1,
    "сложно": -0.5,
    "странно": -0.6,
    "ругаться": -0.8,
    "отказать": -1,
    "отказаться": -0.8,
    "перепутать": -1,
    "хуже": -1,
    "худший": -1.5,
    "хромать": -1,
    "прогорклый": -1.2,
    "просрочка": -1.2,
    "отсыреть": -1,
    "хлипкий": -1,
    "крошиться": -1,
    "растрепаться": -1,
    "растянуться": -0.8,
    "разойтись": -0.6,
    "отписка": -1,
    "футболить": -1.2,
    "невыгодно": -1,
    "урезать": -1,
    "сгореть": -0.8,
    "пересказ": -0.6,
    "отменить": -0.6,
    "перебрать": -0.5,
    "напоминать": -0.5,
    "хватить": -0.5,
    "глухо": -0.8,
    "скользковатый": -0.6,
    "никогда": -0.5,
    "никто": -0.8,
    "химический": -0.8,
    "химия": -0.8,
    # English stems (themes.stem_en), good
    "good": 1,
    "great": 1.2,
    "excellent": 1.5,
    "amaz": 1.5,
    "perfect": 1.5,
    "love": 1.2,
    "lik": 0.8,
    "nic": 1,
    "fast": 0.8,
    "quick": 0.8,
    "friendly": 1,
    "helpful": 1,
    "polit": 1,
    "recommend": 1.2,
    "thank": 1,
    "happy": 1,
    "best": 1.5,
    "wonderful": 1.5,
    "beautiful": 1,
    # English, bad
    "bad": -1,
    "terribl": -1.5,
    "awful": -1.5,
    "horribl": -1.5,
    "slow": -0.8,
    "lat": -0.8,
    "delay": -1,
    "broken": -1,
    "brok": -1,
    "damag": -1,
    "rud": -1.2,
    "disappoint": -1.2,
    "expensiv": -0.8,
    "overpric": -1,
    "poor": -1,
    "worst": -1.5,
    "wrong": -1,
    "problem": -0.8,
    "fak": -1.5,
    "useles": -1.2,
}
# Plain verbs of something the customer expected: said with a negation, a complaint.
EXPECTED = frozenset(
    {
        "прийти",
        "приходить",
        "привезти",
        "доставить",
        "приехать",
        "работать",
        "сработать",
        "ответить",
        "отвечать",
        "вернуть",
        "звонить",
        "позвонить",
        "перезвонить",
        "предупредить",
        "предупреждать",
        "открываться",
        "грузиться",
        "гореть",
        "принимать",
        "применяться",
        "вводиться",
        "дождаться",
        "дозвониться",
        "решить",
        "подойти",
        "найти",
        "помочь",
        "проходить",
        "пройти",
        "получить",
        "наличие",
        "тот",  # «не тот цвет», «не то, что заказывала»
        "соответствовать",
        "arriv",
        "work",
        "answer",
        "respond",
        "reply",
        "help",
        "receiv",
    }
)


class Word(Protocol):
    @property
    def lemmas(self) -> frozenset[str]: ...
    @property
    def clause(self) -> int: ...
    @property
    def contrast(self) -> bool: ...


def _weight(lemmas: frozenset[str]) -> float:
    best = 0.0
    for lemma in lemmas:
        value = LEXICON.get(lemma, 0.0)
        if abs(value) > abs(best):
            best = value
    return best


def text_polarity(tokens: Sequence[Word]) -> float:
    """-1 … 1 from the words alone (0 when no word of the lexicon occurs)."""
    total = 0.0
    for position, token in enumerate(tokens):
        if token.lemmas & NEGATORS:
            continue
        weight = _weight(token.lemmas)
        expected = bool(token.lemmas & EXPECTED)
        if not weight and not expected:
            continue
        negated = False
        boost = 1.0
        for back in range(position - 1, max(-1, position - 1 - NEGATION_REACH - 1), -1):
            before = tokens[back]
            if before.clause != token.clause:
                break
            if before.lemmas & NEGATORS and position - back <= NEGATION_REACH:
                negated = True
            for lemma in before.lemmas:
                boost = max(boost, INTENSIFIERS.get(lemma, 1.0))
        if negated:
            # «не понравилось» is as bad as «понравилось» is good; «не опоздал» only mildly good.
            value = -1.0 if expected and weight >= 0 else -weight if weight > 0 else -weight * 0.5
        else:
            value = weight
        value *= boost
        if token.contrast:
            value *= CONTRAST_WEIGHT
        total += value
    return math.tanh(total / 1.5)


def score_polarity(score: int, scale: str = "nps") -> float:
    """-1 … 1 from a score: NPS 0–10 (7 is neutral, 10 is 1) or CSAT 1–5 (3 is neutral)."""
    if scale == "csat":
        if not 1 <= score <= 5:
            raise ValueError(f"a CSAT score is 1 to 5, not {score}")
        return (score - 3) / 2
    if not 0 <= score <= 10:
        raise ValueError(f"an NPS score is 0 to 10, not {score}")
    return max(-1.0, min(1.0, (score - 7) / 3))


def sentiment_label(text: float, score: float | None) -> tuple[float, str]:
    """The combined polarity and its label; a score and the text count equally."""
    polarity = text if score is None else (text + score) / 2
    if polarity >= 0.2:
        return polarity, POSITIVE
    if polarity <= -0.2:
        return polarity, NEGATIVE
    return polarity, NEUTRAL
