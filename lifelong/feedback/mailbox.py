"""Customers' email replies, read from a mailbox over IMAP into the conversations inbox.

Customer mail names this mailbox as its Reply-To; `mailbox_read` (the `feedback.mailbox_read`
sweep) fetches the folder's unseen messages by UID in batches, without marking them, and
for each one:

- takes the text the customer wrote: the plain part (or the HTML one, tags stripped),
  without quoted lines, the «… написал(а):» / "On … wrote:" line and what follows it, and
  a signature;
- finds whom it is from and what it answers: a Message-ID in In-Reply-To / References that
  is one of our sent emails (the email transport keeps the Message-ID it sent as the
  message's provider id) gives the customer and the message; otherwise the From address
  gives the customer; a sender we do not know opens a conversation without a customer;
- records a `message_replied` event on the customer's timeline and an item of their open
  conversation, both keyed by the mail's Message-ID (by folder UID when it has none), so a
  second read records nothing;
- flags the mail `\\Seen` only once that is committed.

Automatic mail (out-of-office answers, bounces) is flagged seen and skipped. The server's
address passes the same check as outbound HTTP (lifelong.lib.outbound): a private address
only when LIFELONG_OUTBOUND_ALLOWED_NETWORKS allows it, and the connection goes to the
address checked.
"""

from __future__ import annotations

import contextlib
import email
import hashlib
import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parseaddr
from html import unescape

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils.html import strip_tags

from lifelong.customers.models import Customer
from lifelong.customers.selectors import customer_survivor
from lifelong.events.services import event_record
from lifelong.feedback.inbox import MAX_TEXT, item_record
from lifelong.feedback.models import Item, ItemSource
from lifelong.lib.errors import DomainError
from lifelong.lib.outbound import outbound_address
from lifelong.messaging.models import Message

log = logging.getLogger(__name__)

BATCH_SIZE = 50
MAX_PER_RUN = 1000
TIMEOUT = 30
MSGID = re.compile(r"<[^<>\s]+>")
# "On Fri, 5 Dec 2026 at 14:00, Lavka <shop@lavka.ru> wrote:", «5 дек. 2026 г., в 14:00,
# Лавка <shop@lavka.ru> написал(а):», Gmail in Russian: «пт, 5 дек. 2026 г. в 14:00, Лавка
# <shop@lavka.ru>:». Mail clients wrap it: a line before it that starts like one goes too.
ATTRIBUTION = re.compile(
    r"^(on\b.*\bwrote:|.*(написал|написала|написал\(а\)|пишет|wrote)\s*:|.*\d.*@[^\s>]+>\s*:)\s*$",
    re.IGNORECASE,
)
ATTRIBUTION_START = re.compile(r"^(on\s.*\d|.*\d{1,2}:\d{2}.*,)", re.IGNORECASE)
# Where a forwarded or Outlook-quoted original starts, and what phones sign with.
CUT = re.compile(
    r"^(-{2,}\s*(original message|исходное сообщение|пересылаемое сообщение)"
    r"|(sent from my|отправлено (с|из)) \S+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Reply:
    """One mail, parsed: who sent it, what it refers to, and the text the customer wrote."""

    message_id: str
    sender: str
    sender_name: str
    references: tuple[str, ...]
    text: str
    automatic: bool


@dataclass
class ReadResult:
    recorded: int = 0
    duplicates: int = 0
    unknown: int = 0
    skipped: int = 0
    failed: int = 0


def reply_text(body: str) -> str:
    """What the customer wrote above the quoted mail: no '>' lines, nothing from the
    attribution line or a signature delimiter down, no trailing blank lines."""
    kept: list[str] = []
    previous = ""
    for raw in body.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        stripped = line.strip()
        if stripped == "--" or CUT.match(stripped):
            break
        if ATTRIBUTION.match(stripped):
            if previous and ATTRIBUTION_START.match(previous):
                kept.pop()  # the attribution's first half, wrapped by the mail client
            break
        if stripped.startswith(">"):
            continue
        kept.append(line)
        previous = stripped
    return "\n".join(kept).strip()


def _body(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = unescape(strip_tags(re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)))
    return content


def reply_parse(raw: bytes) -> Reply:
    mail = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(mail, EmailMessage)
    name, address = parseaddr(str(mail.get("From", "")))
    references = tuple(
        dict.fromkeys(
            MSGID.findall(str(mail.get("In-Reply-To", "")))
            + MSGID.findall(str(mail.get("References", "")))[::-1]
        )
    )
    auto = str(mail.get("Auto-Submitted", "no")).strip().lower()
    automatic = (
        auto not in ("", "no")
        or mail.get_content_type() == "multipart/report"
        or address.lower().startswith(("mailer-daemon@", "postmaster@"))
        or bool(mail.get("X-Autoreply") or mail.get("X-Autorespond"))
    )
    ids = MSGID.findall(str(mail.get("Message-ID", "")))
    return Reply(
        message_id=ids[0] if ids else "",
        sender=address.strip(),
        sender_name=name.strip(),
        references=references,
        text=reply_text(_body(mail))[:MAX_TEXT],
        automatic=automatic,
    )


def reply_match(reply: Reply) -> tuple[Customer | None, Message | None]:
    """The customer and our message the mail answers: by the Message-IDs it refers to, else
    the customer by the From address, else (None, None)."""
    if reply.references:
        ours = (
            Message.objects.filter(channel="email", provider_id__in=reply.references[:20])
            .exclude(customer=None)
            .order_by("-pk")
            .first()
        )
        if ours is not None and ours.customer_id is not None:
            customer = customer_survivor(ours.customer_id)
            if customer is not None:
                return customer, ours
    if not reply.sender or "@" not in reply.sender:
        return None, None
    # Profiles keep email lower-case (customer_upsert), so this is the indexed look-up.
    customer = Customer.objects.live().filter(email=reply.sender.lower()).order_by("pk").first()
    return customer, None


def _key(reply: Reply, uid_key: str) -> str:
    basis = reply.message_id or uid_key
    return "email:" + hashlib.sha256(basis.encode()).hexdigest()[:48]


def reply_record(reply: Reply, *, uid_key: str) -> tuple[Item, bool]:
    """The inbox item of one mail (and its timeline event when we know the customer);
    the same mail again returns the first item."""
    key = _key(reply, uid_key)
    existing = Item.objects.filter(source_key=key).first()
    if existing is not None:
        return existing, False
    customer, ours = reply_match(reply)
    author = f"{reply.sender_name} <{reply.sender}>" if reply.sender_name else reply.sender
    with transaction.atomic():
        if customer is not None:
            origin = (
                {
                    "message_id": ours.pk,
                    "journey_id": ours.journey_id,
                    "enrollment_id": ours.enrollment_id,
                    "node_id": ours.node_id,
                }
                if ours is not None
                else {}
            )
            event_record(
                customer=customer,
                type="message_replied",
                properties={"channel": "email", "text": reply.text, **origin},
                source="email",
                idempotency_key=f"inbound:{key}",
            )
        return item_record(
            source=ItemSource.MESSAGE,
            source_key=key,
            customer=customer,
            text=reply.text,
            channel="email",
            author=author,
            external_id=reply.message_id,
            message_id=ours.pk if ours is not None else None,
        )


class _PinnedIMAP(imaplib.IMAP4):
    """IMAP4 connecting to the address that passed the check; STARTTLS still verifies the
    certificate for the host name."""

    def __init__(self, host: str, port: int, *, address: str) -> None:
        self._address = address
        super().__init__(host, port, timeout=TIMEOUT)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self._address, self.port), timeout)


