"""Email over SMTP: one connection per batch, optional DKIM, RFC 8058 one-click unsubscribe.

Where a failure happened decides what it means. Before DATA nothing has left: a refusal
is final (5xx, with a dead mailbox a bounce) or temporary (4xx, lost connection). Once
the message is on the wire, a missing answer means the server may have taken it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
import smtplib
import ssl
from collections.abc import Mapping
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime, make_msgid
from typing import Any, ClassVar
from urllib.parse import quote

import dkim
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.customers.models import Channel
from lifelong.messaging.channels.base import (
    CHOICE,
    EMAIL,
    INT,
    SECRET,
    Outgoing,
    SendResult,
    Setting,
    Transport,
    TransportError,
    register,
)
from lifelong.messaging.channels.email import compose


class UriListHeader(UnstructuredHeader, BaseHeader):
    """An RFC 2369 header (`List-Unsubscribe: <https://…>, <mailto:…>`), sent as it is.

    The email package takes an unknown header for text and, past 78 characters, sends it
    as RFC 2047 encoded-words, which no mail client reads as a URI. A URI holds no spaces,
    so the one place to fold is after a comma; a single URI's line stays under the hard
    limit (MAX_LINE), which the transport checks before composing.
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        super().parse(value, kwds)
        kwds["decoded"] = value  # a URI is not text: nothing in it reads as an encoded-word

    def fold(self, *, policy: Policy) -> str:
        uris = str(self).split(", ")
        return f"{self.name}: {(',' + policy.linesep + ' ').join(uris)}{policy.linesep}"


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", UriListHeader)
# 7bit: bodies become quoted-printable or base64, so no server needs 8BITMIME.
POLICY = SMTP.clone(cte_type="7bit", header_factory=_HEADERS)
# RFC 5322: a header line, CRLF aside, is at most 998 characters.
MAX_LINE = 998
# An address that goes into a mailto: URI untouched (no name, no query, no spaces).
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+")
PORTS = {"none": 25, "starttls": 587, "ssl": 465}
# Replies to RCPT that say the mailbox does not exist (or never will).
MAILBOX_GONE = (550, 551, 553)
DKIM_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


class _Dropped(TransportError):
    """The connection closed before the message was sent (temporary)."""


