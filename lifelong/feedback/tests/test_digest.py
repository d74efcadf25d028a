"""The weekly digest mail: once per staff member per week, whatever the number of runs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback.digest import digest_send_weekly
from lifelong.feedback.models import Survey, SurveyKind, Theme
from lifelong.feedback.tests.test_insights import MONDAY, answers, at
from lifelong.jobs.sweeps import sweep_by_name


@pytest.fixture
def week_of_feedback(db):
    Theme.objects.get_or_create(
        slug="delivery", defaults={"name_ru": "Доставка", "name_en": "Delivery"}
    )
    survey = Survey.objects.create(name="NPS", kind=SurveyKind.NPS)
    answers(
        survey,
        CustomerFactory.create(),
        [3] * 40,
        at(MONDAY - dt.timedelta(days=4)),
        themes=["delivery"],
        comment="Курьер опоздал на два часа, заказ привезли вечером",
    )


@pytest.fixture
def staff(db):
    return [
        UserFactory.create(username="boss", role=Role.OWNER, email="boss@shop.test"),
        UserFactory.create(username="help", role=Role.SUPPORT, email="help@shop.test"),
        UserFactory.create(username="quiet", role=Role.ANALYST, email=""),
        UserFactory.create(
            username="gone", role=Role.MARKETER, email="gone@shop.test", is_active=False
        ),
    ]


def test_each_staff_member_gets_the_week_once(week_of_feedback, staff, settings, frozen_time):
    settings.EMAIL_HOST = "smtp.shop.test"
    settings.LANGUAGE_CODE = "ru"
    assert digest_send_weekly() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["boss@shop.test", "help@shop.test"]
    message = mail.outbox[0]
    assert "Доставка" in message.subject
    assert "«Курьер опоздал на два часа, заказ привезли вечером»" in message.body
    assert "/feedback/insights/" in message.body
    assert "NPS −100" in message.body or "NPS -100" in message.body
    # The same week again, later the same day and the next day: nothing new.
    assert digest_send_weekly() == 0
    frozen_time.shift(dt.timedelta(days=1))
    assert digest_send_weekly() == 0
    assert len(mail.outbox) == 2
    assert AuditLog.objects.filter(action="feedback.digest_sent").count() == 2
    # A new colleague that same week gets it; everyone gets the next week's once.
    UserFactory.create(username="new", role=Role.MARKETER, email="new@shop.test")
    assert digest_send_weekly() == 1
    frozen_time.shift(dt.timedelta(days=6))
    answers(
        Survey.objects.get(),
        CustomerFactory.create(),
        [10] * 3,
        at(MONDAY + dt.timedelta(days=2)),
        themes=["delivery"],
    )
    assert digest_send_weekly() == 3
    assert digest_send_weekly() == 0
    assert len(mail.outbox) == 6


def test_nothing_without_a_mail_server_or_without_feedback(staff, settings, frozen_time, db):
    settings.EMAIL_HOST = ""
    assert digest_send_weekly() == 0
    settings.EMAIL_HOST = "smtp.shop.test"
    assert digest_send_weekly() == 0  # the week brought no feedback
    assert mail.outbox == []


def test_the_sweep_is_registered_daily():
    sweep = sweep_by_name("feedback.digest_weekly")
    assert sweep.daily and sweep.load() is digest_send_weekly