class _PinnedIMAPSSL(imaplib.IMAP4_SSL):
    def __init__(self, host: str, port: int, *, address: str) -> None:
        self._address = address
        super().__init__(host, port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def mailbox_connect() -> imaplib.IMAP4:
    """A logged-in connection to the reply mailbox with its folder selected.

    Raises OutboundRefused for a private address that is not allowed, imaplib.IMAP4.error
    when the server refuses the login or the folder."""
    host, port = settings.REPLY_IMAP_HOST, settings.REPLY_IMAP_PORT
    address = outbound_address(host, port)
    security = settings.REPLY_IMAP_SECURITY
    imap: imaplib.IMAP4
    if security == "tls":
        imap = _PinnedIMAPSSL(host, port, address=address)
    else:
        imap = _PinnedIMAP(host, port, address=address)
        if security == "starttls":
            imap.starttls(ssl.create_default_context())
    try:
        imap.login(settings.REPLY_IMAP_USER, settings.REPLY_IMAP_PASSWORD)
        status, _data = imap.select(settings.REPLY_IMAP_FOLDER)
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot select {settings.REPLY_IMAP_FOLDER}")
    except BaseException:
        imap.shutdown()
        raise
    return imap


def _fetched(data: list[object]) -> dict[str, bytes]:
    """UID → raw mail from a `UID FETCH (UID BODY.PEEK[])` answer."""
    out: dict[str, bytes] = {}
    for part in data:
        if isinstance(part, tuple) and len(part) == 2 and isinstance(part[1], bytes):
            found = re.search(rb"UID (\d+)", part[0])
            if found:
                out[found.group(1).decode()] = part[1]
    return out


def mailbox_read(*, batch_size: int = BATCH_SIZE, limit: int = MAX_PER_RUN) -> ReadResult:
    """Read the reply mailbox's unseen mail into the inbox (nothing when it is not set)."""
    result = ReadResult()
    if not settings.REPLY_IMAP_HOST:
        return result
    imap = mailbox_connect()
    try:
        validity = (imap.response("UIDVALIDITY")[1] or [b""])[0]
        folder_key = f"{settings.REPLY_IMAP_FOLDER}:{validity!r}"
        status, found = imap.uid("SEARCH", "UNSEEN")
        uids = (found[0] or b"").split()[:limit] if status == "OK" else []
        for start in range(0, len(uids), batch_size):
            batch = [uid.decode() for uid in uids[start : start + batch_size]]
            status, data = imap.uid("FETCH", ",".join(batch), "(UID BODY.PEEK[])")
            if status != "OK":
                break
            for uid, raw in _fetched(data).items():
                try:
                    _one(imap, uid, raw, f"{folder_key}:{uid}", result)
                except (DomainError, ValueError, LookupError, DatabaseError):
                    # One mail we cannot take stays unseen (and is tried again next run)
                    # rather than stopping the rest.
                    log.exception("mailbox_mail_failed", extra={"uid": uid})
                    result.failed += 1
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()
    log.info(
        "mailbox_read",
        extra={
            "recorded": result.recorded,
            "duplicates": result.duplicates,
            "unknown": result.unknown,
            "skipped": result.skipped,
            "failed": result.failed,
        },
    )
    return result


def _one(imap: imaplib.IMAP4, uid: str, raw: bytes, uid_key: str, result: ReadResult) -> None:
    reply = reply_parse(raw)
    if reply.automatic or not reply.text:
        result.skipped += 1
    else:
        item, created = reply_record(reply, uid_key=uid_key)
        if not created:
            result.duplicates += 1
        elif item.conversation.customer_id is None:
            result.unknown += 1
        else:
            result.recorded += 1
    # Only now, with the item committed: a crash before this line reads the mail again and
    # finds the item by its key.
    imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
