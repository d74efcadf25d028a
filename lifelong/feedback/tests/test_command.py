"""`lifelong feedback tag` and `lifelong feedback suggest` on small CSV files, with the rules
the data migration seeds and the rules staff changed."""

from __future__ import annotations

import json

import pytest

from lifelong.cli import main
from lifelong.factories import UserFactory
from lifelong.feedback.models import Theme

pytestmark = pytest.mark.django_db


def _csv(tmp_path, text: str):
    path = tmp_path / "comments.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_json_lines_with_themes_sentiment_and_named_staff(tmp_path, capsys):
    olga = UserFactory.create(username="olga", first_name="Ольга", last_name="Петрова")
    path = _csv(
        tmp_path,
        "text,score\n"
        '"Курьер опоздал, а крем протёк",2\n'
        "Спасибо Ольге за консультацию!,\n"
        "Нормально,10\n",
    )
    assert main(["feedback", "tag", path]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["line"], r["themes"], r["sentiment"]) for r in lines] == [
        (2, ["delivery"], "negative"),
        (3, ["staff"], "positive"),
        (4, [], "positive"),
    ]
    assert lines[1]["staff"] == [olga.pk]


def test_csat_scores_and_a_scale_column(tmp_path, capsys):
    path = _csv(tmp_path, "text,score,scale\nНормально,5,\nНормально,5,nps\n")
    assert main(["feedback", "tag", path, "--scale", "csat"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # 5 of 5 is a top mark; 5 of 10 is a detractor's.
    assert [r["sentiment"] for r in lines] == ["positive", "negative"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("comment\nтекст\n", "no column named 'text'"),
        ("text,score\nтекст,пять\n", "line 2: score 'пять' is not a whole number"),
        ("text,score\nтекст,11\n", "line 2: an NPS score is 0 to 10, not 11"),
    ],
)
def test_a_bad_file_is_refused_with_its_line(tmp_path, capsys, content, message):
    assert main(["feedback", "tag", _csv(tmp_path, content)]) == 2
    assert message in capsys.readouterr().err


def test_a_theme_switched_off_no_longer_tags(tmp_path, capsys):
    Theme.objects.filter(slug="delivery").update(active=False)
    assert main(["feedback", "tag", _csv(tmp_path, "text\nДоставка долгая\n")]) == 0
    assert json.loads(capsys.readouterr().out)["themes"] == []


def test_suggest_prints_candidate_themes(tmp_path, capsys):
    rows = "\n".join(
        ["Где мой кешбэк?", "Кешбэк пришёл поздно", "Кешбэк маленький", "Доставка быстрая"]
    )
    assert main(["feedback", "suggest", _csv(tmp_path, "text\n" + rows + "\n")]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    suggestion = json.loads(line)
    assert suggestion["words"][0] == "кешбэк"
    assert suggestion["count"] == 3
