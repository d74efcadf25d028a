"""The default themes on hand-labelled Russian reviews of a yoga and ayurveda shop, its courses
and its B2B orders: precision and recall of at least 0.85 for every theme.

reviews_ru.csv (200 reviews) was written before the rules; reviews_ru_heldout.csv (120) after
them, in two parts of 60; reviews_ru_blind.csv (145) later still, blind (see docs/feedback.md
for the figures and how they were reached).
The same numbers print with

    lifelong feedback tag lifelong/feedback/tests/reviews_ru.csv --evaluate \
        --staff "Марина,Алексей,Ольга,Наталья,Ирина,Анна,Дмитрий,Елена"
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lifelong.cli import main
from lifelong.factories import UserFactory
from lifelong.feedback.command import tag_file
from lifelong.feedback.evaluation import evaluate

pytestmark = pytest.mark.django_db

HERE = Path(__file__).parent
# The shop's staff, as the reviews name them.
STAFF = ["Марина", "Алексей", "Ольга", "Наталья", "Ирина", "Анна", "Дмитрий", "Елена"]


@pytest.fixture
def staff_users():
    for n, name in enumerate(STAFF):
        UserFactory.create(username=f"staff{n}", first_name=name, password=None)


def _evaluation(path: Path):
    rows, taggings = tag_file(path)
    expected = [
        (frozenset(filter(None, row["themes"].split(";"))), row["sentiment"]) for row in rows
    ]
    found = [(frozenset(t.themes), t.sentiment) for t in taggings]
    slugs = sorted({slug for themes, _ in expected for slug in themes})
    return evaluate(expected, found, slugs)


@pytest.mark.parametrize(
    ("name", "texts"), [("reviews_ru.csv", 200), ("reviews_ru_heldout.csv", 120)]
)
def test_every_theme_reaches_the_bar(staff_users, name, texts):
    report = _evaluation(HERE / name)
    assert report.texts == texts
    assert len(report.themes) == 12
    below = [
        line
        for line, s in zip(report.lines()[1:], report.themes, strict=False)
        if min(s.precision, s.recall) < 0.85
    ]
    assert not below, "\n".join(below)
    assert report.sentiment_accuracy >= 0.85


def test_the_blind_sample_keeps_its_figures(staff_users):
    """reviews_ru_blind.csv (145 reviews) was written without reading the rules and committed
    before the tagger saw it; its first-sight figures and those after the words it showed
    missing are in docs/feedback.md. Not every theme reaches 0.85 on it (support's precision
    is 0.80: «курьер не дозвонился», «всегда на связи»), so this guards what it reaches now."""
    report = _evaluation(HERE / "reviews_ru_blind.csv")
    assert report.texts == 145
    assert len(report.themes) == 12
    below = [
        line
        for line, s in zip(report.lines()[1:], report.themes, strict=False)
        if min(s.precision, s.recall) < 0.80
    ]
    assert not below, "\n".join(below)
    tp = sum(s.true_positives for s in report.themes)
    fp = sum(s.false_positives for s in report.themes)
    fn = sum(s.false_negatives for s in report.themes)
    assert tp / (tp + fp) >= 0.93 and tp / (tp + fn) >= 0.95
    assert report.sentiment_accuracy >= 0.85


def test_the_command_prints_the_same_figures(staff_users, capsys):
    path = HERE / "reviews_ru_heldout.csv"
    assert main(["feedback", "tag", str(path), "--evaluate", "--min", "0.85"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == _evaluation(path).lines()
    # Without the staff the named ones lose their theme, and the bar stops the command.
    names = "Пётр Иванов"
    assert (
        main(["feedback", "tag", str(path), "--evaluate", "--min", "0.99", "--staff", names]) == 1
    )
