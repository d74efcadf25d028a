"""JSON for stored fields that refuses NaN and infinity instead of writing them."""

from __future__ import annotations

import json
from typing import Any


class FiniteJSONEncoder(json.JSONEncoder):
    """`json.JSONEncoder` with `allow_nan=False`: a NaN or an infinity raises ValueError.

    Python's default writes them as the bare words NaN and Infinity, which are not JSON:
    SQLite's JSON_VALID check and PostgreSQL's jsonb then refuse the row far from the code
    that computed the number, and a browser's JSON.parse would refuse it too. A model's
    JSONField(encoder=FiniteJSONEncoder) fails where the value is saved instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_nan"] = False
        super().__init__(*args, **kwargs)
