"""Fixtures of the club tests (a Bot API fake, a tier ladder, a club), from clubs_setup."""

from lifelong.community.tests.clubs_setup import (  # noqa: F401
    api,
    bot,
    club,
    ladder,
    loopback_allowed,
)
