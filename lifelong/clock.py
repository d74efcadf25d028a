"""The one source of "now".

Real time by default. Tests freeze it with time-machine; `lifelong simulate`
moves it forward by setting an offset that every caller of `now()` sees.
"""

from __future__ import annotations

import datetime as dt
import threading

_lock = threading.Lock()
_offset = dt.timedelta(0)


def now() -> dt.datetime:
    """Current time, timezone-aware UTC, shifted by any simulation offset."""
    return dt.datetime.now(dt.UTC) + _offset


def today() -> dt.date:
    return now().date()


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
