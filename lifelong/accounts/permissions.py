"""What each role may do. The single place where roles map to permissions."""

from __future__ import annotations

from lifelong.accounts.roles import Role

VIEW = "view"  # read customers, orders, tasks, reports
EDIT_CUSTOMERS = "edit_customers"  # notes, facts, tags, consents, merge
WORK_TASKS = "work_tasks"  # create/complete follow-up tasks
IMPORT_DATA = "import_data"  # CSV import
MANAGE_MARKETING = "manage_marketing"  # journeys, templates, segments (later issues)
MANAGE_ACCOUNTS = "manage_accounts"  # staff users, API keys, webhook secrets
VIEW_OPERATIONS = "view_operations"  # the Jobs page: sweeps, their errors, set-aside events
VIEW_INSIGHTS = "view_insights"  # feedback insights: NPS, CSAT, themes by segment, tier, journey

_ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(
        {
            VIEW,
            EDIT_CUSTOMERS,
            WORK_TASKS,
            IMPORT_DATA,
            MANAGE_MARKETING,
            MANAGE_ACCOUNTS,
            VIEW_OPERATIONS,
            VIEW_INSIGHTS,
        }
    ),
    Role.MARKETER: frozenset(
        {VIEW, EDIT_CUSTOMERS, WORK_TASKS, IMPORT_DATA, MANAGE_MARKETING, VIEW_INSIGHTS}
    ),
    Role.SUPPORT: frozenset({VIEW, EDIT_CUSTOMERS, WORK_TASKS}),
    Role.ANALYST: frozenset({VIEW, VIEW_OPERATIONS, VIEW_INSIGHTS}),
}


def role_allows(role: str, permission: str) -> bool:
    return permission in _ROLE_PERMISSIONS.get(role, frozenset())
