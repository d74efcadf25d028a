"""Precision and recall of the tagger against hand-labelled texts, per theme, and the share
of sentiments it got right. Pure: takes the expected and the found labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ThemeScore:
    slug: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0


@dataclass(frozen=True)
class Evaluation:
    texts: int
    themes: tuple[ThemeScore, ...]
    sentiment_right: int

    @property
    def sentiment_accuracy(self) -> float:
        return self.sentiment_right / self.texts if self.texts else 1.0

    def lines(self) -> list[str]:
        out = [f"{'theme':<12} {'n':>4} {'precision':>9} {'recall':>7}"]
        for s in self.themes:
            n = s.true_positives + s.false_negatives
            out.append(f"{s.slug:<12} {n:>4} {s.precision:>9.3f} {s.recall:>7.3f}")
        out.append(f"sentiment accuracy {self.sentiment_accuracy:.3f} over {self.texts} texts")
        return out


def evaluate(
    expected: Sequence[tuple[frozenset[str], str]],
    found: Sequence[tuple[frozenset[str], str]],
    slugs: Iterable[str],
) -> Evaluation:
    """Compare (themes, sentiment) pairs, text by text, for every theme in `slugs`."""
    if len(expected) != len(found):
        raise ValueError("expected and found differ in length")
    pairs = list(zip(expected, found, strict=True))
    scores = []
    for slug in slugs:
        tp = sum(1 for (e, _), (f, _) in pairs if slug in e and slug in f)
        fp = sum(1 for (e, _), (f, _) in pairs if slug not in e and slug in f)
        fn = sum(1 for (e, _), (f, _) in pairs if slug in e and slug not in f)
        scores.append(ThemeScore(slug, tp, fp, fn))
    right = sum(1 for (_, e), (_, f) in pairs if e == f)
    return Evaluation(texts=len(expected), themes=tuple(scores), sentiment_right=right)
