"""Suggest new themes from the comments no rule matched.

No model to train: the comments are grouped by the content words they share. The most
widespread noun or verb lemma (not a stop word, not already a rule's, not a sentiment word)
starts a group of the comments containing it; the words most of that group also share name
it; those comments leave the pool and the next group starts, while a word still joins at
least `min_count` comments. Staff read the examples and make a theme of what makes sense.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from lifelong.feedback.sentiment import INTENSIFIERS, LEXICON, NEGATORS
from lifelong.feedback.themes import EN, RuleIndex, Token, match_themes, tokenize
from lifelong.lib.russian import morph

# Words too general to name a theme, in both languages.
STOP = frozenset(
    {
        "быть", "мочь", "хотеть", "сделать", "делать", "стать", "сказать", "говорить",
        "знать", "есть", "купить", "покупать", "заказать", "заказывать", "заказ", "товар",
        "магазин", "раз", "день", "время", "год", "неделя", "месяц", "час", "минута",
        "вещь", "всё", "весь", "это", "то", "что", "как", "так", "там", "тут", "вопрос",
        "человек", "спасибо", "пожалуйста", "the", "and", "for", "with", "this", "that",
        "was", "were", "have", "has", "had", "are", "you", "your", "our", "they", "them",
        "from", "not", "but", "all", "very", "just", "get", "got", "buy", "bought", "order",
        "shop", "store", "thank", "would", "could", "again", "also",
    }
)  # fmt: skip
_CONTENT_POS = frozenset({"NOUN", "VERB", "INFN"})


@dataclass(frozen=True)
class Suggestion:
    """A candidate theme: the words its comments share, how many, and a few of them."""

    words: tuple[str, ...]
    count: int
    examples: tuple[str, ...]


def _content_lemmas(tokens: Sequence[Token], index: RuleIndex) -> set[str]:
    out = set()
    for token in tokens:
        if token.lemmas & index.vocabulary or token.lemmas & NEGATORS:
            continue
        if token.language == EN:
            lemma = min(token.lemmas, key=len)
            if len(lemma) >= 4 and token.word not in STOP and lemma not in STOP:
                out.add(lemma)
            continue
        parse = morph().parse(token.word)[0]
        lemma = parse.normal_form.replace("ё", "е")
        if (
            parse.tag.POS in _CONTENT_POS
            and len(lemma) >= 3
            and lemma not in STOP
            and lemma not in LEXICON
            and lemma not in INTENSIFIERS
        ):
            out.add(lemma)
    return out


def themes_suggest(
    texts: Sequence[str],
    index: RuleIndex,
    *,
    min_count: int = 3,
    limit: int = 10,
    examples: int = 3,
) -> list[Suggestion]:
    """Candidate themes from the texts that none of the index's rules matches."""
    pool: dict[int, set[str]] = {}
    for n, text in enumerate(texts):
        tokens = tokenize(text)
        if match_themes(tokens, index):
            continue
        lemmas = _content_lemmas(tokens, index)
        if lemmas:
            pool[n] = lemmas
    suggestions: list[Suggestion] = []
    while pool and len(suggestions) < limit:
        frequency = Counter(lemma for lemmas in pool.values() for lemma in lemmas)
        # Most widespread first; ties by the word, so the same texts give the same list.
        seed, count = min(frequency.items(), key=lambda item: (-item[1], item[0]))
        if count < min_count:
            break
        members = sorted(n for n, lemmas in pool.items() if seed in lemmas)
        shared = Counter(lemma for n in members for lemma in pool[n] if lemma != seed)
        related = [
            lemma
            for lemma, c in sorted(shared.items(), key=lambda item: (-item[1], item[0]))
            if c >= max(2, len(members) // 2)
        ][:3]
        suggestions.append(
            Suggestion(
                words=(seed, *related),
                count=len(members),
                examples=tuple(texts[n] for n in members[:examples]),
            )
        )
        for n in members:
            del pool[n]
    return suggestions
