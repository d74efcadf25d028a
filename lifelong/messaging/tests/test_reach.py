"""`channels_choose` answers for a group what `channel_choose` answers for each customer, in a
number of queries that does not grow with the group."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.customers.models import Channel, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging.models import ChannelConfig, PushSubscription, Template
from lifelong.messaging.reach import channels_choose
from lifelong.messaging.services import channel_choose

pytestmark = pytest.mark.django_db

CHANNELS = ["email", "telegram", "sms", "push", "vk", "whatsapp"]
_ids = itertools.count()


def _customer(preferred: str, addresses: set[str], language: str, consents, push: bool):
    customer = CustomerFactory.create(
        preferred_channel=preferred,
        language=language,
        email="a@example.ru" if "email" in addresses else "",
        phone="+79160000000" if "phone" in addresses else "",
        telegram_chat_id="42" if "telegram" in addresses else "",
        vk_id="7" if "vk" in addresses else "",
    )
    if push:
        PushSubscription.objects.create(
            customer=customer, endpoint=f"https://push.example/{customer.pk}", p256dh="k", auth="a"
        )
    for channel, granted in consents:
        consent_record(
            customer=customer,
            channel=channel,
            purpose=Purpose.MARKETING,
            granted=granted,
            source="t",
        )
    return customer


@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    configured=st.sets(st.sampled_from(CHANNELS)),
    people=st.lists(
        st.tuples(
            st.sampled_from(["", *CHANNELS]),
            st.sets(st.sampled_from(["email", "phone", "telegram", "vk"])),
            st.sampled_from(["ru", "en"]),
            st.lists(st.tuples(st.sampled_from(CHANNELS), st.booleans()), max_size=4),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    purpose=st.sampled_from([Purpose.MARKETING, Purpose.TRANSACTIONAL]),
    variants=st.sampled_from(["none", "email", "sms", "short", "en-messenger"]),
)
def test_the_group_choice_equals_the_single_choice(db, configured, people, purpose, variants):
    ChannelConfig.objects.all().delete()
    for channel in configured:
        ChannelConfig.objects.create(channel=channel, transport="sandbox", active=True)
    template = None
    if variants != "none":
        fields = {
            "email": {"body_text": "Письмо"},
            "sms": {"sms_text": "СМС"},
            "short": {"short_text": "Коротко"},
            "en-messenger": {"translations": {"en": {"messenger_text": "Hi"}}},
        }[variants]
        n = next(_ids)
        template = Template.objects.create(slug=f"r{n}", name=f"r{n}", **fields)
    customers = [_customer(*person) for person in people]
    expected = {
        c.pk: channel_choose(customer=c, purpose=purpose, template=template) for c in customers
    }
    assert channels_choose(customers, purpose=purpose, template=template) == expected


def test_the_group_choice_reads_a_fixed_number_of_rows(db):
    for channel in CHANNELS:
        ChannelConfig.objects.create(channel=channel, transport="sandbox", active=True)

    def queries(size: int) -> int:
        customers = [
            _customer("sms", {"phone"}, "ru", [("push", True), ("email", False)], push=True)
            for _ in range(size)
        ]
        with CaptureQueriesContext(connection) as captured:
            chosen = channels_choose(customers, purpose=Purpose.MARKETING)
        assert set(chosen.values()) == {Channel.PUSH}
        return len(captured)

    assert queries(3) == queries(30) == 3
