"""The conversations inbox: the queue, one conversation with its actions, and the SLA rules.

Everyone may read it; owner, marketer and support (WORK_TASKS) act on it; the rules are
the owner's and the marketer's (MANAGE_MARKETING).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import messages
from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.permissions import IMPORT_DATA, MANAGE_MARKETING, WORK_TASKS
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Customer
from lifelong.customers.selectors import customer_search_q
from lifelong.feedback import inbox as services
from lifelong.feedback.corrections import item_themes_correct
from lifelong.feedback.models import (
    OUR_MOVE,
    Conversation,
    ConversationStatus,
    InboxSettings,
    Item,
    ItemSource,
    Theme,
)
from lifelong.feedback.reviews_csv import reviews_import
from lifelong.lib.errors import DomainError
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.conversation_thread import CONVERSATIONS_READ
from lifelong.web.listing import page_number, page_slice

PER_PAGE = 50
OPEN = "open"


def _staff_choices() -> list[tuple[str, str]]:
    users = User.objects.filter(is_active=True).order_by("first_name", "username")
    return [(str(u.pk), u.get_full_name() or u.get_username()) for u in users]


class FilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[
            (OPEN, gettext_lazy("Open")),
            ("", gettext_lazy("All")),
            *ConversationStatus.choices,
        ],
    )
    assignee = forms.ChoiceField(label=gettext_lazy("Assignee"), required=False)
    source = forms.ChoiceField(
        label=gettext_lazy("Source"),
        required=False,
        choices=[("", gettext_lazy("All sources")), *ItemSource.choices],
    )
    theme = forms.ChoiceField(label=gettext_lazy("Theme"), required=False)
    praised = forms.ChoiceField(label=gettext_lazy("Praising"), required=False)
    overdue = forms.BooleanField(label=gettext_lazy("Overdue only"), required=False)
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)

    def __init__(self, *args: Any, themes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = _staff_choices()
        self.fields["assignee"].choices = [  # type: ignore[attr-defined]
            ("", gettext_lazy("Anyone")),
            ("me", gettext_lazy("Me")),
            ("none", gettext_lazy("Nobody")),
            *staff,
        ]
        self.fields["theme"].choices = [("", gettext_lazy("All themes")), *themes]  # type: ignore[attr-defined]
        self.fields["praised"].choices = [("", gettext_lazy("Anyone or no one")), *staff]  # type: ignore[attr-defined]


def _case_variants(term: str) -> set[str]:
    # SQLite folds the case of ASCII only: «курьер» would miss «Курьер». PostgreSQL's
    # UPPER() folds Unicode, so there one pattern is enough.
    if connection.vendor != "sqlite":
        return {term}
    return {term, term.lower(), term.upper(), term.capitalize()}


def conversations_filtered(data: dict[str, Any], user: User) -> QuerySet[Conversation]:
    """The list's rows for a filter; every filter reads the conversation row itself (the
    items' sources and themes are copied onto it), except search: the customer's name,
    email or phone, or the words of any item."""
    rows = Conversation.objects.all()
    status = data.get("status", OPEN)
    if status == OPEN:
        rows = rows.exclude(status=ConversationStatus.CLOSED)
    elif status:
        rows = rows.filter(status=status)
    assignee = data.get("assignee") or ""
    if assignee == "me":
        rows = rows.filter(assignee=user)
    elif assignee == "none":
        rows = rows.filter(assignee=None)
    elif assignee.isdigit():
        rows = rows.filter(assignee_id=int(assignee))
    if data.get("source"):
        rows = rows.filter(sources__icontains=f'"{data["source"]}"')
    if data.get("theme"):
        rows = rows.filter(themes__icontains=f'"{data["theme"]}"')
    praised = data.get("praised") or ""
    if praised.isdigit():
        # Conversations with an item praising that staff member (the Insights page's link).
        praising = Item.objects.filter(
            conversation=OuterRef("pk"), sentiment="positive", mentioned_staff=int(praised)
        )
        rows = rows.filter(Exists(praising))
    if data.get("overdue"):
        rows = rows.filter(status__in=OUR_MOVE, due_at__lt=clock.now())
    query = (data.get("q") or "").strip()
    if query:
        text = Q()
        for variant in _case_variants(query):
            text |= Q(text__icontains=variant)
        said = Item.objects.filter(text, conversation=OuterRef("pk"))
        who = Customer.objects.filter(customer_search_q(query)).values("pk")
        rows = rows.filter(Q(customer__in=who) | Exists(said))
    return rows.select_related("customer", "assignee").order_by("-last_activity_at", "-pk")


def _theme_names(language: str) -> dict[str, str]:
    return {t.slug: t.name(language) for t in Theme.objects.all()}


@require(CONVERSATIONS_READ)
def conversation_list(request: HttpRequest) -> HttpResponse:
    """Newest activity first; "My queue" is `?assignee=me`."""
    user = staff_user(request)
    names = _theme_names(request.LANGUAGE_CODE)
    form = FilterForm(request.GET or None, themes=sorted(names.items(), key=lambda n: n[1]))
    data: dict[str, Any] = dict(form.cleaned_data) if form.is_valid() else {}
    if "status" not in request.GET:
        # Links (My queue, Overdue, the next page) show open conversations unless told.
        data["status"] = OPEN
    page = page_slice(
        conversations_filtered(data, user),
        number=page_number(request.GET.get("page")),
        per_page=PER_PAGE,
    )
    sources = dict(ItemSource.choices)
    for row in page.rows:
        row.theme_names = [names.get(slug, slug) for slug in row.themes]  # type: ignore[attr-defined]
        row.source_names = [str(sources.get(s, s)) for s in row.sources]  # type: ignore[attr-defined]
    context = {
        "form": form,
        "page": page,
        "mine": data.get("assignee") == "me",
    }
    return render(request, "web/conversations/list.html", context)


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Reply"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5, "accesskey": "r"}),
    )
    signer = forms.ChoiceField(label=gettext_lazy("Signed by"))
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, signers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["signer"].choices = [(s, s) for s in signers]  # type: ignore[attr-defined]


class CommentForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Internal comment"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _signers(conversation: Conversation, user: User) -> list[str]:
    """Who may sign: the staff member, the people in the inbox settings, and the customer's
    personal manager."""
    own = user.get_full_name() or user.get_username()
    signers = [own, *InboxSettings.current().signer_lines()]
    customer = conversation.customer
    if customer is not None and customer.personal_manager_id:
        manager = customer.personal_manager
        assert manager is not None
        signers.append(
            _("%(name)s, your personal manager")
            % {"name": manager.get_full_name() or manager.get_username()}
        )
    return list(dict.fromkeys(signers))


def _neighbours(conversation: Conversation) -> dict[str, int | None]:
    """The open conversations just before and after this one in the list's order: the
    j / k links."""
    open_rows = Conversation.objects.exclude(status=ConversationStatus.CLOSED)
    at, pk = conversation.last_activity_at, conversation.pk
    older = (
        open_rows.filter(Q(last_activity_at__lt=at) | Q(last_activity_at=at, pk__lt=pk))
        .order_by("-last_activity_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    newer = (
        open_rows.filter(Q(last_activity_at__gt=at) | Q(last_activity_at=at, pk__gt=pk))
        .order_by("last_activity_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    return {"next": older, "previous": newer}


def _mentions(item: Item) -> str:
    """«Хвалит: Ольга» — the staff the item names, as praise or complaint by its sentiment."""
    people = [u.get_full_name() or u.get_username() for u in item.mentioned_staff.all()]
    if not people:
        return ""
    names = {"names": ", ".join(people)}
    if item.sentiment == "positive":
        return _("Praises: %(names)s") % names
    if item.sentiment == "negative":
        return _("Criticises: %(names)s") % names
    return _("Mentions: %(names)s") % names


def _detail(
    request: HttpRequest,
    conversation: Conversation,
    *,
    reply_form: ReplyForm | None = None,
    comment_form: CommentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = staff_user(request)
    names = _theme_names(request.LANGUAGE_CODE)
    named = Prefetch("mentioned_staff", queryset=User.objects.order_by("first_name", "pk"))
    items = list(
        conversation.items.select_related("message")
        .prefetch_related(named)
        .order_by("received_at", "pk")
    )
    for item in items:
        item.theme_names = [names.get(slug, slug) for slug in item.themes]  # type: ignore[attr-defined]
        item.mentions = _mentions(item)  # type: ignore[attr-defined]
    signers = _signers(conversation, user)
    channel, _item = services.reply_channel(conversation)
    context = {
        "conversation": conversation,
        "items": items,
        "comments": conversation.comments.select_related("author").order_by("created_at"),
        "replies": conversation.replies.select_related("author", "message").order_by("created_at"),
        "reply_form": reply_form
        or ReplyForm(signers=signers, initial={"key": uuid.uuid4().hex, "signer": signers[0]}),
        "comment_form": comment_form or CommentForm(),
        "reply_channel": channel,
        "staff": _staff_choices(),
        "statuses": ConversationStatus.choices,
        "neighbours": _neighbours(conversation),
        "can_act": user.can(WORK_TASKS),
        # The checkboxes of the theme correction form: the active themes.
        "theme_choices": [
            (t.slug, t.name(request.LANGUAGE_CODE)) for t in Theme.objects.filter(active=True)
        ],
    }
    return render(request, "web/conversations/detail.html", context, status=status)


def _get(request: HttpRequest, pk: int, permission: str) -> Conversation:
    return object_get(
        request,
        Conversation.objects.select_related("customer", "assignee", "customer__personal_manager"),
        pk,
        permission,
    )


@require(CONVERSATIONS_READ)
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _get(request, pk, CONVERSATIONS_READ))


def _back(conversation: Conversation) -> HttpResponse:
    return redirect(reverse("web:conversation", args=[conversation.pk]))


@require(WORK_TASKS)
@require_POST
def conversation_reply(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _get(request, pk, WORK_TASKS)
    form = ReplyForm(request.POST, signers=_signers(conversation, staff_user(request)))
    if not form.is_valid():
        return _detail(request, conversation, reply_form=form, status=400)
    try:
        services.reply_send(
            conversation=conversation,
            author=staff_user(request),
            text=form.cleaned_data["text"],
            signer=form.cleaned_data["signer"],
            key=form.cleaned_data["key"],
        )
    except DomainError as exc:
        form.add_error(None, str(exc))
        return _detail(request, conversation, reply_form=form, status=400)
    messages.success(request, _("The reply is on its way."))
    return _back(conversation)


@require(WORK_TASKS)
@require_POST
def conversation_item_themes(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    """Staff's themes for one item (checkboxes; none ticked clears them)."""
    conversation = _get(request, pk, WORK_TASKS)
    item = conversation.items.filter(pk=item_pk).first()
    if item is None:
        return HttpResponse(_("No such item."), status=404)
    try:
        item_themes_correct(
            item=item, themes=request.POST.getlist("themes"), actor=staff_user(request)
        )
    except DomainError as exc:
        return HttpResponse(str(exc), status=400)
    messages.success(request, _("Themes corrected; later re-tagging keeps them."))
    return _back(conversation)


