"""Tag a comment with themes, a sentiment and the staff it names: the same code for the app,
the staff page's "try a text" box and `lifelong feedback tag`.

Everything here is a pure function of the text and a compiled `RuleIndex` (built from the
rows staff edit, see selectors.py). Russian words are lemmatised with the project's one
pymorphy3 analyser (lib/russian.py), English ones by a few suffix rules; a rule matches a
word when their lemmas meet, so «доставку», «доставкой» and «доставки» all match «доставка».
Lemmas are cached per word, which makes tagging ten thousand comments take seconds.

A word the dictionary does not know (a typo: «курер», «каччество») is compared with every
form of the rules' words: one letter added, dropped, changed or two swapped still matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lifelong.feedback.sentiment import score_polarity, sentiment_label, text_polarity
from lifelong.lib.russian import morph

RU, EN = "ru", "en"
# A word: letters, an inner hyphen («трек-номер») or an English apostrophe ("didn't").
_WORD = re.compile(r"[a-zа-яё]+(?:-[a-zа-яё]+)*(?:['’][a-z]+)?", re.IGNORECASE)
# Sentences bound a phrase; clauses (commas, dashes, «но») bound a negation.
_SENTENCE_END = re.compile(r"[.!?;…\n]+")
_CLAUSE_END = re.compile(r"[,:()—–]|\s-\s")
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
# Latin letters typed in a Russian word by a keyboard slip («доставкa»).
_HOMOGLYPHS = str.maketrans("aceopxykmthb", "асеорхукмтнв")
# After one of these a clause weighs more: «курс хороший, но дорогой» is a complaint.
CONTRAST = frozenset({"но", "однако", "зато", "but", "however", "although"})
PHRASE_GAP = 3  # other words allowed between neighbouring words of a phrase rule («так и не»)
TYPO_MIN_LENGTH = 5
TYPO_CACHE_SIZE = 100_000  # unknown words remembered per compiled index


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text with the lemmas it may stand for (every parse's normal form)."""

    word: str  # lower case, ё as е
    lemmas: frozenset[str]
    language: str
    sentence: int
    clause: int
    capital: bool  # written with a capital letter (names among common words)
    contrast: bool = False  # in a clause after «но» / "but"


@dataclass(frozen=True, slots=True)
class ThemeSpec:
    """A theme as the tagger needs it: its code and its rules as (language, phrase)."""

    slug: str
    rules: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class StaffName:
    """A staff member whose name customers may write («спасибо Ольге»)."""

    id: int
    first_name: str
    last_name: str


@dataclass(frozen=True, slots=True)
class _Rule:
    slug: str
    phrase: str
    words: tuple[frozenset[str], ...]  # the lemmas each word of the phrase may take
    # Per word: may other words come before the next one? Not after a preposition («под
    # заказ» is not «под ... заказ»).
    gaps: tuple[bool, ...]


@dataclass
class RuleIndex:
    """The active themes' rules, ready for matching: by every lemma a phrase may start with."""

    slugs: tuple[str, ...]
    by_first: dict[str, list[_Rule]]
    vocabulary: frozenset[str]  # every lemma of every rule word (suggestions leave them out)
    _typo_forms: dict[str, set[str]] = field(default_factory=dict)  # deletion key -> forms
    _form_lemmas: dict[str, set[str]] = field(default_factory=dict)  # form -> rule lemmas
    _typo_cache: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Tagging:
    """What the tagger found in one text."""

    themes: tuple[str, ...]
    sentiment: str  # negative, neutral or positive
    polarity: float  # -1 … 1: the text and the score together
    staff: tuple[int, ...] = ()
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)  # theme -> rules met

    def as_json(self) -> dict[str, object]:
        return {
            "themes": list(self.themes),
            "sentiment": self.sentiment,
            "polarity": round(self.polarity, 3),
            "staff": list(self.staff),
            "evidence": {slug: list(phrases) for slug, phrases in self.evidence.items()},
        }


def normalise(word: str) -> str:
    word = word.lower().replace("ё", "е").replace("’", "'")
    if _CYRILLIC.search(word) and _LATIN.search(word):
        word = word.translate(_HOMOGLYPHS)
    return word


@functools.lru_cache(maxsize=200_000)
def lemmas_ru(word: str) -> frozenset[str]:
    """The normal forms of every parse of a (normalised) Russian word, and the word itself."""
    found = {parse.normal_form.replace("ё", "е") for parse in morph().parse(word)}
    found.add(word)
    return frozenset(found)


@functools.lru_cache(maxsize=50_000)
def word_is_known(word: str) -> bool:
    return bool(morph().word_is_known(word))


@functools.lru_cache(maxsize=100_000)
def stem_en(word: str) -> str:
    """A crude English lemma by suffix rules: "deliveries", "delivered" -> "deliver(y)".

    Not a real lemmatiser; it only has to give a text's word and a rule's word the same
    stem, which it does for regular plurals, past forms and -ing forms.
    """
    w = word.lower()
    if len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]
            break
    else:
        if w.endswith("ly") and len(w) > 5:
            w = w[:-2]
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def language_of(word: str) -> str:
    return RU if _CYRILLIC.search(word) else EN


