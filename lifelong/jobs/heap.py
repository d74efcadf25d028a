"""The cyclic garbage collector set for a long-running worker process.

A journey batch or a dispatch batch allocates tens of thousands of short-lived objects
(model rows, contexts, rendered texts) that reference counting frees as soon as the batch
is done with them. With Python's defaults the cyclic collector starts every 700
allocations and, every so often, walks everything the process holds: Django, the URL
patterns, the morphology dictionary. That was about a tenth of a send chain's time
(bench/README.md). `heap_settle` is called once a process has loaded what it keeps for its
life: those objects leave the collector's generations, and the youngest generation is
collected every 10,000 allocations.
"""

from __future__ import annotations

import gc

YOUNGEST_THRESHOLD = 10_000


def heap_settle() -> None:
    """Freeze what the process holds now and collect the young generation less often.
    Idempotent: a later call freezes what was loaded since."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST_THRESHOLD, middle, oldest)
