"""The sandboxed renderer: context, Russian filters, translations, validation, limits, escapes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import translation

from lifelong.commerce.models import OrderLine
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.models import Fact, Gender
from lifelong.customers.services import customer_tags_add
from lifelong.factories import CustomerFactory, OrderFactory, ProductFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import Programme
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.helpers import order_paid, programme_start
from lifelong.messaging.models import BrandVoice, Message, Template
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.templating import (
    CONTEXT_NAMES,
    EXTRA_NAMES,
    Rendered,
    TemplateRenderError,
    fields_render,
    message_context,
    message_render,
    sample_context,
    template_validate,
)
from lifelong.segments.models import CustomerState, Stage


@pytest.fixture(autouse=True)
def _english(settings):
    # The assertions read the English messages; the Russian ones are the catalogue's job.
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db


@pytest.fixture
def alexey(frozen_time):
    customer = CustomerFactory(
        first_name="Алексей",
        patronymic="Сергеевич",
        last_name="Иванов",
        gender=Gender.MALE,
        attributes={"city": "Казань", "pet": "попугай"},
    )
    mat = ProductFactory(name="Коврик для йоги", sku="MAT-1", category="Коврики")
    old = OrderFactory(
        customer=customer,
        external_id="O-1",
        total=Decimal("990.00"),
        placed_at=dt.datetime(2025, 12, 1, 12, tzinfo=dt.UTC),
    )
    OrderLine.objects.create(order=old, sku="STRAP-1", name="Ремешок", price=Decimal("990.00"))
    # 22:30 UTC on 1 March is already 2 March in Moscow.
    order = OrderFactory(
        customer=customer,
        external_id="O-2",
        total=Decimal("2490.50"),
        placed_at=dt.datetime(2026, 3, 1, 22, 30, tzinfo=dt.UTC),
    )
    OrderLine.objects.create(order=order, product=mat, quantity=1, price=Decimal("1990.00"))
    OrderLine.objects.create(order=order, sku="BLOCK-1", name="Блок", price=Decimal("500.50"))
    customer_summaries_refresh([customer.pk])
    Fact.objects.create(customer=customer, category="pets", text="попугай Кеша")
    customer_tags_add(customer=customer, names=["vip", "yoga"])
    CustomerState.objects.create(
        customer=customer, stage=Stage.REPEAT, rfm_segment="loyal", loyalty_value=Decimal("12000")
    )
    BrandVoice.objects.create(
        channel="email",
        sender_name="Йога-дом",
        greeting="Здравствуйте, {{ customer.first_name }}!",
        signature="Ваш Йога-дом",
    )
    customer.refresh_from_db()
    return customer


def render_text(source: str, context: dict | None = None) -> str:
    return fields_render(subject="", text=source, html="", context=context or sample_context()).text


WELCOME = Template(
    slug="welcome",
    name="Welcome",
    channel="email",
    subject="{{ customer.first_name }}, спасибо за заказ {{ last_order.external_id }}",
    body_text=(
        "{{ brand.greeting }}\n"
        "{{ customer|case('datv') }} начислено {{ 25|plural('балл') }}.\n"
        "Вы {{ customer|verb('купил') }} на {{ last_order.total|money(last_order.currency) }} "
        "{{ last_order.placed_at|date }}:\n"
        "{% for p in last_order.products %}- {{ p.name }} × {{ p.quantity }}: {{ p.price|money }}\n"
        "{% endfor %}"
        "Как поживает {{ facts[0] }}? Город: {{ customer.city }}.\n"
        "{{ brand.signature }}"
    ),
    body_html="<p>{{ customer|gendered('Дорогой', 'Дорогая') }} {{ customer.first_name }}</p>",
)


def test_render_for_a_real_customer(alexey):
    rendered = message_render(template=WELCOME, customer=alexey, channel="email", extra={})
    assert rendered.subject == "Алексей, спасибо за заказ O-2"
    assert rendered.text.splitlines() == [
        "Здравствуйте, Алексей!",
        "Алексею Сергеевичу начислено 25 баллов.",
        "Вы купил на 2\u00a0490,50\u00a0₽ 2 марта:",
        "- Коврик для йоги × 1: 1\u00a0990\u00a0₽",
        "- Блок × 1: 500,50\u00a0₽",
        "Как поживает попугай Кеша? Город: Казань.",
        "Ваш Йога-дом",
    ]
    assert rendered.html == "<p>Дорогой Алексей</p>"


def test_gender_comes_from_the_name_when_not_stored(frozen_time):
    maria = CustomerFactory(first_name="Мария", gender=Gender.UNKNOWN)
    sasha = CustomerFactory(first_name="Саша", gender=Gender.UNKNOWN)
    template = Template(slug="t", name="t", channel="sms", sms_text="{{ customer|verb('купил') }}")
    assert message_render(template=template, customer=maria, channel="sms").text == "купила"
    assert message_render(template=template, customer=sasha, channel="sms").text == "купил(а)"


def test_context_is_plain_data(alexey):
    context = message_context(customer=alexey, channel="email", extra={"journey": {"step": 2}})
    plain = (str, int, float, Decimal, bool, dt.date, type(None))

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                assert isinstance(key, str), path
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        else:
            assert isinstance(value, plain), f"{path} is {type(value).__name__}"

    walk(context, "context")
    assert context["customer"]["orders_count"] == 2
    assert context["customer"]["total_spent"] == Decimal("3480.50")
    assert context["facts"] == ["попугай Кеша"]
    assert context["tags"] == ["vip", "yoga"]
    assert context["last_order"]["external_id"] == "O-2"
    assert [p["sku"] for p in context["last_order"]["products"]] == ["MAT-1", "BLOCK-1"]
    assert context["last_order"]["products"][0]["category"] == "Коврики"
    assert context["loyalty"]["stage"] == Stage.REPEAT
    assert context["loyalty"]["loyalty_value"] == Decimal("12000")
    assert context["links"]["preferences"].startswith(settings.SITE_URL)
    assert context["links"]["unsubscribe"].startswith(settings.SITE_URL)
    assert context["brand"]["greeting"] == "Здравствуйте, Алексей!"
    assert context["journey"] == {"step": 2}


def test_context_for_a_lead_without_orders_state_or_brand(frozen_time):
    lead = CustomerFactory(first_name="Ольга")
    context = message_context(customer=lead, channel="sms")
    assert context["last_order"] is None
    assert context["loyalty"]["stage"] == ""
    assert context["brand"] == {"sender_name": "", "greeting": "", "signature": ""}
    # Missing data renders as nothing rather than failing the message.
    assert (
        render_text("[{{ last_order.total|money }}{{ last_order.products[0].name }}]", context)
        == "[]"
    )


def test_context_takes_few_queries(alexey, django_assert_max_num_queries):
    Programme.current()  # the settings row, as in any running shop
    # Facts, tags, last order and lines, state, brand voice; the points: programme, account;
    # the tier: tiers, programme, the customer's tier row, orders and status in the window.
    with django_assert_max_num_queries(13):
        message_context(customer=alexey, channel="email")


def test_translation_is_picked_by_language(alexey):
    template = Template(
        slug="t",
        name="t",
        channel="email",
        subject="Привет",
        body_text="Привет, {{ customer.first_name }}",
        translations={"en": {"subject": "Hi", "body_text": "Hi, {{ customer.first_name }}"}},
    )
    assert message_render(template=template, customer=alexey, channel="email").text == (
        "Привет, Алексей"
    )
    alexey.language = "en"
    rendered = message_render(template=template, customer=alexey, channel="email")
    assert (rendered.subject, rendered.text) == ("Hi", "Hi, Алексей")
    alexey.language = "de"
    assert message_render(template=template, customer=alexey, channel="email").subject == "Привет"
    # A translation without a body is not a translation yet.
    template.translations = {"en": {"subject": "Hi"}}
    alexey.language = "en"
    assert message_render(template=template, customer=alexey, channel="email").subject == "Привет"


def test_html_is_escaped_and_text_is_not(frozen_time):
    customer = CustomerFactory(first_name="<b>Ann</b> & Co")
    template = Template(
        slug="t",
        name="t",
        channel="email",
        subject="{{ customer.first_name }}",
        body_text="{{ customer.first_name }}",
        body_html="<p>{{ customer.first_name }}</p>",
    )
    rendered = message_render(template=template, customer=customer, channel="email")
    assert rendered == Rendered(
        subject="<b>Ann</b> & Co",
        text="<b>Ann</b> & Co",
        html="<p>&lt;b&gt;Ann&lt;/b&gt; &amp; Co</p>",
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 1990|money }}", "1\u00a0990\u00a0₽"),
        ("{{ '1990.5'|money('USD') }}", "1\u00a0990,50\u00a0$"),
        ("{{ -5|money('eur') }}", "-5\u00a0€"),
        ("{{ 1234567|money('XYZ') }}", "1\u00a0234\u00a0567\u00a0XYZ"),
        ("{{ none|money }}", ""),
        (
            "{{ 1|plural('балл') }} {{ 3|plural('балл') }} {{ 11|plural('балл') }}",
            "1 балл 3 балла 11 баллов",
        ),
        ("{{ customer.first_name|case('ablt') }}", "Алексеем"),
        ("{{ 'Иванова'|case('datv', 'f') }}", "Ивановой"),
        ("{{ customer|case('gent') }}", "Алексея Сергеевича"),
        ("{{ 'f'|gendered('рад', 'рада') }}", "рада"),
        ("{{ ''|gendered('рад', 'рада', 'рады') }}", "рады"),
        ("{{ 'f'|verb('записался') }}", "записалась"),
    ],
)
def test_filters(source, expected, frozen_time):
    assert render_text(source) == expected


@pytest.mark.parametrize(
    ("value", "style", "expected"),
    [
        (dt.date(2026, 3, 2), "", "2 марта"),
        (dt.date(2025, 12, 31), "", "31 декабря 2025"),
        (dt.date(2026, 3, 2), "full", "2 марта 2026"),
        (dt.date(2026, 3, 2), "short", "02.03.2026"),
        (dt.datetime(2026, 5, 31, 21, 30, tzinfo=dt.UTC), "", "1 июня"),  # Moscow is UTC+3
        ("2026-01-15", "", "15 января"),
    ],
)
def test_date_filter(value, style, expected, frozen_time):
    context = sample_context()
    context["when"] = value
    source = f"{{{{ when|date('{style}') }}}}" if style else "{{ when|date }}"
    assert render_text(source, context) == expected


def test_date_filter_speaks_english_to_english_customers(frozen_time):
    context = sample_context()
    context["customer"]["language"] = "en"
    context["when"] = dt.date(2026, 3, 2)
    assert render_text("{{ when|date }}", context) == "2 March"


def test_unknown_case_fails_the_render_with_its_line(frozen_time):
    with pytest.raises(TemplateRenderError) as caught:
        render_text("Привет\n{{ customer.first_name|case('dative') }}")
    assert caught.value.line == 2
    assert caught.value.field == "body_text"
    assert "unknown case" in caught.value.message


# --- validation ----------------------------------------------------------------------------


def problems_of(**fields):
    values = {"subject": "", "body_text": "", "body_html": ""} | fields
    return [(p.field, p.line, p.message) for p in template_validate(**values)]


def test_a_good_template_has_no_problems(frozen_time):
    assert (
        problems_of(
            subject=WELCOME.subject, body_text=WELCOME.body_text, body_html=WELCOME.body_html
        )
        == []
    )


def test_syntax_error_has_its_line(frozen_time):
    problems = problems_of(
        body_text="Привет\n\n{% if customer.first_name %}\n{{ customer.first_name"
    )
    assert len(problems) == 1
    field, line, message = problems[0]
    assert (field, line) == ("body_text", 4)
    assert message


def test_unknown_variable_filter_and_test_have_their_lines(frozen_time):
    problems = problems_of(
        subject="{{ customer.first_name }}",
        body_html=(
            "<p>\n{{ custmer.first_name }}\n{{ 5|plurl('балл') }}\n"
            "{% if 3 is prime %}{% endif %}</p>"
        ),
    )
    assert problems == [
        ("body_html", 2, "Unknown variable “custmer”."),
        ("body_html", 3, "Unknown filter “plurl”."),
        ("body_html", 4, "Unknown test “prime”."),
    ]


def test_misspelt_attribute_is_caught_by_the_trial_render(frozen_time):
    problems = problems_of(body_text="{{ customer.first_name }}\n{{ customer.frist_name }}")
    assert len(problems) == 1
    assert problems[0][:2] == ("body_text", 2)
    assert "frist_name" in problems[0][2]


def test_free_form_data_is_not_a_problem(frozen_time):
    source = (
        "{{ customer.attributes.shoe_size }} {{ journey.order_id }} "
        "{% for p in products %}{% endfor %}"
    )
    assert problems_of(body_text=source) == []


def test_extra_names_may_be_declared(frozen_time):
    assert problems_of(body_text="{{ coupon }}")[0][2] == "Unknown variable “coupon”."
    assert (
        template_validate(
            subject="", body_text="{{ coupon }}", body_html="", extra_names=["coupon"]
        )
        == []
    )


def test_includes_are_refused(frozen_time):
    problems = problems_of(body_text="{% include 'web/base.html' %}")
    assert problems == [("body_text", 1, "Message templates cannot include other templates.")]


def test_validation_reports_limits_and_sandbox(frozen_time):
    problems = problems_of(
        subject="{{ customer.__class__ }}",
        body_text="ok\n{% for i in range(5000) %}{% endfor %}",
    )
    assert [(f, line) for f, line, _ in problems] == [("subject", 1), ("body_text", 2)]
    assert "__class__" in problems[0][2]
    assert "range()" in problems[1][2]


# --- the sample context validation renders against -----------------------------------------------


def _shape(value):
    """Keys all the way down; a list's shape is its first item's."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value and isinstance(value[0], dict | list) else []
    return None


