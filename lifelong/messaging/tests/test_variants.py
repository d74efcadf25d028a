"""Templates per channel: each channel gets its own variant or the short text, never the email;
what is queued follows; messenger buttons reach each transport as it takes them; the data
migration moves old texts where they belong."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.customers.models import Channel
from lifelong.factories import CustomerFactory
from lifelong.messaging.models import ChannelConfig, Template
from lifelong.messaging.services import channel_choose, message_enqueue
from lifelong.messaging.templating import TemplateRenderError, message_render
from lifelong.messaging.variants import (
    EMAIL,
    MESSENGER,
    SHORT,
    SMS,
    Button,
    buttons_delivery,
    variant_for,
)

NOT_EMAIL = [c for c in Channel.values if c != Channel.EMAIL]


def template(**fields) -> Template:
    return Template(slug="t", name="Корзина", channel="email", **fields)


def test_each_channel_gets_its_own_variant():
    t = template(
        subject="Тема",
        body_text="Письмо",
        body_html="<p>Письмо</p>",
        sms_text="СМС",
        messenger_text="Мессенджер",
        messenger_buttons=[{"label": "Магазин", "url": "https://shop.example/"}],
        short_text="Коротко",
    )
    email = variant_for(t, "email")
    assert (email.kind, email.subject, email.text, email.html) == (
        EMAIL,
        "Тема",
        "Письмо",
        "<p>Письмо</p>",
    )
    assert (variant_for(t, "sms").kind, variant_for(t, "sms").text) == (SMS, "СМС")
    for channel in ("telegram", "vk", "max", "whatsapp"):
        variant = variant_for(t, channel)
        assert (variant.kind, variant.text) == (MESSENGER, "Мессенджер")
        assert variant.buttons == (Button("Магазин", "https://shop.example/"),)
        assert not variant.fallback_for(channel)
    assert (variant_for(t, "push").kind, variant_for(t, "push").text) == (SHORT, "Коротко")
    assert variant_for(t, "webhook") is None


def test_the_short_text_is_the_fallback_and_nothing_else_is():
    email_only = template(subject="Тема", body_text="Письмо на 418 символов…", body_html="<p>…</p>")
    assert variant_for(email_only, "email").kind == EMAIL
    for channel in NOT_EMAIL:
        assert variant_for(email_only, channel) is None
    with_short = template(body_text="Письмо", short_text="Коротко")
    for channel in NOT_EMAIL:
        variant = variant_for(with_short, channel)
        assert (variant.kind, variant.text, variant.html) == (SHORT, "Коротко", "")
        assert variant.fallback_for(channel) == (channel != "push")
    # An SMS-only template sends its SMS text nowhere else.
    sms_only = template(sms_text="СМС")
    assert [c for c in Channel.values if variant_for(sms_only, c)] == ["sms"]
    # The short text on email too, with the template's subject (or name) for a subject.
    assert variant_for(template(short_text="Коротко"), "email").subject == "Корзина"


def test_a_translation_is_preferred_when_it_has_something_for_the_channel():
    t = template(
        body_text="Письмо",
        sms_text="СМС",
        short_text="Коротко",
        translations={"en": {"body_text": "Email", "short_text": "Short"}},
    )
    assert variant_for(t, "email", language="en").text == "Email"
    # English short text rather than a Russian SMS for an English reader.
    sms = variant_for(t, "sms", language="en")
    assert (sms.kind, sms.text, sms.language) == (SHORT, "Short", "en")
    assert variant_for(t, "sms", language="ru").text == "СМС"
    # Nothing in English for a channel: the default language's own variant.
    t.translations = {"en": {"body_text": "Email"}}
    assert variant_for(t, "sms", language="en").text == "СМС"


# --- the invariant, for any template --------------------------------------------------------

maybe = st.one_of(st.just(""), st.just("   "), st.text(min_size=1, max_size=20))


def fields(prefix: str) -> st.SearchStrategy[dict[str, str]]:
    """A language's fields, each text marked with the variant it belongs to."""

    def marked(name: str) -> st.SearchStrategy[str]:
        return maybe.map(lambda text: f"{prefix}{name}:{text}" if text.strip() else text)

    return st.fixed_dictionaries(
        {
            "subject": maybe,
            "body_text": marked("EMAIL"),
            "body_html": marked("EMAIL"),
            "sms_text": marked("SMS"),
            "messenger_text": marked("MESSENGER"),
            "short_text": marked("SHORT"),
        }
    )


@given(
    default=fields("ru-"),
    english=st.one_of(st.none(), fields("en-")),
    channel=st.sampled_from(NOT_EMAIL),
    language=st.sampled_from(["", "ru", "en", "de"]),
)
def test_no_channel_but_email_ever_gets_the_email(default, english, channel, language):
    t = template(**default, translations={"en": english} if english else {})
    variant = variant_for(t, channel, language=language)
    if variant is None:
        # Only when neither the channel's own text nor a short text exists in any language.
        own = {"sms": ["sms_text"], "push": []}.get(channel, ["messenger_text"])
        for source in [default] + ([english] if english and language == "en" else []):
            assert not any(source[name].strip() for name in [*own, "short_text"])
        return
    assert variant.kind != EMAIL and variant.html == ""
    assert "EMAIL:" not in variant.text
    assert variant.text.split(":")[0].split("-")[1] in ("SMS", "MESSENGER", "SHORT")


