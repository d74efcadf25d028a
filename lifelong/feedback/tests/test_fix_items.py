"""A fix of items picked in the inbox, and the message template per theme: the message goes
exactly once to each picked item's customer with consent and to no one else; it is rendered
in the sandbox, from the theme's template, with the customer's name and what they told us."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.feedback.fix_messages import (
    DEFAULTS,
    fix_template_problems,
    shorten,
    template_stored,
    theme_template,
)
from lifelong.feedback.fixes import fix_announce, fix_preview, fix_send
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Fix, FixRecipient, Item, ItemSource, Theme
from lifelong.feedback.services import theme_save
from lifelong.feedback.tests.test_fixes import complain, consent, survey_complaint
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message


@pytest.fixture
def email(db):
    return ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)


def delivery() -> Theme:
    return Theme.objects.get(slug="delivery")


def items_announce(items, *, theme=None, holdout=0, **kwargs):
    subject, text = theme_template(theme, "ru")
    return fix_announce(
        theme=theme,
        items=items,
        note="теперь привозим за два дня",
        subject=kwargs.pop("subject", subject),
        text=kwargs.pop("text", text),
        holdout_percent=holdout,
        actor=None,
        **kwargs,
    )


def fix_messages(fix: Fix):
    return Message.objects.filter(dedupe_key__startswith=f"fix:{fix.pk}:")


def test_picked_items_reach_exactly_their_customers_once(frozen_time, email):
    picked, twice, no_consent, same_theme_unpicked = (
        CustomerFactory.create(first_name=name) for name in ("Марина", "Ольга", "Ирина", "Анна")
    )
    for customer in (picked, twice, same_theme_unpicked):
        consent(customer)
    complain(picked, "Курьер опоздал на три дня.", "a")
    complain(twice, "Курьер опять опоздал", "b1")
    complain(twice, "И снова курьер опоздал", "b2")
    complain(no_consent, "Заказ так и не пришёл", "c")
    complain(same_theme_unpicked, "Доставка очень долгая", "d")
    items = list(Item.objects.exclude(source_key="d").order_by("pk"))
    assert len(items) == 4
    stranger, _ = item_record(
        source=ItemSource.OTHER, source_key="r", customer=None, text="Курьер нахамил"
    )

    assert fix_preview(items=[*items, stranger]).__dict__ == {
        "affected": 3,
        "reachable": 2,
        "unreachable": 1,
    }
    fix = items_announce([*items, stranger])
    assert fix_send(fix=fix) == 0  # a re-run adds no one
    dispatch_due()

    sent = fix_messages(fix)
    assert sorted(m.customer_id for m in sent) == sorted([picked.pk, twice.pk])
    assert all(m.sent_at is not None for m in sent)
    assert sent.get(customer=picked).body_text == (
        "Здравствуйте, Марина!\n\nПомните, вы писали нам: «Курьер опоздал на три дня»? "
        "Мы услышали и исправили: теперь привозим за два дня.\n\n"
        "Спасибо, что сказали — без вас мы бы не узнали. Если что-то всё ещё не так, просто "
        "ответьте на это сообщение: ответ прочитает живой человек."
    )
    # What the customer told us: their latest picked item.
    assert "«И снова курьер опоздал»" in sent.get(customer=twice).body_text
    assert set(FixRecipient.objects.filter(fix=fix).values_list("customer_id", flat=True)) == {
        picked.pk,
        twice.pk,
        no_consent.pk,
    }


def test_a_theme_template_names_the_theme_and_speaks_english_to_english_readers(frozen_time, email):
    theme = delivery()
    theme_save(
        theme=theme,
        values={
            "fix_subject_ru": "Про доставку",
            "fix_text_ru": "{{ name or 'Здравствуйте' }}, о теме «{{ theme }}»: {{ note }}.",
            "fix_subject_en": "About delivery",
            "fix_text_en": "{{ customer.first_name }}, about {{ theme }}: {{ note }}. «{{ told }}»",
        },
        rules={},
        actor=None,
    )
    theme.refresh_from_db()
    russian = CustomerFactory.create(first_name="")
    english = CustomerFactory.create(first_name="Kate", language="en")
    for customer in (russian, english):
        consent(customer)
    survey_complaint(russian, "Доставку ждали неделю")
    complain(english, "Delivery took a week", "e")
    subject, text = theme_template(theme, "ru")
    subject_en, text_en = theme_template(theme, "en")
    fix = fix_announce(
        theme=theme,
        note="теперь привозим за два дня",
        subject=subject,
        text=text,
        subject_en=subject_en,
        text_en=text_en,
        holdout_percent=0,
        actor=None,
    )
    by_customer = {m.customer_id: m for m in fix_messages(fix)}
    assert (by_customer[russian.pk].subject, by_customer[russian.pk].body_text) == (
        "Про доставку",
        "Здравствуйте, о теме «Доставка»: теперь привозим за два дня.",
    )
    assert (by_customer[english.pk].subject, by_customer[english.pk].body_text) == (
        "About delivery",
        "Kate, about Delivery: теперь привозим за два дня. «Delivery took a week»",
    )


def test_a_theme_without_its_own_template_uses_the_defaults():
    theme = Theme(slug="x", name_ru="Икс", name_en="X")
    assert theme_template(theme, "ru") == DEFAULTS["ru"]
    assert theme_template(None, "en") == DEFAULTS["en"]
    assert template_stored("ru", *DEFAULTS["ru"]) == ("", "")
    assert template_stored("en", "Fixed!", DEFAULTS["en"][1]) == ("Fixed!", "")


@pytest.mark.parametrize(
    "text",
    [
        "{{ customer.__class__ }}",  # the sandbox refuses
        "{{ cusomer.first_name }}",  # a name the template does not have
        "{% include 'x' %}",
        "{{ note ",
        "{% for i in range(10**9) %}{{ i }}{% endfor %}",  # a limit
    ],
)
def test_a_bad_template_is_refused_before_it_is_saved(text):
    assert fix_template_problems(subject="s", text=text) != []


def test_defaults_and_old_placeholders_pass_the_check():
    for subject, text in DEFAULTS.values():
        assert fix_template_problems(subject=subject, text=text) == []
    assert fix_template_problems(subject="s", text="Здравствуйте, {name}! {theme}: {note}") == []


def test_what_they_told_us_is_shortened_to_one_line():
    assert shorten("Курьер\nопоздал.") == "Курьер опоздал"
    long = "слово " * 60
    assert len(shorten(long)) <= 161 and shorten(long).endswith("слово…")


def test_a_fix_names_a_theme_or_items(db):
    with pytest.raises(ValueError, match="a theme or items"):
        fix_announce(theme=None, note="n", subject="s", text="t", holdout_percent=0, actor=None)
    assert not Fix.objects.exists()


@hypothesis_settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=st.lists(
        st.tuples(
            st.booleans(),  # marketing consent by email
            st.integers(0, 3),  # items written
            st.integers(0, 3),  # of them picked
        ),
        min_size=1,
        max_size=8,
    ),
    holdout=st.sampled_from([0, 30]),
)
def test_the_message_goes_once_to_each_picked_customer_with_consent_and_no_one_else(
    email, people, holdout
):
    Fix.objects.all().delete()
    Message.objects.all().delete()
    Item.objects.all().delete()
    Customer.objects.all().delete()
    picked_items: list[Item] = []
    expected: set[int] = set()
    everyone: set[int] = set()
    for n, (consents, written, picked) in enumerate(people):
        customer = CustomerFactory.create()
        everyone.add(customer.pk)
        if consents:
            consent(customer)
        for k in range(written):
            complain(customer, f"Курьер опоздал ({k})", f"p{n}:{k}")
        mine = list(Item.objects.filter(conversation__customer=customer).order_by("pk"))
        picked_items += mine[:picked]
        if mine[:picked] and consents:
            expected.add(customer.pk)
    if not picked_items:
        return
    fix = items_announce(picked_items, theme=delivery(), holdout=holdout)
    fix_send(fix=fix)  # a second run
    recipients = {r.customer_id: r for r in FixRecipient.objects.filter(fix=fix)}
    held = {pk for pk, r in recipients.items() if r.holdout}
    messaged = list(fix_messages(fix).values_list("customer_id", flat=True))
    assert len(messaged) == len(set(messaged))  # once each
    assert set(messaged) == expected - held  # exactly those with consent, bar the holdout
    assert set(messaged) <= everyone
    assert set(recipients) == {i.conversation.customer_id for i in picked_items}
