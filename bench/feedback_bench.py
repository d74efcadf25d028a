"""Feedback themes benchmark: how long tagging N comments takes, against a fair floor.

    .venv/bin/python bench/feedback_bench.py                 # 10,000 comments
    .venv/bin/python bench/feedback_bench.py --comments 100000

The comments are built from the hand-labelled samples' 320 reviews: each is one to three
reviews joined, every tenth word dropped at random and a letter doubled now and then, so the
caches meet new word forms and typos the way real traffic would. Rules: the default themes
of the data migration (no database needed).

floor: lower-case the text, split it into words, look each word up in a set of the rules'
       words as written (no lemmas, no phrases, no typos, no sentiment): the least any
       tagger does;
ours:  `themes.tag` with a score and three staff names, from a cold lemma cache (a new
       process) and then again warm.
Prints seconds and comments per second of each, and ours / floor. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")


def comments(n: int, seed: int) -> list[tuple[str, int | None]]:
    texts = []
    for name in ("reviews_ru.csv", "reviews_ru_heldout.csv"):
        with (ROOT / "lifelong/feedback/tests" / name).open(encoding="utf-8") as f:
            texts += [row["text"] for row in csv.DictReader(f)]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = " ".join(rng.sample(texts, rng.randint(1, 3))).split()
        kept = []
        for word in words:
            if rng.random() < 0.1:
                continue
            if len(word) > 5 and rng.random() < 0.05:
                i = rng.randrange(len(word))
                word = word[:i] + word[i] + word[i:]
            kept.append(word)
        out.append((" ".join(kept), rng.choice([None, rng.randint(0, 10)])))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comments", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import django

    django.setup()
    from lifelong.feedback.themes import StaffName, ThemeSpec, compile_rules, tag

    defaults = importlib.import_module("lifelong.feedback.migrations.0002_default_themes").DEFAULTS
    specs = [
        ThemeSpec(slug, tuple([("ru", p) for p in ru] + [("en", p) for p in en]))
        for slug, (_ru_name, _en_name, ru, en) in defaults.items()
    ]
    staff = [
        StaffName(1, "Ольга", "Петрова"),
        StaffName(2, "Алексей", ""),
        StaffName(3, "Анна", ""),
    ]
    data = comments(args.comments, args.seed)
    words = re.compile(r"\w+")
    rule_words = {w for spec in specs for _, p in spec.rules for w in p.split()}

    started = time.perf_counter()
    floor_hits = 0
    for text, _score in data:
        floor_hits += sum(1 for w in words.findall(text.lower()) if w in rule_words)
    floor = time.perf_counter() - started

    started = time.perf_counter()
    index = compile_rules(specs)
    compiled = time.perf_counter() - started

    runs = []
    tagged = 0
    for _ in range(2):
        started = time.perf_counter()
        tagged = sum(1 for text, score in data if tag(text, index, score=score, staff=staff).themes)
        runs.append(time.perf_counter() - started)
    cold, warm = runs
    n = len(data)
    print(f"{n:,} comments, {sum(len(t) for t, _ in data) / n:.0f} characters on average")
    print(f"rules compiled in {compiled:.2f} s")
    print(f"floor (word lookup):   {floor:6.2f} s  {n / floor:>10,.0f} comments/s")
    print(f"ours, cold lemma cache: {cold:6.2f} s  {n / cold:>10,.0f} comments/s")
    print(f"ours, warm:            {warm:6.2f} s  {n / warm:>10,.0f} comments/s")
    print(f"ours / floor: {cold / floor:.0f}x cold, {warm / floor:.0f}x warm")
    print(f"{tagged / n:.0%} of the comments got at least one theme")
    return 0


if __name__ == "__main__":
    sys.exit(main())
