"""A grouped send (`messages_enqueue_many`) stores what `message_enqueue` stores one by one,
in a number of statements that does not grow with the group."""

from __future__ import annotations

import itertools
import math
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lifelong.commerce.models import OrderLine
from lifelong.customers.models import Channel, Fact, Gender, Purpose
from lifelong.customers.services import customer_tags_add
from lifelong.factories import CustomerFactory, OrderFactory, ProductFactory, UserFactory
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.helpers import programme_start
from lifelong.messaging.models import BrandVoice, Message, MessageLink, SendingPolicy, Template
from lifelong.messaging.outbox import Outgoing, messages_enqueue_many
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.templating import TemplateRenderError, message_render, variant_render
from lifelong.messaging.templating.context_bulk import message_contexts, template_names
from lifelong.messaging.variants import variant_for

pytestmark = pytest.mark.django_db

# Pieces a template is made of; each example picks some.
PIECES = [
    "{{ customer }}, {{ customer.first_name }} {{ customer.gender }}",
    "{{ customer|verb('купил') }}",
    "{{ facts|join('; ') }}",
    "{{ tags|join(', ') }}",
    "{{ last_order }}: {% for p in last_order.products %}{{ p }} {{ p.total }}; {% endfor %}",
    "{{ loyalty }} {{ loyalty.balance }} {{ loyalty.stage }}",
    "{{ manager }} {{ manager.email }}",
    "{{ brand.greeting }} — {{ brand.signature }}",
    "{{ links.unsubscribe }} {{ links }}",
    "{{ journey.coupon }}",
    "Смотрите https://shop.example/sale?utm=1 и https://shop.example/new",
    "{{ channel }}",
]
_ids = itertools.count()


def _normalised(body: str) -> str:
    """A body without the tokens of tracked links and of the open pixel (they carry ids)."""
    for name in ("portal:click", "portal:open"):
        prefix = reverse(name, args=["TOKEN"]).split("TOKEN")[0]
        body = re.sub(re.escape(prefix) + r"[^\s\"'<>]+", prefix + "…", body)
    return body


def _row(message: Message) -> dict[str, object]:
    return {
        "customer": message.customer_id,
        "channel": message.channel,
        "purpose": message.purpose,
        "topic": message.topic,
        "template": message.template_id,
        "to": message.to,
        "subject": message.subject,
        "body_text": _normalised(message.body_text),
        "body_html": _normalised(message.body_html),
        "payload": message.payload,
        "status": message.status,
        "next_attempt_at": message.next_attempt_at,
        "expires_at": message.expires_at,
        "created_at": message.created_at,
        "journey_id": message.journey_id,
        "enrollment_id": message.enrollment_id,
        "node_id": message.node_id,
        "links": list(message.links.order_by("pk").values_list("url", flat=True)),
    }


def _stored(prefix: str, customers: list) -> list[dict[str, object]]:
    return [_row(Message.objects.get(dedupe_key=f"{prefix}:{c.pk}")) for c in customers]


customer_specs = st.lists(
    st.fixed_dictionaries(
        {
            "first_name": st.sampled_from(["Анна", "Алексей", "Никита", "", "Jane"]),
            "patronymic": st.sampled_from(["", "Сергеевич", "Петровна"]),
            "gender": st.sampled_from([Gender.UNKNOWN, Gender.MALE, Gender.FEMALE]),
            "language": st.sampled_from(["ru", "en"]),
            "orders": st.integers(0, 2),
            "tags": st.lists(st.sampled_from(["vip", "yoga", "new"]), max_size=3),
            "facts": st.lists(st.sampled_from(["кот Барсик", "любит синее"]), max_size=2),
            "points": st.sampled_from([0, 5, 1250]),
            "manager": st.booleans(),
            "coupon": st.sampled_from([None, "SALE10"]),
        }
    ),
    min_size=1,
    max_size=5,
)


