"""Every view of the staff UI checks the role: walk all URL names with every role."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from lifelong.accounts.models import ApiKey, Role
from lifelong.accounts.permissions import (
    EDIT_CUSTOMERS,
    IMPORT_DATA,
    MANAGE_ACCOUNTS,
    MANAGE_MARKETING,
    VIEW,
    VIEW_INSIGHTS,
    VIEW_OPERATIONS,
    WORK_TASKS,
    role_allows,
)
from lifelong.campaigns.services import campaign_create
from lifelong.community.models import Club, ClubMember
from lifelong.events.models import Event, ImportJob, SetAsideEvent
from lifelong.events.webhooks import webhook_source_create
from lifelong.factories import CustomerFactory, TaskFactory, UserFactory
from lifelong.feedback.models import Conversation, Fix, Item, Survey, Theme
from lifelong.journeys.services import journey_create
from lifelong.loyalty.models import EarningRule, RuleKind, Tier
from lifelong.messaging.models import Message, Template
from lifelong.segments.models import Segment
from lifelong.team.models import Goal, Team

PUBLIC = {
    "login",
    "login_verify",
    "password_reset",
    "password_reset_sent",
    "password_reset_confirm",
}
# (permission, method) per URL name; a new view must be added here to pass.
VIEWS: dict[str, tuple[str, str]] = {
    "logout": ("", "post"),
    "home": (VIEW, "get"),
    "clv_report": (VIEW, "get"),
    "clv_settings": (MANAGE_MARKETING, "get"),
    "clv_recalculate": (MANAGE_MARKETING, "post"),
    "customers": (VIEW, "get"),
    "customer": (VIEW, "get"),
    "customer_timeline": (VIEW, "get"),
    "note_add": (EDIT_CUSTOMERS, "post"),
    "fact_add": (EDIT_CUSTOMERS, "post"),
    "tag_add": (EDIT_CUSTOMERS, "post"),
    "tag_remove": (EDIT_CUSTOMERS, "post"),
    "consent_record": (EDIT_CUSTOMERS, "post"),
    "task_add": (WORK_TASKS, "post"),
    "customer_merge": (EDIT_CUSTOMERS, "post"),
    "churn_reason_add": (EDIT_CUSTOMERS, "post"),
    "tasks": (VIEW, "get"),
    "tasks_csv": (VIEW, "get"),
    "task_next": (WORK_TASKS, "get"),
    "task": (VIEW, "get"),
    "no_next_step": (VIEW, "get"),
    "imports": (IMPORT_DATA, "get"),
    "import_upload": (IMPORT_DATA, "post"),
    "import_job": (IMPORT_DATA, "get"),
    "import_progress": (IMPORT_DATA, "get"),
    "import_report": (IMPORT_DATA, "get"),
    "staff": (MANAGE_ACCOUNTS, "get"),
    "staff_user_create": (MANAGE_ACCOUNTS, "post"),
    "webhook_source_rotate": (MANAGE_ACCOUNTS, "post"),
    "staff_user_role": (MANAGE_ACCOUNTS, "post"),
    "staff_user_access": (MANAGE_ACCOUNTS, "post"),
    "staff_user_two_factor_reset": (MANAGE_ACCOUNTS, "post"),
    "account": (VIEW, "get"),
    "password_change": (VIEW, "get"),
    "two_factor": (VIEW, "get"),
    "two_factor_disable": (VIEW, "post"),
    "api_key_create": (MANAGE_ACCOUNTS, "post"),
    "api_key_revoke": (MANAGE_ACCOUNTS, "post"),
    "webhook_source_create": (MANAGE_ACCOUNTS, "post"),
    "audit": (MANAGE_ACCOUNTS, "get"),
    "audit_csv": (MANAGE_ACCOUNTS, "get"),
    "dashboard": (VIEW, "get"),
    "team_goals": (MANAGE_ACCOUNTS, "get"),
    "team_goal_add": (MANAGE_ACCOUNTS, "post"),
    "team_goal_edit": (MANAGE_ACCOUNTS, "get"),
    "team_goal_delete": (MANAGE_ACCOUNTS, "post"),
    "team_add": (MANAGE_ACCOUNTS, "post"),
    "team_edit": (MANAGE_ACCOUNTS, "get"),
    "team_report": (MANAGE_ACCOUNTS, "get"),
    "dashboard_kpis_csv": (VIEW, "get"),
    "dashboard_cohorts_csv": (VIEW, "get"),
    "customers_csv": (VIEW, "get"),
    "segments": (VIEW, "get"),
    "segment": (VIEW, "get"),
    "segment_status": (VIEW, "get"),
    "segment_export": (VIEW, "get"),
    "segment_create": (MANAGE_MARKETING, "get"),
    "segment_edit": (MANAGE_MARKETING, "get"),
    "segment_builder": (MANAGE_MARKETING, "post"),
    "segment_count": (MANAGE_MARKETING, "post"),
    "segment_archive": (MANAGE_MARKETING, "post"),
    "segment_activate": (MANAGE_MARKETING, "post"),
    "lifecycle": (MANAGE_MARKETING, "get"),
    "lifecycle_recompute": (MANAGE_MARKETING, "post"),
    "templates": (MANAGE_MARKETING, "get"),
    "template_new": (MANAGE_MARKETING, "get"),
    "template_edit": (MANAGE_MARKETING, "get"),
    "template_preview": (MANAGE_MARKETING, "post"),
    "template_preview_html": (MANAGE_MARKETING, "post"),
    "template_test_send": (MANAGE_MARKETING, "post"),
    "brand_voice": (MANAGE_MARKETING, "get"),
    "template_designer": (MANAGE_MARKETING, "get"),
    "template_design_preview": (MANAGE_MARKETING, "post"),
    "template_design_brand": (MANAGE_MARKETING, "post"),
    "journeys": (VIEW, "get"),
    "journey": (VIEW, "get"),
    "journey_new": (MANAGE_MARKETING, "get"),
    "journey_edit": (MANAGE_MARKETING, "get"),
    "journey_status": (MANAGE_MARKETING, "post"),
    "journey_library_install": (MANAGE_MARKETING, "post"),
    "campaigns": (VIEW, "get"),
    "campaign": (VIEW, "get"),
    "campaign_progress": (VIEW, "get"),
    "campaign_new": (MANAGE_MARKETING, "get"),
    "campaign_edit": (MANAGE_MARKETING, "get"),
    "campaign_status": (MANAGE_MARKETING, "post"),
    "inbox": (VIEW, "get"),
    "inbox_message": (VIEW, "get"),
    "inbox_message_html": (VIEW, "get"),
    "inbox_message_moved": (VIEW, "get"),
    "conversations": (VIEW, "get"),
    "conversation": (VIEW, "get"),
    "conversation_reply": (WORK_TASKS, "post"),
    "conversation_comment": (WORK_TASKS, "post"),
    "conversation_assign": (WORK_TASKS, "post"),
    "conversation_status": (WORK_TASKS, "post"),
    "conversation_item_themes": (WORK_TASKS, "post"),
    "inbox_settings": (MANAGE_MARKETING, "get"),
    "inbox_reviews_import": (IMPORT_DATA, "get"),
    "channels": (MANAGE_ACCOUNTS, "get"),
    "channel_edit": (MANAGE_ACCOUNTS, "get"),
    "channel_test": (MANAGE_ACCOUNTS, "post"),
    "sending_policy": (MANAGE_ACCOUNTS, "post"),
    "jobs": (VIEW_OPERATIONS, "get"),
    "loyalty_settings": (MANAGE_MARKETING, "get"),
    "loyalty_rule_new": (MANAGE_MARKETING, "get"),
    "loyalty_rule": (MANAGE_MARKETING, "get"),
    "loyalty_tiers": (MANAGE_MARKETING, "get"),
    "loyalty_tier_new": (MANAGE_MARKETING, "get"),
    "loyalty_tier": (MANAGE_MARKETING, "get"),
    "loyalty_referrals": (MANAGE_MARKETING, "get"),
    "community_activity": (MANAGE_MARKETING, "get"),
    "community_reward": (MANAGE_MARKETING, "post"),
    "community_reward_settings": (MANAGE_MARKETING, "post"),
    "community_activity_rule": (MANAGE_MARKETING, "post"),
    "community_posts": (MANAGE_MARKETING, "get"),
    "community_post": (MANAGE_MARKETING, "get"),
    "community_early_access": (MANAGE_MARKETING, "get"),
    "community_early_access_edit": (MANAGE_MARKETING, "get"),
    "customer_tier": (VIEW, "get"),
    "loyalty_liability": (VIEW, "get"),
    "loyalty_liability_csv": (VIEW, "get"),
    "points_history": (VIEW, "get"),
    "points_adjust": (MANAGE_MARKETING, "post"),
    "personal_manager_set": (EDIT_CUSTOMERS, "post"),
    "feedback_themes": (MANAGE_MARKETING, "get"),
    "feedback_theme_new": (MANAGE_MARKETING, "get"),
    "feedback_theme": (MANAGE_MARKETING, "get"),
    "feedback_fixes": (MANAGE_MARKETING, "post"),
    "feedback_fix": (MANAGE_MARKETING, "get"),
    "feedback_fix_items": (MANAGE_MARKETING, "post"),
    "inbox_fix_items": (MANAGE_MARKETING, "get"),
    "feedback_insights": (VIEW_INSIGHTS, "get"),
    "community": (VIEW, "get"),
    "clubs": (VIEW, "get"),
    "club": (VIEW, "get"),
    "club_new": (MANAGE_MARKETING, "get"),
    "club_edit": (MANAGE_MARKETING, "get"),
    "club_invite": (EDIT_CUSTOMERS, "post"),
    "club_bot_check": (MANAGE_MARKETING, "post"),
    "club_member_remove": (MANAGE_MARKETING, "post"),
    "feedback_surveys": (MANAGE_MARKETING, "get"),
    "feedback_survey_new": (MANAGE_MARKETING, "get"),
    "feedback_review_ask": (MANAGE_MARKETING, "post"),
    "feedback_survey": (MANAGE_MARKETING, "get"),
    "feedback_survey_responses": (WORK_TASKS, "get"),
    "set_aside_retry": (MANAGE_MARKETING, "post"),
}
ROLES = [*Role.values, "anonymous"]


def _community_activity_pk(name: str) -> int:
    """A club (its activity rule) or a club post of its own, made on first use."""
    from lifelong.community.models import Club, ClubPost, EarlyAccess

    club, _ = Club.objects.get_or_create(
        chat_id="-1009", defaults={"title": "Клуб активных", "entry": "open"}
    )
    if name == "community_activity_rule":
        return club.pk
    if name == "community_early_access_edit":
        tier, _ = Tier.objects.get_or_create(slug="guru", defaults={"name": "Гуру", "position": 9})
        window, _ = EarlyAccess.objects.get_or_create(
            name="Осень",
            defaults={
                "collection": "Осень",
                "tier": tier,
                "starts_at": "2026-03-02T10:00Z",
                "public_at": "2026-03-09T10:00Z",
            },
        )
        return window.pk
    template, _ = Template.objects.get_or_create(
        slug="club-tip", defaults={"name": "Совет", "channel": "telegram", "short_text": "Совет"}
    )
    post, _ = ClubPost.objects.get_or_create(
        club=club, template=template, defaults={"schedule": "once", "once_at": "2026-03-02T10:00Z"}
    )
    return post.pk


def web_url_names() -> set[str]:
    resolver = get_resolver()
    web = next(
        p for p in resolver.url_patterns if isinstance(p, URLResolver) and p.namespace == "web"
    )
    return {p.name for p in web.url_patterns if isinstance(p, URLPattern) and p.name}


def test_every_view_is_listed():
    assert web_url_names() == set(VIEWS) | PUBLIC


@pytest.fixture
def objects(db):
    customer = CustomerFactory()
    task = TaskFactory(customer=customer)
    job = ImportJob.objects.create(kind="customers", file_name="a.csv", file_path="")
    key = ApiKey.objects.create(name="shop", prefix="abcd1234", key_hash="x" * 64, scopes=[])
    segment = Segment.objects.create(name="Everyone", rules={"op": "and", "rules": []})
    template = Template.objects.create(slug="hello", name="Hello", channel="email", body_text="Hi")
    journey = journey_create(
        name="Welcome", slug="welcome", definition={"trigger": {"kind": "manual"}, "start": None}
    )
    message = Message.objects.create(
        customer=customer,
        dedupe_key="roles",
        channel="email",
        purpose="marketing",
        transport="sandbox",
        subject="Hi",
    )
    event = Event.objects.create(customer=customer, type="order_placed")
    set_aside = SetAsideEvent.objects.create(reactor="journeys", event=event, error="odd data")
    rule = EarningRule.objects.create(kind=RuleKind.EVENT, name="Review", event_type="review")
    tier = Tier.objects.create(slug="novichok", name="Новичок", position=1)
    conversation = Conversation.objects.create(customer=customer)
    campaign = campaign_create(
        values={"name": "News", "segment": segment, "template": template}, actor=None
    )
    return {
        "campaign": campaign.pk,
        "loyalty_rule": rule.pk,
        "loyalty_tier": tier.pk,
        "theme": Theme.objects.get(slug="delivery").pk,
        "fix": Fix.objects.create(
            theme=Theme.objects.get(slug="delivery"), note="n", subject="s", text="t"
        ).pk,
        "survey": Survey.objects.create(name="NPS", kind="nps").pk,
        "conversation": conversation.pk,
        "item": Item.objects.create(
            conversation=conversation, source="other", source_key="r-1", text="ok"
        ).pk,
        "set_aside": set_aside.pk,
        "template": template.pk,
        "journey": journey.pk,
        "message": message.pk,
        "customer": customer.pk,
        "task": task.pk,
        "import_job": job.pk,
        "api_key": key.pk,
        "webhook_source": webhook_source_create(slug="shop", actor=None).pk,
        "user": UserFactory(username="colleague", role=Role.SUPPORT, password=None).pk,
        "segment": segment.pk,
        "goal": Goal.objects.create(
            metric="reviews",
            user=UserFactory(username="goal-keeper", password=None),
            start=dt.date(2026, 3, 1),
            end=dt.date(2026, 3, 31),
            target=5,
        ).pk,
        "team": Team.objects.create(name="Зал").pk,
        **_club_objects(customer),
    }


def _club_objects(customer) -> dict[str, int]:
    club = Club.objects.create(title="Клуб", chat_id="-1001", entry="open")
    member = ClubMember.objects.create(club=club, customer=customer, status="joined")
    return {"club": club.pk, "club_member": member.pk}


def url_for(name: str, objects: dict[str, int]) -> str:
    kwargs_by_name = {
        "customer": "customer",
        "customer_timeline": "customer",
        "note_add": "customer",
        "fact_add": "customer",
        "tag_add": "customer",
        "tag_remove": "customer",
        "consent_record": "customer",
        "task_add": "customer",
        "customer_merge": "customer",
        "churn_reason_add": "customer",
        "points_history": "customer",
        "points_adjust": "customer",
        "personal_manager_set": "customer",
        "task": "task",
        "import_job": "import_job",
        "import_progress": "import_job",
        "import_report": "import_job",
        "api_key_revoke": "api_key",
        "staff_user_role": "user",
        "staff_user_access": "user",
        "staff_user_two_factor_reset": "user",
        "segment": "segment",
        "segment_status": "segment",
        "segment_export": "segment",
        "segment_edit": "segment",
        "segment_archive": "segment",
        "segment_activate": "segment",
        "template_edit": "template",
        "journey": "journey",
        "journey_edit": "journey",
        "journey_status": "journey",
        "campaign": "campaign",
        "campaign_progress": "campaign",
        "campaign_edit": "campaign",
        "campaign_status": "campaign",
        "inbox_message": "message",
        "inbox_message_html": "message",
        "inbox_message_moved": "message",
        "conversation": "conversation",
        "conversation_reply": "conversation",
        "conversation_comment": "conversation",
        "conversation_assign": "conversation",
        "conversation_status": "conversation",
        "webhook_source_rotate": "webhook_source",
        "set_aside_retry": "set_aside",
        "loyalty_rule": "loyalty_rule",
        "loyalty_tier": "loyalty_tier",
        "customer_tier": "customer",
        "feedback_theme": "theme",
        "feedback_fix": "fix",
        "feedback_survey": "survey",
        "feedback_survey_responses": "survey",
        "team_goal_edit": "goal",
        "team_goal_delete": "goal",
        "team_edit": "team",
    }
    if name == "conversation_item_themes":
        kwargs = {"pk": objects["conversation"], "item_pk": objects["item"]}
        return reverse(f"web:{name}", kwargs=kwargs)
    if name in ("template_designer", "template_test_send"):
        return reverse(f"web:{name}", kwargs={"template_pk": objects["template"]})
    if name == "club_member_remove":
        kwargs = {"pk": objects["club"], "member_pk": objects["club_member"]}
        return reverse("web:club_member_remove", kwargs=kwargs)
    if name in ("club", "club_edit", "club_invite", "club_bot_check"):
        return reverse(f"web:{name}", kwargs={"pk": objects["club"]})
    if name in ("community_activity_rule", "community_post", "community_early_access_edit"):
        return reverse(f"web:{name}", kwargs={"pk": _community_activity_pk(name)})
    if name == "journey_library_install":
        return reverse("web:journey_library_install", kwargs={"slug": "customer-day"})
    if name in ("channel_edit", "channel_test"):
        return reverse(f"web:{name}", kwargs={"channel": "email"})
    if name in kwargs_by_name:
        return reverse(f"web:{name}", kwargs={"pk": objects[kwargs_by_name[name]]})
    return reverse(f"web:{name}")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(VIEWS))
def test_role_is_checked(name, role, objects):
    permission, method = VIEWS[name]
    client = Client()
    if role != "anonymous":
        client.force_login(UserFactory(username=f"u-{role}", role=role, password=None))
    url = url_for(name, objects)
    response = client.post(url, {}) if method == "post" else client.get(url)
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("web:login"))
    elif permission and not role_allows(role, permission):
        assert response.status_code == 403
    else:
        assert response.status_code in {200, 302, 400}, response.status_code


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT, Role.ANALYST])
def test_post_only_views_reject_get_after_the_role_check(role, objects):
    client = Client()
    client.force_login(UserFactory(username=f"u-{role}", role=role, password=None))
    response = client.get(url_for("note_add", objects))
    assert response.status_code == (405 if role_allows(role, EDIT_CUSTOMERS) else 403)
