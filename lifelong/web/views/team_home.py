"""What the home page shows of the team: the member's goals with progress, the team's news
(milestones), and the praise customers gave them (the owner sees everyone's)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.permissions import MANAGE_ACCOUNTS
from lifelong.team.milestones import milestone_text
from lifelong.team.selectors import goals_of, goals_progress, notices_for, praise_of


def team_home_context(user: User) -> dict[str, Any]:
    now = clock.now()
    everyone = user.can(MANAGE_ACCOUNTS)
    return {
        "team_progress": goals_progress(goals_of(user, today=timezone.localdate(now)), now=now),
        "team_notices": [(m, milestone_text(m)) for m in notices_for(user, now=now)],
        "team_praise": praise_of(None if everyone else user, now=now),
        "team_praise_everyone": everyone,
    }
