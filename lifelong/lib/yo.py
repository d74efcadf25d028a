"""Ё and е as one letter when people search: «Соловьева» finds «Соловьёва» and back.

Russian writes ё as е more often than not, so a name typed either way must match the
name stored either way. Both sides are folded to е: the query in Python, the column in SQL.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, TextField, Value
from django.db.models.functions import Replace


def yo_fold(text: str) -> str:
    return text.replace("ё", "е").replace("Ё", "Е")


def yo_folded(field: str | Any) -> Replace:
    """The column (or expression) with ё and Ё written as е and Е."""
    expression = F(field) if isinstance(field, str) else field
    text: TextField[str, str] = TextField()
    lower = Replace(expression, Value("ё"), Value("е"), output_field=text)
    return Replace(lower, Value("Ё"), Value("Е"), output_field=text)
