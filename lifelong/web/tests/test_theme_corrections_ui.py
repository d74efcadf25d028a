"""Staff correct an item's themes on the conversation page: roles, the audit line, the
survey response corrected with it, kept when an edit of the response re-tags it, and listed
on the themes page as the tagger's themes against staff's."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lifelong.accounts.models import AuditLog
from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory
from lifelong.feedback.corrections import CorrectionError, item_themes_correct
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Item, ItemSource
from lifelong.feedback.surveys import questions_of, response_submit, survey_invite_create
from lifelong.feedback.tests.test_surveys import nps_survey

pytestmark = pytest.mark.django_db

LATE = "Курьер опоздал на два дня"


def late_item() -> Item:
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key="tg-1",
        customer=CustomerFactory.create(),
        text=LATE,
        channel="telegram",
    )
    return item


def correct_url(item: Item) -> str:
    return reverse("web:conversation_item_themes", args=[item.conversation_id, item.pk])


@pytest.mark.parametrize("role", ["owner", "marketer", "support"])
def test_owner_marketer_and_support_correct_themes_audited(role, request, frozen_time):
    user = request.getfixturevalue(role)
    item = late_item()
    assert item.themes == ["delivery"]
    response = client_for(user).post(correct_url(item), {"themes": ["delivery", "staff"]})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.themes == ["delivery", "staff"] and item.tagger_themes == ["delivery"]
    assert item.themes_corrected_by == user and item.themes_corrected_at is not None
    assert item.conversation.themes == ["delivery", "staff"]
    line = AuditLog.objects.get(action="feedback.item.themes_correct")
    assert line.actor == user and line.object_id == str(item.pk)
    assert line.changes == {"themes": {"from": ["delivery"], "to": ["delivery", "staff"]}}


def test_the_analyst_may_not_and_the_form_is_not_shown(analyst, frozen_time):
    item = late_item()
    client = client_for(analyst)
    assert client.post(correct_url(item), {"themes": ["price"]}).status_code == 403
    item.refresh_from_db()
    assert item.themes == ["delivery"] and item.themes_corrected_at is None
    page = client.get(reverse("web:conversation", args=[item.conversation_id])).content.decode()
    assert correct_url(item) not in page


def test_an_unknown_theme_or_another_conversations_item_is_refused(support, frozen_time):
    item = late_item()
    client = client_for(support)
    assert client.post(correct_url(item), {"themes": ["nonsense"]}).status_code == 400
    other, _ = item_record(
        source=ItemSource.MESSAGE, source_key="tg-2", customer=CustomerFactory.create(), text="x"
    )
    url = reverse("web:conversation_item_themes", args=[item.conversation_id, other.pk])
    assert client.post(url, {"themes": ["price"]}).status_code == 404
    with pytest.raises(CorrectionError):
        item_themes_correct(item=item, themes=["nonsense"], actor=support)
    assert not AuditLog.objects.filter(action="feedback.item.themes_correct").exists()


def test_nothing_ticked_clears_the_themes_and_a_second_correction_keeps_the_taggers(
    support, frozen_time
):
    item = late_item()
    client = client_for(support)
    client.post(correct_url(item), {})
    client.post(correct_url(item), {"themes": ["price"]})
    item.refresh_from_db()
    assert item.themes == ["price"] and item.tagger_themes == ["delivery"]


def test_a_corrected_survey_answer_keeps_its_themes_when_an_edit_re_tags_it(support, frozen_time):
    survey = nps_survey()
    nps, what_went_wrong = questions_of(survey)[:2]
    invite = survey_invite_create(
        survey=survey, customer=CustomerFactory.create(), key="a", channel="email"
    )
    response, _ = response_submit(invite=invite, answers={nps.pk: 3, what_went_wrong.pk: LATE})
    item = Item.objects.get(response=response)
    client_for(support).post(correct_url(item), {"themes": ["staff"]})
    response.refresh_from_db()
    assert response.themes == ["staff"] and response.themes_corrected_by == support

    # An edit within the window tags the text again: the sentiment follows it, the themes stay.
    edited = {nps.pk: 2, what_went_wrong.pk: "Цены высокие, а курьер опоздал"}
    response, created = response_submit(invite=invite, answers=edited)
    assert not created
    response.refresh_from_db()
    item.refresh_from_db()
    assert response.themes == ["staff"] and item.themes == ["staff"]
    assert set(response.tagger_themes) == {"delivery", "price"}


def test_the_themes_page_lists_recent_corrections(marketer, frozen_time):
    item = late_item()
    item_themes_correct(item=item, themes=["staff"], actor=marketer)
    page = client_for(marketer).get(reverse("web:feedback_themes")).content.decode()
    assert 'id="corrections"' in page and LATE in page
    row = page.split('id="corrections"')[1]
    assert row.index("Доставка") < row.index("Сотрудники") < row.index("</table>")