@require(WORK_TASKS)
@require_POST
def conversation_comment(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _get(request, pk, WORK_TASKS)
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _detail(request, conversation, comment_form=form, status=400)
    services.comment_add(
        conversation=conversation, author=staff_user(request), text=form.cleaned_data["text"]
    )
    return _back(conversation)


@require(WORK_TASKS)
@require_POST
def conversation_assign(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _get(request, pk, WORK_TASKS)
    user = staff_user(request)
    raw = request.POST.get("assignee", "")
    if raw == "me":
        assignee: User | None = user
    elif raw.isdigit():
        assignee = User.objects.filter(pk=int(raw), is_active=True).first()
        if assignee is None:
            return HttpResponse(_("No such staff member."), status=400)
    else:
        assignee = None
    services.conversation_assign(conversation=conversation, assignee=assignee, actor=user)
    return _back(conversation)


@require(WORK_TASKS)
@require_POST
def conversation_status(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _get(request, pk, WORK_TASKS)
    status = request.POST.get("status", "")
    if status not in ConversationStatus.values:
        return HttpResponse(_("Unknown status."), status=400)
    try:
        services.conversation_status_set(
            conversation=conversation, status=status, actor=staff_user(request)
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    return _back(conversation)


class SettingsForm(forms.ModelForm):
    class Meta:
        model = InboxSettings
        fields = [
            "urgent_hours",
            "normal_hours",
            "detractor_max",
            "low_rating_max",
            "negative_urgent",
            "signers",
        ]
        widgets = {"signers": forms.Textarea(attrs={"rows": 4})}


@require(MANAGE_MARKETING)
def inbox_settings(request: HttpRequest) -> HttpResponse:
    """The SLA rules and the signers; new items follow them, items already in keep their
    due times."""
    row = InboxSettings.current()
    form = SettingsForm(request.POST or None, instance=row)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit_record(
            actor=staff_user(request),
            action="feedback.inbox_settings.update",
            obj=row,
            changes={name: str(form.cleaned_data[name]) for name in form.changed_data},
        )
        messages.success(request, _("Inbox settings saved."))
        return redirect("web:inbox_settings")
    return render(request, "web/conversations/settings.html", {"form": form})


class ReviewsFileForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file of reviews"))


MAX_UPLOAD = 5 * 1024 * 1024


@require(IMPORT_DATA)
def reviews_import_page(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of outside reviews; the page then says what was recorded."""
    form = ReviewsFileForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            form.add_error("file", _("The file is larger than 5 MB."))
        else:
            with tempfile.NamedTemporaryFile(suffix=".csv") as copy:
                for chunk in upload.chunks():
                    copy.write(chunk)
                copy.flush()
                result = reviews_import(path=Path(copy.name))
            audit_record(
                actor=staff_user(request),
                action="feedback.reviews.import",
                changes={"created": result.created, "duplicates": result.duplicates},
            )
    status = 400 if request.method == "POST" and result is None else 200
    return render(
        request,
        "web/conversations/reviews_import.html",
        {"form": form, "result": result},
        status=status,
    )
