"""Items marked fixed, and the theme's message template, through Django's client: the pick
page (filters, query count, roles), the fix form filled from the theme most picked items
carry, «Use the theme's template», preview, confirm, keeping the template, and the theme page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong.accounts.models import AuditLog
from lifelong.conftest import client_for
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.feedback.fix_messages import DEFAULTS
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Fix, Item, ItemSource, Theme
from lifelong.messaging.models import ChannelConfig, Message

pytestmark = pytest.mark.django_db


def complaint(text: str, key: str, *, consent: bool = True, customer=None) -> Item:
    customer = customer or CustomerFactory.create(first_name="Марина")
    if consent:
        consent_record(
            customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
        )
    item, _ = item_record(source=ItemSource.MESSAGE, source_key=key, customer=customer, text=text)
    return item


def form_data(items: list[Item], **extra: object) -> dict[str, object]:
    subject, text = DEFAULTS["ru"]
    return {
        "step": "form",
        "items": [i.pk for i in items],
        "theme": "",
        "note": "теперь привозим за два дня",
        "subject": subject,
        "text": text,
        "subject_en": "",
        "text_en": "",
        "holdout_percent": 0,
        **extra,
    }


def test_support_and_the_analyst_may_not_mark_items_fixed(support, analyst):
    for user in (support, analyst):
        assert client_for(user).get("/inbox/fixed/").status_code == 403
        assert client_for(user).post("/feedback/fixes/items/", {}).status_code == 403


def test_the_pick_page_lists_known_customers_items_and_filters_them(marketer):
    courier = complaint("Курьер опоздал на три дня", "a")
    price = complaint("Дороговато стало", "b")
    item_record(source=ItemSource.OTHER, source_key="r", customer=None, text="Курьер нахамил")
    client = client_for(marketer)
    page = client.get("/inbox/fixed/").content.decode()
    assert f'value="{courier.pk}"' in page and f'value="{price.pk}"' in page
    assert "Курьер нахамил" not in page  # no customer to tell
    by_theme = client.get("/inbox/fixed/", {"theme": "delivery"}).content.decode()
    assert f'value="{courier.pk}"' in by_theme and f'value="{price.pk}"' not in by_theme
    by_words = client.get("/inbox/fixed/", {"q": "стало"}).content.decode()
    assert f'value="{price.pk}"' in by_words and f'value="{courier.pk}"' not in by_words


def test_the_pick_page_reads_in_the_same_queries_for_two_items_or_twenty(marketer):
    client = client_for(marketer)
    for n in range(2):
        complaint("Курьер опоздал", f"a{n}")
    with CaptureQueriesContext(connection) as few:
        client.get("/inbox/fixed/")
    for n in range(18):
        complaint("Курьер опоздал", f"b{n}")
    with CaptureQueriesContext(connection) as many:
        assert client.get("/inbox/fixed/").content.decode().count('name="items"') == 20
    assert len(many) == len(few)


def test_nothing_ticked_goes_back_to_the_list(marketer):
    response = client_for(marketer).post("/feedback/fixes/items/", {})
    assert response.status_code == 302 and response["Location"] == "/inbox/fixed/"


def test_the_form_starts_from_the_template_of_the_theme_most_items_carry(marketer):
    delivery = Theme.objects.get(slug="delivery")
    Theme.objects.filter(pk=delivery.pk).update(fix_text_ru="Про доставку: {{ note }}")
    items = [complaint("Курьер опоздал", "a"), complaint("Курьер снова опоздал", "b")]
    page = client_for(marketer).post("/feedback/fixes/items/", {"items": [i.pk for i in items]})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Про доставку: {{ note }}" in html
    assert f'<option value="{delivery.pk}" selected>' in html
    assert html.count('type="hidden" name="items"') == 2


def test_use_the_themes_template_refills_the_message(marketer):
    price = Theme.objects.get(slug="price")
    Theme.objects.filter(pk=price.pk).update(fix_subject_ru="Цены", fix_text_ru="Цены: {{ note }}")
    item = complaint("Курьер опоздал", "a")
    page = client_for(marketer).post(
        "/feedback/fixes/items/", form_data([item], theme=price.pk, load_template="1")
    )
    assert "Цены: {{ note }}" in page.content.decode()
    assert not Fix.objects.exists()


def test_preview_then_confirm_sends_to_the_picked_customers_and_keeps_the_template(marketer):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    picked = complaint("Курьер опоздал", "a")
    no_consent = complaint("Курьер опоздал", "b", consent=False)
    complaint("Курьер опоздал", "c")  # not picked
    delivery = Theme.objects.get(slug="delivery")
    client = client_for(marketer)
    data = form_data([picked, no_consent], theme=delivery.pk)
    data["text"] = "{{ name }}, вы писали: «{{ told }}». {{ note }}."
    preview = client.post("/feedback/fixes/items/", data | {"preview": "1"})
    assert "можно отправить (есть согласие): 1" in preview.content.decode()
    assert not Fix.objects.exists()

    done = client.post("/feedback/fixes/items/", data | {"confirm": "1", "keep_template": "on"})
    fix = Fix.objects.get()
    assert done["Location"] == f"/feedback/fixes/{fix.pk}/"
    assert set(fix.items.all()) == {picked, no_consent}
    message = Message.objects.get(dedupe_key__startswith=f"fix:{fix.pk}:")
    assert message.customer_id == picked.conversation.customer_id
    assert message.body_text == "Марина, вы писали: «Курьер опоздал». теперь привозим за два дня."
    delivery.refresh_from_db()
    assert delivery.fix_text_ru == data["text"]
    assert delivery.fix_subject_ru == ""  # the default subject is stored as nothing
    assert AuditLog.objects.filter(action="feedback.theme.update", object_id=str(delivery.pk))
    audit = AuditLog.objects.get(action="feedback.fix.announce")
    assert audit.changes["items"] == sorted([picked.pk, no_consent.pk])

    results = client.get(f"/feedback/fixes/{fix.pk}/").content.decode()
    assert 'id="fix-items"' in results and "Курьер опоздал" in results
    listing = client.get("/feedback/fixes/").content.decode()
    assert "Доставка · 2 обращения" in listing


def test_a_bad_template_is_refused_and_nothing_is_sent(marketer):
    item = complaint("Курьер опоздал", "a")
    data = form_data([item], text="{{ customer.__class__ }}", confirm="1")
    response = client_for(marketer).post("/feedback/fixes/items/", data)
    assert response.status_code == 400
    assert not Fix.objects.exists()


def test_keeping_a_template_needs_a_theme(marketer):
    item = complaint("Курьер опоздал", "a")
    data = form_data([item], confirm="1", keep_template="on")
    assert client_for(marketer).post("/feedback/fixes/items/", data).status_code == 400


def test_the_theme_fix_form_starts_from_the_themes_template(marketer):
    delivery = Theme.objects.get(slug="delivery")
    Theme.objects.filter(pk=delivery.pk).update(fix_text_en="Delivery: {{ note }}")
    html = client_for(marketer).get("/feedback/fixes/", {"theme": delivery.pk}).content.decode()
    assert "Delivery: {{ note }}" in html
    assert f'<option value="{delivery.pk}" selected>' in html


def test_the_theme_page_edits_its_template(marketer):
    delivery = Theme.objects.get(slug="delivery")
    client = client_for(marketer)
    page = client.get(f"/feedback/themes/{delivery.pk}/").content.decode()
    assert "Помните, вы писали нам" in page  # the default, to edit
    assert f"/feedback/fixes/?theme={delivery.pk}" in page
    data = {
        "slug": "delivery",
        "name_ru": delivery.name_ru,
        "name_en": delivery.name_en,
        "active": "on",
        "rules_ru": "\n".join(
            delivery.rules.filter(language="ru").values_list("phrase", flat=True)
        ),
        "rules_en": "\n".join(
            delivery.rules.filter(language="en").values_list("phrase", flat=True)
        ),
        "fix_subject_ru": DEFAULTS["ru"][0],
        "fix_text_ru": "{{ name }}, доставку исправили: {{ note }}",
        "fix_subject_en": DEFAULTS["en"][0],
        "fix_text_en": DEFAULTS["en"][1],
    }
    assert client.post(f"/feedback/themes/{delivery.pk}/", data).status_code == 302
    delivery.refresh_from_db()
    assert delivery.fix_text_ru == "{{ name }}, доставку исправили: {{ note }}"
    assert (delivery.fix_subject_ru, delivery.fix_subject_en, delivery.fix_text_en) == ("", "", "")
    audit = AuditLog.objects.filter(action="feedback.theme.update").latest("pk")
    assert "fix_text_ru" in audit.changes and "rules_ru_added" not in audit.changes
    bad = client.post(f"/feedback/themes/{delivery.pk}/", data | {"fix_text_ru": "{{ x.y }}"})
    assert bad.status_code == 400
