"""Forms of the club pages: a club (its chat, who may join, how members leave) and a staff
invitation (which customer)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lifelong.community.models import Club, ClubKind, EntryRule
from lifelong.customers.models import Customer
from lifelong.loyalty.models import Tier
from lifelong.segments.models import Segment

TELEGRAM_CHAT = re.compile(r"^-?\d{1,20}$")
# A VK conversation's peer id is 2 000 000 000 plus the conversation's number.
VK_PEER = re.compile(r"^2\d{9}$")


class ClubForm(forms.ModelForm):
    vk_link = forms.URLField(
        label=_("VK conversation link"),
        required=False,
        assume_scheme="https",
        help_text=_(
            "VK conversations have no single-use links: this reusable link is shown only "
            "to customers who may join."
        ),
    )

    class Meta:
        model = Club
        fields = [
            "title",
            "kind",
            "chat_id",
            "entry",
            "tier",
            "segment",
            "grace_days",
            "invite_days",
            "invite_text",
            "removal_text",
            "keep_texts",
            "vk_link",
            "active",
        ]
        widgets = {
            "invite_text": forms.Textarea(attrs={"rows": 3}),
            "removal_text": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "tier": _("Customers of this tier or a higher one may join."),
            "segment": _("Customers in this segment now may join."),
            "grace_days": _(
                "Counted from the day the member stopped qualifying: a tier that comes back "
                "within this time keeps them in."
            ),
            "invite_days": _(
                "Each single-use link is made when the customer opens the invitation and "
                "works this many days."
            ),
            "invite_text": _(
                "What a staff invitation says; the join address is added below it. "
                "Empty: our standard words."
            ),
            "removal_text": _(
                "Sent privately to a member taken out of the club. Empty: our standard "
                "polite words."
            ),
            "keep_texts": _(
                "Off: only counts and times of messages are kept, never what members wrote. "
                "Turning it off deletes the texts kept so far."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        tier = self.fields["tier"]
        segment = self.fields["segment"]
        assert isinstance(tier, forms.ModelChoiceField)
        assert isinstance(segment, forms.ModelChoiceField)
        tier.queryset = Tier.objects.filter(active=True).order_by("position")
        segment.queryset = Segment.objects.filter(active=True).order_by("name", "pk")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        entry, kind = data.get("entry"), data.get("kind")
        if entry == EntryRule.TIER and not data.get("tier"):
            self.add_error("tier", _("Choose the tier whose customers may join."))
        if entry == EntryRule.SEGMENT and not data.get("segment"):
            self.add_error("segment", _("Choose the segment whose customers may join."))
        chat_id = str(data.get("chat_id") or "").strip()
        if kind == ClubKind.VK_CHAT:
            if chat_id and not VK_PEER.match(chat_id):
                self.add_error("chat_id", _("A VK conversation's id looks like 2000000001."))
            if not data.get("vk_link"):
                self.add_error("vk_link", _("Paste the conversation's invitation link from VK."))
        elif chat_id and not TELEGRAM_CHAT.match(chat_id):
            self.add_error("chat_id", _("A Telegram chat id is a number like -1001234567890."))
        data["chat_id"] = chat_id
        if entry != EntryRule.TIER:
            data["tier"] = None
        if entry != EntryRule.SEGMENT:
            data["segment"] = None
        return data


class InviteForm(forms.Form):
    customer = forms.CharField(
        label=_("Customer"),
        max_length=254,
        help_text=_("The customer's number, email or phone."),
    )

    def clean_customer(self) -> Customer:
        value = self.cleaned_data["customer"].strip()
        query = Q(email__iexact=value) | Q(phone=value)
        if value.isdigit():
            query |= Q(pk=int(value))
        found = list(Customer.objects.live().filter(query).order_by("pk")[:2])
        if not found:
            raise forms.ValidationError(_("No customer with this number, email or phone."))
        if len(found) > 1:
            raise forms.ValidationError(
                _("Several customers match; use the customer's number from their card.")
            )
        return found[0]
