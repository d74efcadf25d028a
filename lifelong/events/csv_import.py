"""CSV import (to be completed)."""


def imports_run_pending() -> None:
    return None