def test_sample_context_has_the_keys_of_the_real_one(frozen_time):
    # Validation renders against the sample, strictly: a key only the sample has would let a
    # template through that fails for real customers, and one it lacks would refuse a good one.
    customer = CustomerFactory(attributes={"city": "Казань"})
    OrderLine.objects.create(
        order=OrderFactory(customer=customer), sku="S-1", name="Коврик", price=Decimal("990")
    )
    # Points pending and points expiring soon, so the lists of `loyalty` have their items.
    programme_start(expiry_months=1)
    points_award(customer_id=customer.pk, points=100, key="gift")
    order_paid(customer, "Z-1", "990")
    loyalty_earn()
    real = _shape(message_context(customer=customer, channel="email"))
    sample = _shape(sample_context())
    assert set(real) == CONTEXT_NAMES
    assert set(sample) == CONTEXT_NAMES | EXTRA_NAMES
    assert {name: sample[name] for name in CONTEXT_NAMES} == real


# --- limits and the sandbox ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "range() gives at most 1000"),
        ('{{ "x" * 10**9 }}', "text of 1,000,000,000 characters"),
        ('{{ 10**9 * "x" }}', "text of 1,000,000,000 characters"),
        ("{{ [1] * 10**6 }}", "list of 1,000,000 items"),
        ('{% set s = "x" * 60000 %}{% set s = s ~ s %}', "text of 120,000 characters"),
        ('{% set s = "x" * 60000 %}{% set s = s + s %}', "text of 120,000 characters"),
        ('{{ "%1000000000s" % 1 }}', "Format widths"),
        ('{{ "{:>1000000000}".format(1) }}', "Format widths"),
        ('{{ "%s"|format(1) }}{{ "%999999999d"|format(1) }}', "Format widths"),
        ('{{ "x"|center(1000000000) }}', "text of 1,000,000,000"),
        ('{{ "x"|center(width=1000000000) }}', "text of 1,000,000,000"),
        ('{{ "x".ljust(1000000000) }}', "text of 1,000,000,000"),
        ('{{ "x"|indent(1000000) }}', "text of 1,000,001"),
        ('{{ [1]|batch(10**9, "x")|list }}', "list of 1,000,000,000"),
        ('{{ ("a" * 1000)|replace("a", "b" * 1000) }}', "text of 1,001,000"),
        ('{{ ("ab" * 100)|join("x" * 1000) }}', "text of"),
        ("{{ 9**999 }}", "Powers above 100"),
        ("{% set n = 10**100 %}{{ n*n*n*n*n*n*n*n*n*n*n*n*n*n }}", "too large"),
        (
            "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
            "loops ran more than 100,000 steps",
        ),
        (
            '{% set s = "x" * 1000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}',
            "loops ran more than 100,000 steps",
        ),
        ("{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}", "characters"),
        (
            "{% set b %}{% for i in range(999) %}{{ 'x' * 99999 }}{% endfor %}{% endset %}",
            "text of 1,0",
        ),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "calls itself too deeply"),
        ("{{ lipsum(10**6) }}", "lipsum"),
    ],
)
def test_limits(source, message, frozen_time):
    with pytest.raises(TemplateRenderError) as caught:
        render_text(source)
    assert message in str(caught.value)


