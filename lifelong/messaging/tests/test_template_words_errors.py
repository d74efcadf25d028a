"""Context objects print as words; template errors are translated and point at their line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import translation

from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.messaging.models import Template
from lifelong.messaging.templating import (
    TemplateRenderError,
    fields_render,
    message_render,
    sample_context,
    template_validate,
)
from lifelong.messaging.templating.words import Words
from lifelong.web.forms_templates import problem_text


def text(source: str, context=None) -> str:
    return fields_render(subject="", text=source, html="", context=context or sample_context()).text


def test_objects_printed_whole_are_words_on_the_sample():
    assert text("{{ customer }}") == "Алексей Сергеевич"
    assert text("{{ manager }}") == "Анна Смирнова"
    assert text("{{ brand }}") == "Магазин"
    assert text("{{ links }}") == "https://example.ru/p/preferences/"
    assert text("{% for p in last_order.products %}{{ p }}{% endfor %}") == "Коврик для йоги"
    order = text("{{ last_order }}")
    assert order.startswith("заказ O0000001 от ") and order.endswith(" на 1\u00a0990\u00a0₽")
    assert text("{{ loyalty }}") == "1\u202f250\u00a0баллов, уровень «Знаток»"
    # Still plain data underneath.
    assert text("{{ customer.first_name }} {{ last_order.products[0].name }}") == (
        "Алексей Коврик для йоги"
    )
    assert text("{{ customer.keys()|list|length > 5 }}") == "True"


def test_html_prints_the_words_escaped():
    context = sample_context()
    context["customer"] = Words(context["customer"], words="<b>Ann</b>")
    rendered = fields_render(subject="", text="", html="<p>{{ customer }}</p>", context=context)
    assert rendered.html == "<p>&lt;b&gt;Ann&lt;/b&gt;</p>"


@pytest.mark.django_db
def test_a_real_customer_and_order_print_as_words():
    irina = CustomerFactory.create(first_name="Ирина", last_name="Белова", patronymic="")
    OrderFactory.create(
        customer=irina,
        external_id="A-17",
        total=Decimal("1250.00"),
        placed_at=dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC),
    )
    template = Template(
        slug="t", name="t", channel="sms", sms_text="{{ customer }}: {{ last_order }}"
    )
    rendered = message_render(template=template, customer=irina, channel="sms")
    assert rendered.text == "Ирина: заказ A-17 от 2 марта 2026 на 1\u00a0250\u00a0₽"


SYNTAX = [
    ("{{ x", "The template ends where “}}” is expected.", "Шаблон кончается там, где ждали «}}»."),
    (
        "Привет\n\n{% if customer.first_name %}x",
        "The block {% if %} is not closed: add {% endif %}.",
        "Блок {% if %} не закрыт: добавьте {% endif %}.",
    ),
    (
        "{% for p in last_order.products %}\n{% endif %}",
        "{% endif %} does not close {% for %}: close that with {% endfor %} first.",
        "{% endif %} не закрывает {% for %}: сначала закройте его через {% endfor %}.",
    ),
    ("a\n{% foo %}", "Unknown tag {% foo %}.", "Неизвестный тег {% foo %}."),
    ("{{ customer }", "Unexpected “}”.", "Лишний или неожиданный «}»."),
    (
        "{{ customer first_name }}",
        "“}}” was expected here, not “first_name”.",
        "Здесь ожидалось «}}», а не «first_name».",
    ),
    ("{# note", "The comment {# is not closed with #}.", "Комментарий {# не закрыт: нет #}."),
    (
        "{{ 'Привет }}",
        "A quote ' is opened and never closed.",
        "Кавычка ' открыта и не закрыта.",
    ),
    ("{% if %}x{% endif %}", "A value is missing before “%}”.", "Не хватает значения перед «%}»."),
]


@pytest.mark.parametrize(("source", "english", "russian"), SYNTAX, ids=[s[1][:30] for s in SYNTAX])
def test_syntax_errors_in_both_languages_with_their_line(source, english, russian):
    line = source.count("\n") + 1
    with translation.override("en"):
        [problem] = template_validate(subject="", body_text=source, body_html="")
        assert problem_text(problem) == f"Line {problem.line}: {english}"
    with translation.override("ru"):
        [problem] = template_validate(subject="", body_text=source, body_html="")
        assert problem_text(problem) == f"Строка {problem.line}: {russian}"
    assert problem.line == line


def test_a_misspelt_field_names_its_line_and_the_likely_one():
    source = "Здравствуйте!\n\n{{ customer.firstname }}"
    with translation.override("ru"):
        [problem] = template_validate(subject="", body_text=source, body_html="")
        assert problem_text(problem) == (
            "Строка 3: Здесь нет поля «firstname». Может быть, «first_name»?"
        )
    with translation.override("en"):
        [problem] = template_validate(subject="", body_text=source, body_html="")
        assert problem_text(problem) == (
            "Line 3: There is no field “firstname” here. Did you mean “first_name”?"
        )


def test_a_type_error_at_render_is_words_too():
    with translation.override("ru"), pytest.raises(TemplateRenderError) as caught:
        text("a\n{{ customer.orders_count + 'шт' }}")
    assert caught.value.line == 2
    assert caught.value.message == "«+» не работает между числом и текстом."


RUNTIME = [
    ("{{ customer.orders_count / 0 }}", "Division by zero.", "Деление на ноль."),
    (
        "{{ 'Привет, ' + customer.orders_count }}",
        "Text and another value cannot be joined with +: join them with ~.",
        "Текст нельзя сложить с другим значением через +: соедините их через ~.",
    ),
    (
        "{{ customer.first_name.upper(1) }}",
        "“upper” was given a different number of values than it takes.",
        "«upper» получает другое число значений.",
    ),
    (
        "{% for x in customer.orders_count %}{% endfor %}",
        "{% for %} needs a list; this value is a number.",
        "{% for %} нужен список, а это значение является числом.",
    ),
    (
        "{{ customer.orders_count.__class__ }}",
        None,
        "Шаблон остановился с ошибкой: ",
    ),
]


@pytest.mark.parametrize(("source", "english", "russian"), RUNTIME, ids=[s[0] for s in RUNTIME])
def test_errors_at_render_read_in_both_languages(source, english, russian):
    with translation.override("en"), pytest.raises(TemplateRenderError) as caught:
        text(source)
    if english is not None:
        assert caught.value.message == english
    with translation.override("ru"), pytest.raises(TemplateRenderError) as caught:
        text(source)
    assert caught.value.message.startswith(russian)