def _scene(people, text, html, channel, translated, voice, sender_manager, purpose):
    """A template of the given pieces and customers as `people` describe them."""
    programme_start()
    n = next(_ids)
    body = "\n".join(text)
    html_body = f'<p>{body}</p><a href="https://shop.example/b?n={n}">b</a>' if html else ""
    template = Template.objects.create(
        slug=f"t{n}",
        name=f"t{n}",
        purpose=purpose,
        topic="news",
        subject="{{ customer.first_name }}, для вас",
        body_text=body,
        body_html=html_body,
        sms_text=body,
        messenger_text=body,
        messenger_buttons=[
            {"label": "Купить {{ customer.first_name }}", "url": "https://shop.example/b"},
            {"label": "Статус", "url": "{{ loyalty.status_url }}"},
        ],
        sender_manager=sender_manager,
        translations=(
            {"en": {"body_text": "Hi {{ customer }} " + body, "sms_text": "Hi {{ tags }}"}}
            if translated
            else {}
        ),
    )
    BrandVoice.objects.filter(channel=channel).delete()
    if voice:
        BrandVoice.objects.create(
            channel=channel,
            sender_name="Йога-дом",
            greeting="Здравствуйте, {{ customer.first_name }}! {{ tags|join(',') }}",
            signature="Ваш {{ manager.first_name or 'магазин' }} {{ last_order.external_id }}",
        )
    customers, extras = [], []
    for spec in people:
        customer = CustomerFactory.create(
            first_name=spec["first_name"],
            patronymic=spec["patronymic"],
            gender=spec["gender"],
            language=spec["language"],
            personal_manager=(
                UserFactory.create(
                    username=f"m{n}-{len(customers)}", first_name="Ольга", last_name="Лебедева"
                )
                if spec["manager"]
                else None
            ),
        )
        for i in range(spec["orders"]):
            order = OrderFactory.create(customer=customer, total=Decimal(100 + i))
            OrderLine.objects.create(
                order=order, product=ProductFactory.create(), quantity=2, price=Decimal("50")
            )
        customer_tags_add(customer=customer, names=spec["tags"])
        for fact in spec["facts"]:
            Fact.objects.create(customer=customer, category="c", text=fact)
        if spec["points"]:
            points_award(customer_id=customer.pk, points=spec["points"], key=f"p{customer.pk}")
        customers.append(customer)
        extras.append({"journey": {"coupon": spec["coupon"]}} if spec["coupon"] else {})
    return n, template, customers, extras


scenes = {
    "people": customer_specs,
    "text": st.lists(st.sampled_from(PIECES), min_size=1, max_size=5),
    "html": st.booleans(),
    "channel": st.sampled_from([Channel.EMAIL, Channel.TELEGRAM, Channel.SMS]),
    "translated": st.booleans(),
    "voice": st.booleans(),
    "sender_manager": st.booleans(),
    "purpose": st.sampled_from([Purpose.MARKETING, Purpose.TRANSACTIONAL]),
}
examples = hypothesis_settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@examples
@given(**scenes)
def test_the_names_a_template_reads_render_as_the_whole_context(frozen_time, **scene):
    _n, template, customers, extras = _scene(**scene)
    channel = scene["channel"]
    for customer, extra in zip(customers, extras, strict=True):
        variant = variant_for(template, channel, language=customer.language)
        assert variant is not None
        names = template_names(variant)
        assert names is not None
        (partial,) = message_contexts([customer], channel=channel, extras=[extra], names=names)
        whole = message_render(template=template, customer=customer, channel=channel, extra=extra)
        assert variant_render(variant, partial) == whole


@examples
@given(**scenes)
def test_a_grouped_send_stores_what_single_sends_store(frozen_time, **scene):
    n, template, customers, extras = _scene(**scene)
    channel = scene["channel"]
    for i, (customer, extra) in enumerate(zip(customers, extras, strict=True)):
        message_enqueue(
            customer=customer,
            dedupe_key=f"one{n}:{customer.pk}",
            channel=channel,
            purpose=template.purpose,
            template=template,
            context=extra,
            journey_id=7,
            enrollment_id=i,
            node_id="send-1",
        )
    created = messages_enqueue_many(
        [
            Outgoing(customer, f"many{n}:{customer.pk}", channel, extra, enrollment_id=i)
            for i, (customer, extra) in enumerate(zip(customers, extras, strict=True))
        ],
        template=template,
        journey_id=7,
        node_id="send-1",
    )

    assert created == [True] * len(customers)
    assert _stored(f"many{n}", customers) == _stored(f"one{n}", customers)


@pytest.fixture
def everything(frozen_time):
    """A template that reads every kind of data but the points, with links and the pixel."""
    SendingPolicy.objects.update_or_create(pk=1, defaults={"open_pixel": True})
    BrandVoice.objects.create(
        channel=Channel.EMAIL, greeting="Привет, {{ customer.first_name }}", signature="{{ tags }}"
    )
    body = (
        "{{ brand.greeting }} {{ customer }} {{ facts }} {{ tags }} {{ last_order }} "
        "{{ manager }} {{ links.unsubscribe }} {{ journey.cart }} https://shop.example/x"
    )
    return Template.objects.create(
        slug="all",
        name="all",
        subject="{{ customer.first_name }}",
        body_text=body,
        body_html=f'<a href="https://shop.example/y">{body}</a>',
        sender_manager=True,
    )