def test_a_slow_render_is_stopped(frozen_time):
    # 10 000 name inflections take far longer than the 200 ms a message may take.
    source = (
        "{% for a in range(100) %}{% for b in range(100) %}"
        '{% set x = customer.first_name|case("datv") ~ a ~ b %}'
        "{% endfor %}{% endfor %}"
    )
    with pytest.raises(TemplateRenderError, match="took longer than 200 ms"):
        render_text(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ customer.attributes.__class__.__subclasses__() }}",
        "{{ range.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__['os'] }}",
        "{{ self.__init__.__globals__ }}",
        "{{ customer|attr('__class__') }}",
        "{{ '{0.__class__}'.format(customer) }}",
        "{{ customer.items.__self__.__class__ }}",
        "{{ last_order.total.__class__ }}",
        "{{ customer.first_name.encode() }}",
        "{{ customer.attributes.pop('city') }}",
        "{{ customer.attributes.update({'a': 1}) }}",
        "{{ facts.append('x') }}",
        "{{ last_order.placed_at.replace(year=1) }}",
        "{{ last_order.total.scaleb(10**9) }}",
    ],
)
def test_sandbox_refuses_escapes(source, frozen_time):
    with pytest.raises(TemplateRenderError):
        render_text(source)


def test_nothing_reaches_settings(frozen_time):
    # No name leads to Django: unknown names render as nothing and fail validation.
    assert render_text("[{{ settings.SECRET_KEY }}{{ config }}{{ request }}]") == "[]"
    assert (
        problems_of(body_text="{{ settings.SECRET_KEY }}")[0][2] == "Unknown variable “settings”."
    )


