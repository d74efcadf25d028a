"""The email designer's output: email-safe HTML and a text part, escaped, per customer."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.accounts.models import AuditLog
from lifelong.commerce.models import OrderStatus
from lifelong.commerce.services import LineInput, order_upsert, product_upsert
from lifelong.customers.models import Purpose
from lifelong.factories import CustomerFactory
from lifelong.messaging.designs import email_brand_save, template_design_save
from lifelong.messaging.email_design import (
    DesignError,
    brand_clean,
    design_clean,
    design_html,
    design_text,
)
from lifelong.messaging.models import Template
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.templating import fields_render, sample_context
from lifelong.messaging.tests.email_check import email_html_problems

DESIGN = {
    "preheader": "Подборка для {{ customer.first_name }}",
    "blocks": [
        {"type": "heading", "text": "Здравствуйте, {{ customer.first_name }}!"},
        {"type": "text", "text": "Первый абзац.\n\nВторой <абзац> & «кавычки»."},
        {
            "type": "image",
            "url": "https://cdn.example.ru/mat.jpg",
            "alt": "Коврик",
            "link": "https://shop.example.ru/mat",
        },
        {"type": "button", "label": "В магазин", "url": "https://shop.example.ru/?a=1&b=2"},
        {"type": "products", "source": "last_order", "title": ""},
        {"type": "divider"},
        {"type": "footer", "text": "Магазин «Прана», Казань", "unsubscribe": ""},
    ],
}


def _render(design, context=None):
    cleaned = design_clean(design)
    return fields_render(
        subject="",
        text=design_text(cleaned),
        html=design_html(cleaned, brand_clean({"logo_url": "https://cdn.example.ru/logo.png"})),
        context=context or sample_context(),
        strict=True,
    )


def test_the_html_is_email_safe_and_the_text_part_says_the_same(frozen_time):
    rendered = _render(DESIGN)

    assert email_html_problems(rendered.html) == []
    assert "<style" not in rendered.html and "class=" not in rendered.html
    # The preheader is hidden, the button is a coloured table cell, the link escaped.
    assert re.search(r'<div style="display:none;[^"]*">Подборка для Алексей</div>', rendered.html)
    assert 'bgcolor="#2f6f4f"' in rendered.html
    assert 'href="https://shop.example.ru/?a=1&amp;b=2"' in rendered.html
    assert "Второй &lt;абзац&gt; &amp; «кавычки»." in rendered.html
    assert 'alt="Коврик"' in rendered.html and 'alt="Логотип"' in rendered.html
    assert 'href="https://example.ru/p/unsubscribe/"' in rendered.html
    assert "Коврик для йоги" in rendered.html and "1\u00a0990\u00a0₽" in rendered.html
    assert rendered.text == (
        "Здравствуйте, Алексей!\n\n"
        "Первый абзац.\n\nВторой <абзац> & «кавычки».\n\n"
        "Коврик: https://shop.example.ru/mat\n\n"
        "В магазин: https://shop.example.ru/?a=1&b=2\n\n"
        "Что вы выбрали в прошлый раз\n• Коврик для йоги — 1\u00a0990\u00a0₽\n\n"
        "———\n\n"
        "Магазин «Прана», Казань\n\n"
        "Отписаться от этих писем: https://example.ru/p/unsubscribe/"
    )


def test_a_customer_without_an_order_gets_no_empty_product_list(frozen_time):
    design = {
        "blocks": [
            {"type": "text", "text": "Привет"},
            DESIGN["blocks"][4],
            {"type": "text", "text": "Пока"},
        ]
    }

    with_order = _render(design)
    without = _render(design, {**sample_context(), "last_order": None})

    assert with_order.text == (
        "Привет\n\nЧто вы выбрали в прошлый раз\n• Коврик для йоги — 1\u00a0990\u00a0₽\n\nПока"
    )
    assert without.text == "Привет\n\nПока"
    assert "Что вы выбрали" not in without.html and "Коврик" not in without.html


def test_the_cart_list_reads_the_cart(frozen_time):
    context = {
        **sample_context(),
        "cart": {"products": [{"name": "Блок", "quantity": 2, "price": Decimal("790")}]},
    }
    design = {"blocks": [{"type": "products", "source": "cart", "title": "Ждут вас"}]}

    rendered = _render(design, context)

    assert rendered.text == "Ждут вас\n• Блок × 2 — 790\u00a0₽"
    assert "Ждут вас" in rendered.html


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([], "Add at least one block."),
        ([{"type": "marquee"}], "Block 1 is of an unknown kind."),
        ([{"type": "text", "text": "  "}], "Block 1 (Text): write its text."),
        (
            [{"type": "button", "label": "Жми", "url": "javascript:alert(1)"}],
            "Block 1 (Button): the link must be a web address (https://…).",
        ),
        (
            [{"type": "image", "url": "https://x.ru/a.png", "alt": ""}],
            "Block 1 (Image): describe the image in a few words (shown when images are off).",
        ),
        (
            [{"type": "button", "label": "Жми", "url": "{{ a }}{{ b }}"}],
            "Block 1 (Button): the link must be a web address (https://…).",
        ),
        (
            [{"type": "button", "label": "Жми", "url": "https://"}],
            "Block 1 (Button): the link must be a web address (https://…).",
        ),
    ],
    ids=["empty", "unknown", "no-text", "javascript-url", "no-alt", "two-variables", "no-host"],
)
def test_a_design_that_cannot_be_built_says_which_block(blocks, problem):
    with translation.override("en"), pytest.raises(DesignError) as caught:
        design_clean({"blocks": blocks})

    assert caught.value.problems == [problem]


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.inside = tag == "p"

    def handle_endtag(self, tag):
        self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.found.append(data)


# Whatever a marketer types (no Jinja markers), the reader sees exactly that text: nothing
# of it becomes markup.
typed = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("<>&\"'"),
    min_size=1,
    max_size=80,
).filter(lambda s: s.strip() and not re.search(r"[{}%#\s]", s))


@settings(max_examples=60)
@given(text=typed)
def test_typed_text_never_becomes_markup(text):
    cleaned = design_clean({"blocks": [{"type": "text", "text": text}]})
    rendered = fields_render(
        subject="", text="", html=design_html(cleaned, brand_clean({})), context={}
    )
    reader = _TextOf()
    reader.feed(rendered.html)

    assert "".join(reader.found) == text.strip()
    assert email_html_problems(rendered.html) == []


@pytest.mark.django_db
def test_saving_a_design_writes_the_email_variant_and_a_message_renders_it(frozen_time):
    template = Template.objects.create(
        slug="picks", name="Подборка", channel="email", subject="Для вас", body_text="старое"
    )
    customer = CustomerFactory(first_name="Мария", email="maria@example.ru")
    order_upsert(
        external_id="O-1",
        customer=customer,
        total=Decimal("2780"),
        placed_at=clock.now(),
        status=OrderStatus.PAID,
        lines=[LineInput(sku="MAT-9", quantity=1, price=Decimal("2780"), name="Коврик <Про>")],
        source="test",
    )

    template_design_save(template=template, design=DESIGN, actor=None)
    message, _created = message_enqueue(
        customer=customer,
        dedupe_key="picks-1",
        channel="email",
        purpose=Purpose.TRANSACTIONAL,
        template=template,
    )

    template.refresh_from_db()
    assert template.design["blocks"][0] == DESIGN["blocks"][0]
    assert template.design["brand"]["accent"] == "#2f6f4f"
    assert "{{ customer.first_name }}" in template.body_html
    assert "Здравствуйте, Мария!" in message.body_html
    assert "Коврик &lt;Про&gt;" in message.body_html and "Коврик <Про>" in message.body_text
    assert email_html_problems(message.body_html) == []
    assert AuditLog.objects.filter(action="template.design_save").count() == 1


@pytest.mark.django_db
def test_a_template_problem_names_its_block_and_line(frozen_time):
    template = Template.objects.create(slug="t", name="T", channel="email", body_text="x")
    design = {
        "blocks": [
            {"type": "heading", "text": "Привет"},
            {"type": "text", "text": "Строка\n{{ custmer.first_name }}"},
        ]
    }

    with translation.override("en"), pytest.raises(DesignError) as caught:
        template_design_save(template=template, design=design, actor=None)

    assert caught.value.problems == ["Block 2 (Text), line 2: Unknown variable “custmer”."]
    template.refresh_from_db()
    assert (template.design, template.body_text) == ({}, "x")


@pytest.mark.django_db
def test_a_new_brand_look_rebuilds_every_designed_template(frozen_time):
    designed = Template.objects.create(slug="a", name="A", channel="email", body_text="x")
    template_design_save(template=designed, design=DESIGN, actor=None)
    by_hand = Template.objects.create(
        slug="b", name="B", channel="email", body_text="x", body_html="<p>x</p>"
    )

    rebuilt = email_brand_save(
        accent="#ffcc00",
        text="#101010",
        background="#ffffff",
        logo_url="https://cdn.example.ru/new.png",
        actor=None,
    )

    designed.refresh_from_db()
    by_hand.refresh_from_db()
    assert rebuilt == 1
    assert 'bgcolor="#ffcc00"' in designed.body_html
    assert html.escape("https://cdn.example.ru/new.png") in designed.body_html
    # Dark text on a light accent, so the button's label reads.
    assert "color:#111111;text-decoration:none" in designed.body_html
    assert by_hand.body_html == "<p>x</p>"


@pytest.mark.django_db
def test_a_cart_journey_lists_the_cart_by_name(frozen_time):
    product_upsert(sku="MAT-1", name="Коврик", price=Decimal("1990"))
    product_upsert(sku="BLOCK-1", name="Блок", price=Decimal("790"))
    template = Template.objects.create(slug="cart", name="Корзина", channel="email", body_text="x")
    design = {"blocks": [{"type": "products", "source": "cart", "title": ""}]}
    template_design_save(template=template, design=design, actor=None)
    customer = CustomerFactory()

    message, _created = message_enqueue(
        customer=customer,
        dedupe_key="cart-1",
        channel="email",
        purpose=Purpose.TRANSACTIONAL,
        template=template,
        # What the reactor keeps of a cart_updated event; a SKU the catalogue lacks is left out.
        context={"journey": {"cart": {"skus": ["MAT-1", "BLOCK-1", "BLOCK-1", "GONE"]}}},
    )
    empty, _created = message_enqueue(
        customer=customer,
        dedupe_key="cart-2",
        channel="email",
        purpose=Purpose.TRANSACTIONAL,
        template=template,
        context={"journey": {}},
    )

    assert message.body_text == (
        "В вашей корзине\n• Коврик — 1\u00a0990\u00a0₽\n• Блок × 2 — 1\u00a0580\u00a0₽"
    )
    assert "Блок × 2" in message.body_html
    assert (empty.body_text, "Корзин" in empty.body_html) == ("", False)


plain = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("<>&\"'\n"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() and not re.search(r"[{}%#]", s))
web = st.from_regex(r"https://[a-z]{1,10}\.example/[a-z0-9?=&]{0,12}", fullmatch=True)
blocks = st.one_of(
    st.builds(lambda t: {"type": "heading", "text": t}, plain),
    st.builds(lambda t: {"type": "text", "text": t}, plain),
    st.builds(lambda u, a: {"type": "image", "url": u, "alt": a, "link": u}, web, plain),
    st.builds(lambda label, u: {"type": "button", "label": label, "url": u}, plain, web),
    st.builds(
        lambda s: {"type": "products", "source": s, "title": ""},
        st.sampled_from(["last_order", "cart"]),
    ),
    st.just({"type": "divider"}),
    st.builds(lambda t: {"type": "footer", "text": t, "unsubscribe": ""}, plain),
)


@settings(max_examples=40)
@given(
    design=st.lists(blocks, min_size=1, max_size=8),
    accent=st.from_regex(r"#[0-9a-f]{6}", fullmatch=True),
)
def test_any_design_makes_email_safe_html_and_a_text_part_with_every_word(design, accent):
    cleaned = design_clean({"blocks": design})
    rendered = fields_render(
        subject="",
        text=design_text(cleaned),
        html=design_html(cleaned, brand_clean({"accent": accent})),
        context=sample_context(),
        strict=True,
    )

    assert email_html_problems(rendered.html) == []
    assert rendered.html.count("<table") == rendered.html.count("</table>")
    for block in cleaned["blocks"]:
        for key in ("text", "label"):
            for line in block.get(key, "").split("\n"):
                if line.strip():
                    assert line.strip() in rendered.text
                    assert html.escape(line.strip(), quote=False) in rendered.html