# --- what is queued -------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_email_only_template_is_not_queued_by_sms(frozen_time):
    irina = CustomerFactory.create(first_name="Ирина", phone="+79160000001")
    email_only = Template.objects.create(
        slug="e", name="Письмо", channel="email", subject="Тема", body_text="Длинное письмо"
    )
    with translation.override("en"), pytest.raises(TemplateRenderError, match="no text for SMS"):
        message_enqueue(customer=irina, dedupe_key="e:1", channel="sms", template=email_only)
    email_only.short_text = "{{ customer.first_name }}, коротко."
    email_only.save()
    message, _ = message_enqueue(
        customer=irina, dedupe_key="e:2", channel="sms", template=email_only
    )
    assert (message.body_text, message.body_html) == ("Ирина, коротко.", "")


@pytest.mark.django_db
def test_messenger_buttons_reach_the_outbox(frozen_time):
    irina = CustomerFactory.create(first_name="Ирина", telegram_chat_id="42", vk_id="7")
    t = Template.objects.create(
        slug="m",
        name="m",
        channel="telegram",
        messenger_text="Привет, {{ customer.first_name }}",
        messenger_buttons=[
            {"label": "Настройки", "url": "{{ links.preferences }}"},
            {"label": "Пусто", "url": "{{ journey.missing }}"},  # renders empty: left out
        ],
    )
    telegram, _ = message_enqueue(customer=irina, dedupe_key="m:1", channel="telegram", template=t)
    [[button]] = telegram.payload["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Настройки" and "/p/" in button["url"]
    vk, _ = message_enqueue(customer=irina, dedupe_key="m:2", channel="vk", template=t)
    [[key]] = vk.payload["keyboard"]["buttons"]
    assert key["action"]["type"] == "open_link" and key["action"]["label"] == "Настройки"


def test_max_gets_link_buttons_and_whatsapp_the_links_under_the_text():
    buttons = (Button("Магазин", "https://shop.example/"),)
    assert buttons_delivery("max", "Привет", buttons) == (
        "Привет",
        {
            "attachments": [
                {
                    "type": "inline_keyboard",
                    "payload": {
                        "buttons": [[{"type": "link", "text": "Магазин", "url": buttons[0].url}]]
                    },
                }
            ]
        },
    )
    assert buttons_delivery("whatsapp", "Привет", buttons) == (
        "Привет\n\nМагазин: https://shop.example/",
        {},
    )
    assert buttons_delivery("whatsapp", "Привет", ()) == ("Привет", {})


# --- the data migration ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_old_texts_to_their_variants_and_back():
    before, after = (
        [("messaging", "0005_template_design")],
        [("messaging", "0006_template_variants")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("messaging", "Template")
    old.objects.create(
        slug="email",
        name="e",
        channel="email",
        subject="Тема",
        body_text="Письмо на 418 символов",
        translations={"en": {"subject": "S", "body_text": "Email text", "body_html": ""}},
    )
    old.objects.create(slug="sms", name="s", channel="sms", body_text="Код {{ x }}")
    old.objects.create(slug="tg", name="t", channel="telegram", body_text="Привет")

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("messaging", "Template")
    email, sms, tg = (new.objects.get(slug=s) for s in ("email", "sms", "tg"))
    # The email keeps its text and reaches messengers as before; no SMS, no short text.
    assert (email.body_text, email.messenger_text, email.sms_text, email.short_text) == (
        "Письмо на 418 символов",
        "Письмо на 418 символов",
        "",
        "",
    )
    assert email.translations["en"]["messenger_text"] == "Email text"
    assert (sms.body_text, sms.sms_text) == ("", "Код {{ x }}")
    assert (tg.body_text, tg.messenger_text) == ("", "Привет")

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    back = executor.loader.project_state(before).apps.get_model("messaging", "Template")
    assert back.objects.get(slug="sms").body_text == "Код {{ x }}"
    assert back.objects.get(slug="email").translations["en"] == {
        "subject": "S",
        "body_text": "Email text",
        "body_html": "",
    }
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_the_preferred_channel_is_one_the_template_can_speak_on(frozen_time):
    for channel in ("sms", "email"):
        ChannelConfig.objects.create(channel=channel, transport="sandbox", active=True)
    irina = CustomerFactory.create(
        email="irina@example.ru", phone="+79160000001", preferred_channel="sms"
    )
    email_only = Template.objects.create(
        slug="e", name="e", channel="email", purpose="transactional", body_text="Письмо"
    )
    assert channel_choose(customer=irina, purpose="transactional") == "sms"
    assert channel_choose(customer=irina, purpose="transactional", template=email_only) == "email"
    email_only.short_text = "Коротко"
    assert channel_choose(customer=irina, purpose="transactional", template=email_only) == "sms"


PLAIN = st.text(
    alphabet=st.characters(blacklist_characters="{}%#", blacklist_categories=("Cs", "Cc")),
    max_size=15,
).filter(lambda text: "EMAIL" not in text)


@pytest.mark.django_db
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.fixed_dictionaries(
        {name: st.one_of(st.just(""), PLAIN) for name in ("sms", "messenger", "short")}
    ),
    channel=st.sampled_from(NOT_EMAIL),
)
def test_what_is_rendered_for_a_customer_is_never_the_email(texts, channel, frozen_time):
    customer = CustomerFactory.build(pk=1, first_name="Ирина", language="ru")
    t = template(
        subject="Тема",
        body_text="EMAIL-TEXT {{ customer.first_name }}",
        body_html="<p>EMAIL-HTML</p>",
        **{
            f"{kind}_text": f"{kind.upper()}:{text}" if text.strip() else text
            for kind, text in texts.items()
        },
    )
    try:
        rendered = message_render(template=t, customer=customer, channel=channel)
    except TemplateRenderError:
        own = {"sms": "sms", "push": "short"}.get(channel, "messenger")
        assert not texts[own].strip() and not texts["short"].strip()
        return
    assert "EMAIL" not in rendered.text and rendered.html == ""