def test_loops_and_concat_still_work(frozen_time):
    source = (
        "{% for p in last_order.products %}{{ loop.index }}/{{ loop.length }} {{ p.name }}"
        "{% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}|"
        "{{ customer.first_name ~ ' ' ~ customer.last_name }}|"
        "{% set ns = namespace(total=0) %}{% for i in range(3) %}{% set ns.total = ns.total + i %}"
        "{% endfor %}{{ ns.total }}|{{ 'a,b'.split(',')|join('-') }}|"
        "{{ customer.attributes.get('city') }}"
    )
    assert render_text(source) == "1/1 Коврик для йоги|empty|Алексей Иванов|3|a-b|Казань"


# --- the outbox stores what was rendered ---------------------------------------------------


def test_message_enqueue_stores_the_rendered_text(alexey):
    template = Template.objects.create(
        slug="thanks",
        name="Thanks",
        channel="email",
        topic="news",
        subject=WELCOME.subject,
        body_text=WELCOME.body_text,
        body_html=WELCOME.body_html,
    )
    message, created = message_enqueue(
        customer=alexey,
        dedupe_key="thanks:1",
        channel="email",
        template=template,
        context={"journey": {"step": 1}},
    )
    assert created
    message = Message.objects.get(pk=message.pk)
    assert message.subject == "Алексей, спасибо за заказ O-2"
    assert "Алексею Сергеевичу начислено 25 баллов." in message.body_text
    assert "Дорогой Алексей" in message.body_html
    assert message.topic == "news"
    assert message.template == template


def test_message_enqueue_refuses_a_broken_template(alexey):
    template = Template.objects.create(
        slug="broken", name="Broken", channel="email", body_text="{{ 'x' * 10**9 }}"
    )
    with pytest.raises(TemplateRenderError):
        message_enqueue(customer=alexey, dedupe_key="broken:1", channel="email", template=template)
    assert not Message.objects.filter(dedupe_key="broken:1").exists()
