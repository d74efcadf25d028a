"""What the team did with customers: notes, facts, and tasks open, overdue or done."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from lifelong.demo import phrases
from lifelong.demo.dice import Dice
from lifelong.demo.moments import later, office_moment
from lifelong.demo.people import Person

FACT_SHARE = 0.18
NOTE_SHARE = 0.10
TASK_SHARE = 0.07
DONE_TASK_SHARE = 0.4

T = TypeVar("T")


@dataclass(frozen=True)
class NotePlan:
    person: Person
    author: str  # a staff role, resolved to the demo user of that role
    text: str
    at: dt.datetime


@dataclass(frozen=True)
class FactPlan:
    person: Person
    category: str
    text: str
    at: dt.datetime


@dataclass(frozen=True)
class TaskPlan:
    person: Person
    title: str
    kind: str
    created_by: str
    created_at: dt.datetime
    due_at: dt.datetime
    outcome: str  # empty while open
    completed_at: dt.datetime | None


@dataclass(frozen=True)
class StaffWork:
    notes: list[NotePlan]
    facts: list[FactPlan]
    tasks: list[TaskPlan]


def staff_work_plan(dice: Dice, *, people: list[Person], end: dt.datetime) -> StaffWork:
    work = StaffWork(notes=[], facts=[], tasks=[])
    for person in people:
        if dice.chance(FACT_SHARE):
            work.facts.extend(_facts(dice, person=person, end=end))
        if dice.chance(NOTE_SHARE):
            work.notes.extend(_notes(dice, person=person, end=end))
        if not person.is_lead and dice.chance(TASK_SHARE):
            work.tasks.append(_task(dice, person=person, end=end))
    return work


def _moment_since(dice: Dice, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """Staff time (Moscow working hours) after `start` and not after `end`."""
    hours = max(1.0, (end - start).total_seconds() / 3600)
    at = office_moment(dice, near=later(dice, start, low_hours=0.5, high_hours=hours))
    return min(max(at, start + dt.timedelta(minutes=5)), end)


def _pick(
    dice: Dice,
    options: Sequence[T],
    texts: Callable[[T], phrases.Gendered],
    *,
    female: bool,
) -> tuple[T, str]:
    """One option that has a text for this gender, with that text."""
    usable = [(o, text) for o in options if (text := texts(o)[female]) is not None]
    return dice.pick(usable)


def _facts(dice: Dice, *, person: Person, end: dt.datetime) -> list[FactPlan]:
    chosen: dict[str, FactPlan] = {}
    for _ in range(dice.between(1, 2)):
        (category, _texts), text = _pick(dice, phrases.FACTS, lambda f: f[1], female=person.female)
        at = _moment_since(dice, person.created_at, end)
        chosen.setdefault(text, FactPlan(person, category, text, at))
    return list(chosen.values())


def _notes(dice: Dice, *, person: Person, end: dt.datetime) -> list[NotePlan]:
    notes = []
    for _ in range(dice.between(1, 2)):
        _texts, text = _pick(dice, phrases.NOTES, lambda n: n, female=person.female)
        author = "support" if dice.chance(0.8) else "owner"
        at = _moment_since(dice, person.created_at, end)
        notes.append(NotePlan(person, author, text, at))
    return notes


def _task(dice: Dice, *, person: Person, end: dt.datetime) -> TaskPlan:
    created_by = "support" if dice.chance(0.7) else "owner"
    if dice.chance(DONE_TASK_SHARE):
        (title, kind, _texts), outcome = _pick(
            dice, phrases.DONE_TASKS, lambda t: t[2], female=person.female
        )
        created_at = _moment_since(dice, person.created_at, end)
        due_at = later(dice, created_at, low_hours=24, high_hours=24 * 7)
        completed_at = _moment_since(dice, created_at, min(end, due_at + dt.timedelta(days=2)))
        return TaskPlan(person, title, kind, created_by, created_at, due_at, outcome, completed_at)
    title, kind = dice.pick(phrases.OPEN_TASKS)
    # Some are overdue: a queue where nothing slipped would not look like real work.
    due_at = end + dt.timedelta(hours=dice.uniform(-24 * 10, 24 * 14))
    due_at = due_at.replace(second=0, microsecond=0)
    created_at = max(person.created_at, min(end, due_at - dt.timedelta(days=dice.uniform(1, 14))))
    return TaskPlan(person, title, kind, created_by, created_at, due_at, "", None)