@register
class SmtpTransport(Transport):
    name = "smtp"
    channels: ClassVar[tuple[str, ...]] = (Channel.EMAIL.value,)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("host", _("SMTP server"), required=True, example="smtp.yandex.ru"),
        Setting(
            "security",
            _("Encryption"),
            kind=CHOICE,
            choices=(
                ("starttls", _("STARTTLS (port 587)")),
                ("ssl", _("SSL/TLS (port 465)")),
                ("none", _("None (port 25, only inside your own network)")),
            ),
        ),
        Setting("port", _("Port"), _("Empty: the encryption's usual port."), kind=INT),
        Setting(
            "username",
            _("Login"),
            _("Usually the full mailbox address."),
            example="shop@yandex.ru",
        ),
        Setting(
            "password",
            _("Password"),
            _("Yandex, Mail.ru and Gmail want an app password from the account's security page."),
            kind=SECRET,
        ),
        Setting(
            "from_email", _("From address"), kind=EMAIL, required=True, example="hello@shop.ru"
        ),
        Setting("from_name", _("From name"), example="Йога-лавка"),
        Setting(
            "reply_to",
            _("Reply-To address"),
            _("Where replies go, if not to the From address."),
            kind=EMAIL,
        ),
        Setting(
            "unsubscribe_mailbox",
            _("Unsubscribe mailbox"),
            _("A mailbox you read, offered to mail clients as a second way to unsubscribe."),
            kind=EMAIL,
        ),
        Setting("dkim_domain", _("DKIM domain"), example="shop.ru"),
        Setting("dkim_selector", _("DKIM selector"), example="mail"),
        Setting(
            "dkim_private_key",
            _("DKIM private key"),
            _("PEM; its public key goes in DNS at <selector>._domainkey.<domain>."),
            kind=SECRET,
            multiline=True,
        ),
    )
    destinations = ("host", "port", "security")

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.security = config.get("security") or "starttls"
        if self.security not in PORTS:
            raise TransportError(
                f"smtp: security must be one of {', '.join(PORTS)}", permanent=True
            )
        self.from_email = _ascii_address(config["from_email"])
        # Optional: a mailbox the owner reads, offered as the `mailto:` way to unsubscribe.
        self.unsubscribe_mailbox = ""
        if config.get("unsubscribe_mailbox"):
            mailbox = _ascii_address(str(config["unsubscribe_mailbox"]))
            if not PLAIN_ADDRESS.fullmatch(mailbox):
                raise TransportError(
                    f"smtp: unsubscribe_mailbox must be a plain address, not {mailbox!r}",
                    permanent=True,
                )
            self.unsubscribe_mailbox = mailbox
        self.reply_to = (
            compose.header(POLICY, "Reply-To", config["reply_to"])
            if config.get("reply_to")
            else b""
        )
        self._heads: dict[str, bytes] = {}
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: Outgoing) -> SendResult:
        message_id, raw = self._compose(message)
        smtp = self._envelope(_ascii_address(message.to))
        try:
            smtp.data(raw)
        except smtplib.SMTPResponseException as exc:
            self._rset()
            raise _refused(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TransportError(
                f"smtp: no answer after the message was sent: {exc}", may_have_sent=True
            ) from exc
        return SendResult(provider_id=message_id)

    def close(self) -> None:
        if self._smtp is not None:
            # The server may have hung up first; nothing is pending either way.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._drop()

    @classmethod
    def reference_new(cls, config: Mapping[str, Any], message_id: int) -> str:
        domain = _id_domain(str(config.get("from_email", "")))
        # The row id first: whoever reads the mail log can tell which message it was.
        return f"<{message_id}.{secrets.token_hex(8)}@{domain}>" if domain else ""

    def _compose(self, message: Outgoing) -> tuple[str, bytes]:
        message_id = message.reference or make_msgid(domain=self.from_email.rpartition("@")[2])
        # A template may send as the customer's personal manager (`from_name` in the payload).
        from_name = str(message.payload.get("from_name") or self.config.get("from_name") or "")
        from_name = " ".join(from_name.split())
        if message.html or message.headers:
            raw = self._compose_mime(message, message_id, from_name)
        else:
            raw = self._compose_plain(message, message_id, from_name)
        if self.config.get("dkim_private_key"):
            raw = self._dkim_sign(raw)
        return message_id, raw

    def _compose_plain(self, message: Outgoing, message_id: str, from_name: str) -> bytes:
        """The bytes `_compose_mime` writes for a text-only message, without the email
        package's parser (compose.py says where they may differ)."""
        head = self._heads.get(from_name)
        if head is None:
            # The same for every message from this sender: built once, the email package's way.
            head = compose.header(POLICY, "From", Address(from_name, addr_spec=self.from_email))
            self._heads[from_name] = head
        parts = [
            f"Message-ID: {message_id}\r\nDate: {format_datetime(clock.now())}\r\n".encode(),
            head,
            compose.to_line(POLICY, _ascii_address(message.to)),
        ]
        if self.reply_to:
            parts.append(self.reply_to)
        parts.append(compose.subject_line(POLICY, " ".join(message.subject.split())))
        if message.marketing and message.unsubscribe_url:
            uris = ",\r\n ".join(f"<{uri}>" for uri in self._unsubscribe_uris(message))
            parts.append(f"List-Unsubscribe: {uris}\r\n".encode("ascii"))
            parts.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        cte, body = compose.text_body(message.text)
        parts += [compose.mime_tail(cte), body]
        return b"".join(parts)

    def _compose_mime(self, message: Outgoing, message_id: str, from_name: str) -> bytes:
        config = self.config
        mail = EmailMessage(policy=POLICY)
        mail["Message-ID"] = message_id
        mail["Date"] = format_datetime(clock.now())
        mail["From"] = Address(from_name, addr_spec=self.from_email)
        mail["To"] = _ascii_address(message.to)
        if config.get("reply_to"):
            mail["Reply-To"] = config["reply_to"]
        # A line break in a subject would end the header: keep it one line.
        mail["Subject"] = " ".join(message.subject.split())
        if message.marketing and message.unsubscribe_url:
            mail["List-Unsubscribe"] = ", ".join(
                f"<{uri}>" for uri in self._unsubscribe_uris(message)
            )
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        for name, value in message.headers.items():
            mail[name] = value
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail.as_bytes()

    def _unsubscribe_uris(self, message: Outgoing) -> list[str]:
        uris = [message.unsubscribe_url]
        if self.unsubscribe_mailbox and message.unsubscribe_token:
            subject = quote(f"unsubscribe-{message.unsubscribe_token}", safe=":")
            uris.append(f"mailto:{self.unsubscribe_mailbox}?subject={subject}")
        for uri in uris:
            if not uri.isascii() or " " in uri or len(f"List-Unsubscribe: <{uri}>,") > MAX_LINE:
                raise TransportError(
                    f"smtp: unsubscribe link cannot be sent: {uri!r}", permanent=True
                )
        return uris

    def _dkim_sign(self, raw: bytes) -> bytes:
        config = self.config
        try:
            signature = dkim.sign(
                raw,
                str(config["dkim_selector"]).encode(),
                str(config["dkim_domain"]).encode(),
                str(config["dkim_private_key"]).encode(),
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=list(DKIM_HEADERS),
            )
        except (KeyError, dkim.DKIMException) as exc:
            raise TransportError(f"smtp: DKIM signing failed: {exc!r}", permanent=True) from exc
        return bytes(signature) + raw

    def _envelope(self, to: str) -> smtplib.SMTP:
        reused = self._smtp is not None
        try:
            return self._mail_rcpt(to)
        except _Dropped:
            if not reused:
                raise
            # Servers close idle connections between sends; one fresh connection is fair.
            return self._mail_rcpt(to)

    def _mail_rcpt(self, to: str) -> smtplib.SMTP:
        smtp = self._smtp = self._smtp or self._connect()
        try:
            code, reply = smtp.mail(self.from_email)
            recipient = code == 250
            if recipient:
                code, reply = smtp.rcpt(to)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise _Dropped(f"smtp: connection lost: {exc}") from exc
        if code in (250, 251):
            return smtp
        if code == 421:  # the server is closing the connection (an idle timeout, say)
            self._drop()
            raise _Dropped(f"smtp: {code} {_text(reply)}")
        self._rset()
        raise _refused(code, reply, recipient=recipient)

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        host, timeout = config["host"], float(config.get("timeout") or 30)
        port = int(config.get("port") or PORTS[self.security])
        # Building a verifying context costs ~0.1 s (it loads the CA store): only for TLS.
        context = ssl.create_default_context() if self.security != "none" else None
        try:
            if self.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            try:
                smtp.ehlo()
                if self.security == "starttls":
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if config.get("username"):
                    smtp.login(config["username"], config.get("password") or "")
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPResponseException as exc:
            raise _refused(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
            raise TransportError(f"smtp: {host}:{port}: {exc}", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"smtp: cannot connect to {host}:{port}: {exc}") from exc
        return smtp

    def _rset(self) -> None:
        """Abandon the refused transaction so the connection can carry the next message."""
        if self._smtp is not None:
            try:
                self._smtp.rset()
            except (smtplib.SMTPException, OSError):
                self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


def _refused(code: int, reply: bytes | str, *, recipient: bool = False) -> TransportError:
    text = _text(reply)
    error = f"smtp: {code} {text}"
    if code < 500:
        return TransportError(error)
    # "550 5.7.1" is a policy block (spam, reputation), not a dead mailbox.
    bounce = recipient and code in MAILBOX_GONE and not text.startswith("5.7.")
    return TransportError(error, permanent=True, bounce=bounce)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


@functools.lru_cache(maxsize=16)
def _id_domain(from_email: str) -> str:
    """The From address's domain as ASCII, for Message-IDs ("" when it has none: the send
    fails on that address, with the reason)."""
    domain = from_email.rpartition("@")[2].strip()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def _ascii_address(address: str) -> str:
    """user@пример.рф -> user@xn--e1afmkfd.xn--p1ai; a non-ASCII mailbox name cannot be sent."""
    local, _, domain = address.strip().rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise TransportError(f"smtp: bad domain in {address!r}", permanent=True) from None
    if not local.isascii():
        raise TransportError(f"smtp: {address!r} needs SMTPUTF8", permanent=True)
    return f"{local}@{domain}"