def _group(size: int) -> list[Outgoing]:
    manager = UserFactory.create(username=f"manager{size}", first_name="Ольга")
    items = []
    for i in range(size):
        customer = CustomerFactory.create(personal_manager=manager if i % 2 else None)
        order = OrderFactory.create(customer=customer)
        OrderLine.objects.create(order=order, product=ProductFactory.create(), price=Decimal(1))
        customer_tags_add(customer=customer, names=["vip"])
        Fact.objects.create(customer=customer, category="c", text="кот")
        cart = {"journey": {"cart": {"skus": ["SKU-A", "SKU-B"], "total": "10"}}}
        items.append(Outgoing(customer, f"g{size}:{i}", Channel.EMAIL, cart if i % 3 else {}))
    return items


def _queries(items: list[Outgoing], template: Template) -> int:
    customers = [item.customer for item in items]
    for customer in customers:  # as the engine hands them over: loaded rows, no relations
        customer.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        assert messages_enqueue_many(items, template=template) == [True] * len(items)
    return len(queries)


def _insert_statements(size: int) -> int:
    """How many INSERTs the backend needs for `size` messages (SQLite caps parameters)."""
    fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
    batch = connection.ops.bulk_batch_size(fields, [Message()] * size) or size
    return math.ceil(size / batch)


def test_the_statements_of_a_grouped_send_do_not_grow_with_the_group(everything):
    ProductFactory.create(sku="SKU-A")
    _queries(_group(2), everything)  # settles the rows read once (policy, content types)
    ten, fifty = _queries(_group(10), everything), _queries(_group(50), everything)
    assert fifty - _insert_statements(50) == ten - _insert_statements(10)
    assert ten - _insert_statements(10) <= 14
    assert Message.objects.filter(dedupe_key__startswith="g50:").count() == 50
    # Each message's two external links are stored; bodies and pixel rewritten.
    assert MessageLink.objects.filter(message__dedupe_key__startswith="g50:").count() == 100
    sample = Message.objects.get(dedupe_key="g50:1")
    assert reverse("portal:open", args=["x"]).split("x")[0] in sample.body_html
    assert "https://shop.example/x" not in sample.body_text
    assert sample.payload == {"from_name": "Ольга"}


def test_a_dedupe_key_taken_yields_false_and_no_second_row(everything):
    customer = CustomerFactory.create()
    message_enqueue(
        customer=customer,
        dedupe_key="taken",
        channel=Channel.EMAIL,
        purpose=everything.purpose,
        template=everything,
    )
    other = CustomerFactory.create()
    created = messages_enqueue_many(
        [
            Outgoing(customer, "taken", Channel.EMAIL),
            Outgoing(other, "fresh", Channel.EMAIL),
            Outgoing(other, "fresh", Channel.EMAIL),  # the same key twice in one group
        ],
        template=everything,
    )
    assert created == [False, True, False]
    assert Message.objects.filter(dedupe_key="taken").count() == 1
    assert Message.objects.filter(dedupe_key="fresh").count() == 1


def test_a_template_without_words_for_the_channel_fails_as_the_single_call_does(everything):
    customer = CustomerFactory.create()
    with pytest.raises(TemplateRenderError) as single:
        message_enqueue(
            customer=customer,
            dedupe_key="sms-1",
            channel=Channel.SMS,
            purpose=everything.purpose,
            template=everything,
        )
    with pytest.raises(TemplateRenderError) as many:
        messages_enqueue_many([Outgoing(customer, "sms-2", Channel.SMS)], template=everything)
    assert str(many.value) == str(single.value)
    assert not Message.objects.filter(dedupe_key__startswith="sms-").exists()


def test_own_links_stay_and_external_ones_are_tracked(everything):
    own = settings.SITE_URL.rstrip("/") + "/p/x"
    template = Template.objects.create(
        slug="links", name="links", body_text=f"{own} https://shop.example/a https://shop.example/a"
    )
    customer = CustomerFactory.create()
    messages_enqueue_many([Outgoing(customer, "links", Channel.EMAIL)], template=template)
    message = Message.objects.get(dedupe_key="links")
    assert message.body_text.startswith(own + " ")
    assert list(message.links.values_list("url", flat=True)) == ["https://shop.example/a"]