def word_lemmas(word: str) -> frozenset[str]:
    """The lemmas a normalised word may stand for, in its own language."""
    if language_of(word) == RU:
        lemmas = lemmas_ru(word)
        if "-" in word:
            # «экспресс-доставку», «онлайн-курс»: the last part carries the meaning.
            lemmas |= lemmas_ru(word.rsplit("-", 1)[1])
        return lemmas
    return frozenset({stem_en(word), word})


def _split_english(word: str) -> list[str]:
    # "didn't" -> did not; "it's" -> it
    if word.endswith("n't"):
        return [word[:-3], "not"]
    return [word.split("'")[0]]


def tokenize(text: str) -> list[Token]:
    """The words of a text with their lemmas, sentence and clause numbers."""
    tokens: list[Token] = []
    sentence = clause = 0
    contrast = False
    position = 0
    for match in _WORD.finditer(text):
        between = text[position : match.start()]
        position = match.end()
        if _SENTENCE_END.search(between):
            sentence += 1
            clause += 1
            contrast = False
        elif _CLAUSE_END.search(between):
            clause += 1
        raw = match.group()
        capital = raw[:1].isupper()
        word = normalise(raw)
        if word in CONTRAST:
            clause += 1
            contrast = True
            continue
        pieces = _split_english(word) if "'" in word else [word]
        for piece in pieces:
            if piece:
                tokens.append(
                    Token(
                        word=piece,
                        lemmas=word_lemmas(piece),
                        language=language_of(piece),
                        sentence=sentence,
                        clause=clause,
                        capital=capital,
                        contrast=contrast,
                    )
                )
    return tokens


def _rule_word_lemmas(word: str) -> frozenset[str]:
    # A rule word that is already a lemma means just that lemma («стекло», not «стечь»);
    # an inflected one means whatever it may be a form of.
    lemmas = word_lemmas(word)
    if language_of(word) == RU and any(
        parse.normal_form.replace("ё", "е") == word for parse in morph().parse(word)
    ):
        return frozenset({word})
    return lemmas


def phrase_words(phrase: str) -> list[str]:
    """A rule phrase as staff wrote it, as normalised words ("Курьер  опоздал" -> 2 words)."""
    words: list[str] = []
    for match in _WORD.finditer(phrase):
        word = normalise(match.group())
        words.extend(_split_english(word) if "'" in word else [word])
    return [w for w in words if w]


_PREPOSITIONS_EN = frozenset({"in", "on", "at", "of", "for", "to", "by", "with", "from", "out"})


def _is_preposition(word: str) -> bool:
    if language_of(word) == EN:
        return word in _PREPOSITIONS_EN
    return any(parse.tag.POS == "PREP" for parse in morph().parse(word))


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _forms(lemma: str) -> set[str]:
    """Every inflected form of a rule lemma (Russian) or its regular forms (English)."""
    if language_of(lemma) == EN:
        return {lemma, lemma + "s", lemma + "ed", lemma + "ing", lemma + "es"}
    forms = {lemma}
    for parse in morph().parse(lemma):
        if parse.normal_form.replace("ё", "е") == lemma:
            forms.update(f.word.replace("ё", "е") for f in parse.lexeme)
    return forms


def compile_rules(themes: Iterable[ThemeSpec]) -> RuleIndex:
    """Index the rules of the given (active) themes for `tag`."""
    index = RuleIndex(slugs=(), by_first={}, vocabulary=frozenset())
    slugs: list[str] = []
    vocabulary: set[str] = set()
    for theme in themes:
        slugs.append(theme.slug)
        for _language, phrase in theme.rules:
            plain = phrase_words(phrase)
            words = tuple(_rule_word_lemmas(w) for w in plain)
            if not words:
                continue
            gaps = tuple(not _is_preposition(w) for w in plain)
            rule = _Rule(slug=theme.slug, phrase=phrase, words=words, gaps=gaps)
            for lemma in words[0]:
                index.by_first.setdefault(lemma, []).append(rule)
            for lemmas in words:
                vocabulary.update(lemmas)
    index.slugs = tuple(slugs)
    index.vocabulary = frozenset(vocabulary)
    for lemma in vocabulary:
        if len(lemma) < TYPO_MIN_LENGTH - 1:
            continue
        for form in _forms(lemma):
            index._form_lemmas.setdefault(form, set()).add(lemma)
            for key in _deletions(form) | {form}:
                index._typo_forms.setdefault(key, set()).add(form)
    return index


