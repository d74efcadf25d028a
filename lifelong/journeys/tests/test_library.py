"""Ready-made journeys: each installs a valid draft whose templates all exist, once."""

from __future__ import annotations

import pytest

from lifelong.customers.models import Purpose
from lifelong.factories import CustomerFactory, OrderFactory, ProductFactory
from lifelong.journeys.definition import definition_parse
from lifelong.journeys.library import (
    DEFAULT_CATEGORIES,
    LIBRARY,
    LibraryError,
    library_entry,
    library_install,
    template_ensure,
)
from lifelong.journeys.library_texts import TEXTS
from lifelong.journeys.models import Journey, JourneyStatus, JourneyVersion
from lifelong.messaging.models import Template, Topic
from lifelong.messaging.templating import message_render, template_fields, template_validate

pytestmark = pytest.mark.django_db

SLUGS = [entry.slug for entry in LIBRARY]


def test_the_library_journeys_are_named_in_both_languages():
    assert len(SLUGS) == len(set(SLUGS)) >= 10
    for entry in LIBRARY:
        assert entry.name and entry.name_en and entry.description and entry.description_en


@pytest.mark.parametrize("slug", SLUGS)
def test_install_creates_a_valid_draft_with_its_templates(slug):
    journey = library_install(slug)

    assert journey.status == JourneyStatus.DRAFT
    assert journey.current_version is not None and journey.current_version.number == 1
    definition = definition_parse(journey.current_version.definition)
    assert definition.holdout_percent == 10
    assert definition.goal is not None and definition.goal.event == "order_placed"
    assert 7 <= definition.goal.within_days <= 30
    sends = [n.template for n in definition.nodes if n.type in ("send", "survey")]
    assert sends
    templates = Template.objects.filter(slug__in=sends)
    assert templates.count() == len(set(sends))
    for template in templates:
        assert "автоматически" in template.body_text and "живой человек" in template.body_text
        english = template.translations["en"]
        assert english["subject"] and "real person" in english["body_text"]
        if template.purpose == Purpose.MARKETING:
            assert template.topic in set(Topic.objects.values_list("slug", flat=True))


@pytest.mark.parametrize("slug", SLUGS)
def test_installing_again_returns_the_same_journey_and_keeps_edited_texts(slug):
    first = library_install(slug)
    template = Template.objects.get(slug=library_entry(slug).templates()[0])
    template.body_text = "Свой текст"
    template.save(update_fields=["body_text"])

    again = library_install(slug)

    assert again.pk == first.pk
    assert Journey.objects.filter(slug=slug).count() == 1
    assert JourneyVersion.objects.filter(journey=first).count() == 1
    template.refresh_from_db()
    assert template.body_text == "Свой текст"


def test_all_of_them_install_side_by_side_sharing_topics():
    for slug in SLUGS:
        library_install(slug)
    assert Journey.objects.count() == len(SLUGS)
    assert set(Topic.objects.values_list("slug", flat=True)) == {"news", "offers", "reminders"}


def test_category_filters_follow_the_shops_own_catalogue():
    journey = library_install(
        "tool-followup", categories={"tool": ["Grills"], "consumable": ["Charcoal"]}
    )
    assert journey.current_version is not None
    definition = definition_parse(journey.current_version.definition)
    assert definition.trigger.categories == ["Grills"]
    condition = definition.node("consumables")
    assert [rule.category for rule in condition.rule.rules] == ["Charcoal"]


def test_abandoned_cart_sends_at_most_two_reminders():
    definition = definition_parse(library_entry("abandoned-cart").build(DEFAULT_CATEGORIES))
    assert definition.trigger.kind == "cart_abandoned" and definition.trigger.hours == 4
    assert [n.id for n in definition.nodes if n.type == "send"] == ["reminder_1", "reminder_2"]


def test_an_unknown_slug_is_refused():
    with pytest.raises(LibraryError):
        library_install("no-such-journey")


@pytest.mark.parametrize("slug", sorted(TEXTS))
def test_every_default_text_passes_the_strict_template_check(slug):
    template = template_ensure(slug)
    for language in ("ru", "en"):
        fields = template_fields(template, language)
        problems = template_validate(
            subject=fields["subject"], body_text=fields["body_text"], body_html=fields["body_html"]
        )
        assert problems == [], (language, problems)


def test_texts_render_for_a_real_customer_with_journey_data():
    customer = CustomerFactory.create(first_name="Ирина", gender="f")
    product = ProductFactory.create(name="Коврик пробковый", category="Коврики")
    order = OrderFactory.create(customer=customer)
    order.lines.create(product=product, sku=product.sku, name=product.name, quantity=1, price=10)

    winback = message_render(
        template=template_ensure("winback-picks"), customer=customer, channel="email"
    )
    anniversary = message_render(
        template=template_ensure("anniversary-thanks"),
        customer=customer,
        channel="telegram",
        extra={"journey": {"years": "2"}},
    )

    assert winback.text.startswith("Ирина, здравствуйте!")
    assert "• Коврик пробковый" in winback.text
    assert "/p/" in winback.text  # the preferences link of a marketing message
    assert "2 года" in anniversary.text
    assert "живой человек" in anniversary.text
