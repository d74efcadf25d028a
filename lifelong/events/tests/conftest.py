"""The CSV import tests run with their own VAR_DIR, in Moscow time and in English."""

from __future__ import annotations

import pytest
from django.utils import translation


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.TIME_ZONE = "Europe/Moscow"
    # Reasons and summaries are asserted in English whatever the default language is.
    with translation.override("en"):
        yield settings.VAR_DIR
