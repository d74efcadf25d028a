"""The themes page: themes and their rules edited (owner and marketer), validated, audited;
the "try a text" box answers without JavaScript."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import UserFactory
from lifelong.feedback.models import Theme, ThemeRule
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db

URL = reverse("web:feedback_themes")
NEW = reverse("web:feedback_theme_new")


@pytest.fixture
def marketer_client():
    client = logged_in(staff(Role.MARKETER, "mk"))
    client.cookies["django_language"] = "en"
    return client


def test_the_seeded_themes_are_listed(marketer_client):
    response = marketer_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("Доставка", "Delivery", "Упаковка", "Курсы и занятия"):
        assert name in page


def test_the_list_reads_all_themes_in_one_query(marketer_client, django_assert_max_num_queries):
    marketer_client.get(URL)  # the session and the user
    with CaptureQueriesContext(connection) as few:
        marketer_client.get(URL)
    for n in range(30):
        Theme.objects.create(slug=f"extra{n}", name_ru=f"Тема {n}", name_en=f"Theme {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        marketer_client.get(URL)


def test_try_a_text_shows_its_themes_sentiment_and_staff(marketer_client):
    UserFactory.create(
        username="olga", role=Role.SUPPORT, first_name="Ольга", last_name="Петрова", password=None
    )
    response = marketer_client.get(
        URL, {"text": "Курьер опоздал, но Ольга всё решила. Спасибо!", "score": "6"}
    )
    page = response.content.decode()
    assert 'id="tried"' in page
    assert "Delivery" in page and "курьер" in page
    assert "Staff" in page and "Ольга Петрова" in page


def test_try_a_text_checks_the_score_against_its_scale(marketer_client):
    response = marketer_client.get(URL, {"text": "Нормально", "score": "9", "scale": "csat"})
    assert 'id="tried"' not in response.content.decode()
    assert "A CSAT score is 1 to 5." in response.content.decode()


def test_a_new_theme_with_rules_is_saved_and_audited(marketer_client):
    response = marketer_client.post(
        NEW,
        {
            "slug": "smell",
            "name_ru": "Запах",
            "name_en": "Smell",
            "active": "on",
            "rules_ru": "Аромат\n  благовония   пахнут \nаромат\n",
            "rules_en": "smell\nscent",
        },
    )
    assert response.status_code == 302
    theme = Theme.objects.get(slug="smell")
    assert sorted(theme.rules.values_list("language", "phrase")) == [
        ("en", "scent"),
        ("en", "smell"),
        ("ru", "аромат"),
        ("ru", "благовония пахнут"),
    ]
    entry = AuditLog.objects.get(action="feedback.theme.create")
    assert entry.actor_label == "mk"
    assert entry.changes["rules_ru_added"] == ["аромат", "благовония пахнут"]
    # The tagger reads the new rules at once.
    page = marketer_client.get(URL, {"text": "Благовония чудесно пахнут"}).content.decode()
    assert "<mark>Smell</mark>" in page


def test_editing_replaces_the_rules_and_audits_what_changed(marketer_client):
    theme = Theme.objects.get(slug="packaging")
    url = reverse("web:feedback_theme", kwargs={"pk": theme.pk})
    form = marketer_client.get(url).context["form"]
    rules_ru = form.initial["rules_ru"].replace("скотч\n", "") + "\nпупырчатая пленка"
    response = marketer_client.post(
        url,
        {
            "slug": "packaging",
            "name_ru": "Упаковка",
            "name_en": "Packaging",
            "rules_ru": rules_ru,
            "rules_en": form.initial["rules_en"],
        },
    )
    assert response.status_code == 302
    theme.refresh_from_db()
    assert not theme.active
    phrases = set(
        ThemeRule.objects.filter(theme=theme, language="ru").values_list("phrase", flat=True)
    )
    assert "пупырчатая пленка" in phrases and "скотч" not in phrases
    entry = AuditLog.objects.get(action="feedback.theme.update")
    assert entry.changes == {
        "active": {"from": "True", "to": "False"},
        "rules_ru_added": ["пупырчатая пленка"],
        "rules_ru_removed": ["скотч"],
    }


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("rules_en", "доставка", "is not English"),
        ("rules_ru", "один два три четыре пять шесть семь", "up to 6 words"),
        ("rules_ru", "123", "up to 6 words"),
        ("slug", "Delivery", "Latin lower-case letters"),
        ("slug", "delivery", "already exists"),
    ],
)
def test_bad_rules_come_back_with_the_reason(marketer_client, field, value, error):
    data = {"slug": "new", "name_ru": "Новая", "name_en": "New", "rules_ru": "", "rules_en": ""}
    data[field] = value
    response = marketer_client.post(NEW, data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Theme.objects.filter(name_ru="Новая").exists()
    assert not AuditLog.objects.exists()


def test_support_may_not_edit_themes(db):
    client = logged_in(staff(Role.SUPPORT, "sup"))
    assert client.get(URL).status_code == 403
    assert client.post(NEW, {"slug": "x", "name_ru": "x", "name_en": "x"}).status_code == 403
    assert not Theme.objects.filter(slug="x").exists()


def test_several_comments_in_the_box_suggest_new_themes(marketer_client):
    text = "\n".join(
        [
            "Где мой кешбэк за прошлый месяц?",
            "Кешбэк так и не пришёл",
            "Доставка быстрая",
            "Сертификат подарочный есть?",
        ]
    )
    page = marketer_client.get(URL, {"text": text}).content.decode()
    assert 'id="suggestions"' in page
    assert "<strong>кешбэк</strong> — 2 comments" in page
    assert "<q>Кешбэк так и не пришёл</q>" in page