def _within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance of at most one (a swap of neighbours counts as one)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def typo_lemmas(word: str, index: RuleIndex) -> frozenset[str]:
    """The rule lemmas an unknown word is one slip away from («курер» -> «курьер»)."""
    cached = index._typo_cache.get(word)
    if cached is not None:
        return cached
    found: set[str] = set()
    if len(word) >= TYPO_MIN_LENGTH and (language_of(word) == EN or not word_is_known(word)):
        candidates: set[str] = set()
        for key in _deletions(word) | {word}:
            candidates.update(index._typo_forms.get(key, ()))
        for form in candidates:
            if form != word and _within_one_edit(word, form):
                found.update(index._form_lemmas[form])
    result = frozenset(found)
    if len(index._typo_cache) >= TYPO_CACHE_SIZE:
        index._typo_cache.clear()
    index._typo_cache[word] = result
    return result


def _with_typos(tokens: list[Token], index: RuleIndex) -> list[Token]:
    out = []
    for token in tokens:
        if token.lemmas & index.vocabulary:
            out.append(token)
            continue
        extra = typo_lemmas(token.word, index)
        if extra:
            token = Token(
                word=token.word,
                lemmas=token.lemmas | extra,
                language=token.language,
                sentence=token.sentence,
                clause=token.clause,
                capital=token.capital,
                contrast=token.contrast,
            )
        out.append(token)
    return out


def _matches_at(tokens: Sequence[Token], start: int, rule: _Rule) -> bool:
    position = start
    for n, lemmas in enumerate(rule.words[1:]):
        sentence = tokens[position].sentence
        reach = 2 + PHRASE_GAP if rule.gaps[n] else 2
        for candidate in range(position + 1, min(len(tokens), position + reach)):
            token = tokens[candidate]
            if token.sentence != sentence:
                return False
            if token.lemmas & lemmas:
                position = candidate
                break
        else:
            return False
    return True


def match_themes(tokens: Sequence[Token], index: RuleIndex) -> dict[str, tuple[str, ...]]:
    """The themes whose rules the tokens meet, each with the rules met (in text order)."""
    found: dict[str, list[str]] = {}
    for start, token in enumerate(tokens):
        for lemma in token.lemmas:
            for rule in index.by_first.get(lemma, ()):
                if rule.phrase in found.get(rule.slug, ()):
                    continue
                if _matches_at(tokens, start, rule):
                    found.setdefault(rule.slug, []).append(rule.phrase)
    order = {slug: n for n, slug in enumerate(index.slugs)}
    return {slug: tuple(found[slug]) for slug in sorted(found, key=order.__getitem__)}


@dataclass(frozen=True, slots=True)
class _NameForms:
    id: int
    lemmas: frozenset[str]
    common: frozenset[str]  # those also ordinary words («Вера», «Роза»): need a capital


@functools.lru_cache(maxsize=10_000)
def _name_lemmas(name: str) -> tuple[frozenset[str], frozenset[str]]:
    word = normalise(name.strip())
    if not word:
        return frozenset(), frozenset()
    if language_of(word) == EN:
        return frozenset({word}), frozenset()
    lemmas = {word}
    common = False
    for parse in morph().parse(word):
        tag = parse.tag
        if {"Name", "Surn", "Patr"} & set(tag.grammemes):
            lemmas.add(parse.normal_form.replace("ё", "е"))
        elif word_is_known(word) and tag.POS is not None:
            common = True
    frozen = frozenset(lemmas)
    return frozen, frozen if common else frozenset()


def staff_mentions(tokens: Sequence[Token], staff: Sequence[StaffName]) -> tuple[int, ...]:
    """The staff members whose first name or surname the text names, in any case form."""
    names = []
    for person in staff:
        lemmas: set[str] = set()
        common: set[str] = set()
        for part in (person.first_name, person.last_name):
            part_lemmas, part_common = _name_lemmas(part)
            lemmas |= part_lemmas
            common |= part_common
        if lemmas:
            names.append(_NameForms(person.id, frozenset(lemmas), frozenset(common)))
    found: list[int] = []
    for token in tokens:
        for name in names:
            if name.id in found:
                continue
            met = token.lemmas & name.lemmas
            if met and (token.capital or not met <= name.common):
                found.append(name.id)
    return tuple(found)


def tag(
    text: str,
    index: RuleIndex,
    *,
    score: int | None = None,
    scale: str = "nps",
    staff: Sequence[StaffName] = (),
    staff_theme: str = "staff",
) -> Tagging:
    """Themes, sentiment and named staff of one text; `score` is NPS 0–10 or CSAT 1–5.

    A staff member named in the text also tags it with `staff_theme` (when that theme is
    active): «спасибо Ольге» is about the staff even without the word «сотрудник».
    """
    tokens = _with_typos(tokenize(text), index)
    evidence = match_themes(tokens, index)
    mentioned = staff_mentions(tokens, staff)
    if mentioned and staff_theme in index.slugs and staff_theme not in evidence:
        evidence[staff_theme] = ("@staff",)
        order = {slug: n for n, slug in enumerate(index.slugs)}
        evidence = dict(sorted(evidence.items(), key=lambda item: order[item[0]]))
    polarity, label = sentiment_label(
        text_polarity(tokens), None if score is None else score_polarity(score, scale)
    )
    return Tagging(
        themes=tuple(evidence),
        sentiment=label,
        polarity=polarity,
        staff=mentioned,
        evidence=evidence,
    )
