"""The one source of "now".

Real time by default. Tests freeze it with time-machine; `lifelong simulate`
moves it forward by setting an offset that every caller of `now()` sees, and saves
it next to the database so that `lifelong run` afterwards shows the simulated days.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_lock = threading.Lock()
_offset = dt.timedelta(0)


def now() -> dt.datetime:
    """Current time, timezone-aware UTC, shifted by any simulation offset."""
    return dt.datetime.now(dt.UTC) + _offset


def today() -> dt.date:
    return now().date()


def offset() -> dt.timedelta:
    """How far simulated time runs ahead of real time."""
    return _offset


def advance(delta: dt.timedelta) -> None:
    """Move simulated time forward (used by `lifelong simulate`)."""
    global _offset
    if delta < dt.timedelta(0):
        raise ValueError("the clock only moves forward")
    with _lock:
        _offset += delta


def reset() -> None:
    global _offset
    with _lock:
        _offset = dt.timedelta(0)


@contextmanager
def rewound(to: dt.datetime) -> Iterator[None]:
    """Run the block with now() set back to `to`, moved on by `advance`; the offset is
    restored afterwards. Only `lifelong demo` uses it, to replay its made-up history through
    the real sweeps before anything serves: nothing else may turn the clock back."""
    global _offset
    with _lock:
        saved = _offset
        _offset = to - dt.datetime.now(dt.UTC)
    try:
        yield
    finally:
        with _lock:
            _offset = saved


def offset_save(path: Path) -> None:
    path.write_text(f"{_offset.total_seconds()}\n")


def offset_load(path: Path) -> None:
    """Resume a saved simulation offset (no file: real time)."""
    global _offset
    try:
        seconds = float(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    with _lock:
        _offset = max(_offset, dt.timedelta(seconds=seconds))


def offset_forget(path: Path) -> None:
    reset()
    path.unlink(missing_ok=True)
