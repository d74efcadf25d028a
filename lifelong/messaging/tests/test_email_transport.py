"""SMTP transport against a real local SMTP server (aiosmtpd) that records what it receives."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email
import email.policy
import ipaddress
import re
import socket
import ssl
import threading

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import example, given
from hypothesis import strategies as st

from lifelong.customers.models import Channel, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging import links
from lifelong.messaging.channels.base import Outgoing, TransportError, transport_class
from lifelong.messaging.channels.email.transport import POLICY, SmtpTransport
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Status, Suppression
from lifelong.messaging.services import message_enqueue


class Recorder:
    """aiosmtpd handler: remembers sessions and messages; some recipients are refused."""

    controller: Controller  # set by the fixture that runs it

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.sessions: list[object] = []
        self.servers: list[object] = []
        self.mail_replies: list[str] = []  # replies to MAIL FROM to give before accepting
        self.release = threading.Event()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if not any(seen is session for seen in self.sessions):
            self.sessions.append(session)
            self.servers.append(server)
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        if address.startswith("spam@"):
            return "550 5.7.1 Message refused by policy"
        if address.startswith("busy@"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if envelope.rcpt_tos[0].startswith("slow@"):
            # Answer only after the client has given up waiting.
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        self.messages.append(envelope.content)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _authenticate(server, session, envelope, mechanism, auth_data):
    valid = (auth_data.login, auth_data.password) == (b"shop", b"s3cret")
    return AuthResult(success=valid, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    recorder.controller = controller
    yield recorder
    recorder.release.set()
    controller.stop()


def _config(server: Recorder, **extra) -> dict:
    return {
        "host": "127.0.0.1",
        "port": server.controller.port,
        "security": "none",
        "from_email": "shop@example.ru",
        "from_name": "Магазин «Ромашка»",
        "timeout": 30,  # generous: a loaded test machine is not a slow server
        **extra,
    }


def _outgoing(to: str = "anna@example.ru", **fields) -> Outgoing:
    values = {
        "message_id": 1,
        "channel": "email",
        "to": to,
        "subject": "Спасибо за заказ, Анна!",
        "text": "Ваш заказ №42 собран.",
        "html": "<p>Ваш заказ <b>№42</b> собран.</p>",
        **fields,
    }
    return Outgoing(**values)


def _parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _raw_header(raw: bytes, name: bytes) -> bytes:
    """One header exactly as it crossed the wire, continuation lines (CRLF + space) included."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    [match] = re.findall(rb"^" + name + rb": [^\r\n]*(?:\r\n[ \t][^\r\n]*)*", head, re.MULTILINE)
    return match


# As long as a real signed unsubscribe link: far past the 78 characters of a folded line.
LONG_URL = "https://retention.shop.example/c/u/" + "IjEyMzQ1NjplbWFpbCI:1xZmL8:" + "b0nF" * 20 + "/"


def test_message_is_utf8_multipart_with_message_id(smtp_server):
    with SmtpTransport(_config(smtp_server, reply_to="help@example.ru")) as transport:
        result = transport.send(_outgoing())

    [raw] = smtp_server.messages
    assert raw.isascii()  # everything non-ASCII is encoded for 7-bit transport
    mail = _parsed(raw)
    assert mail["Subject"] == "Спасибо за заказ, Анна!"
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Магазин «Ромашка»", "shop@example.ru")
    assert mail["Reply-To"] == "help@example.ru"
    assert mail["Message-ID"] == result.provider_id
    assert result.provider_id.endswith("@example.ru>")
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().strip() == "Ваш заказ №42 собран."
    assert mail.get_body(("html",)).get_content().strip() == "<p>Ваш заказ <b>№42</b> собран.</p>"
    assert "List-Unsubscribe" not in mail


def test_text_only_message_is_not_multipart(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport:
        transport.send(_outgoing(html="", subject="Line one\nBcc: evil@example.com"))

    mail = _parsed(smtp_server.messages[0])
    assert mail.get_content_type() == "text/plain"
    assert mail["Subject"] == "Line one Bcc: evil@example.com"
    assert "Bcc" not in mail


def test_marketing_mail_carries_one_click_unsubscribe(smtp_server):
    url = "https://lifelong.example/u/abc/"
    with SmtpTransport(_config(smtp_server)) as transport:
        transport.send(_outgoing(marketing=True, unsubscribe_url=url))
        transport.send(_outgoing(marketing=False, unsubscribe_url=url))

    marketing, transactional = (_parsed(raw) for raw in smtp_server.messages)
    assert marketing["List-Unsubscribe"] == f"<{url}>"
    assert marketing["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "List-Unsubscribe" not in transactional
    assert "List-Unsubscribe-Post" not in transactional


def test_list_unsubscribe_goes_out_as_a_literal_uri_not_encoded_words(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport:
        transport.send(_outgoing(marketing=True, unsubscribe_url=LONG_URL, unsubscribe_token="t"))

    [raw] = smtp_server.messages
    assert _raw_header(raw, b"List-Unsubscribe") == f"List-Unsubscribe: <{LONG_URL}>".encode()
    assert _raw_header(raw, b"List-Unsubscribe-Post") == (
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    )


def test_unsubscribe_mailbox_adds_a_mailto_folded_only_after_the_comma(smtp_server):
    config = _config(smtp_server, unsubscribe_mailbox="unsubscribe@пример.рф")
    token = "IjEyMzQ1NjplbWFpbCI:1xZmL8:b0nFcDgDtYdws402rNMhkI8bgJmKAwVwUiJ2320Q-WQ"
    with SmtpTransport(config) as transport:
        transport.send(_outgoing(marketing=True, unsubscribe_url=LONG_URL, unsubscribe_token=token))

    [raw] = smtp_server.messages
    assert (
        _raw_header(raw, b"List-Unsubscribe")
        == (
            f"List-Unsubscribe: <{LONG_URL}>,\r\n"
            f" <mailto:unsubscribe@xn--e1afmkfd.xn--p1ai?subject=unsubscribe-{token}>"
        ).encode()
    )
    assert _parsed(raw)["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_unsubscribe_mailbox_must_be_a_plain_address(smtp_server):
    for bad in ("Shop <unsubscribe@example.ru>", "u@example.ru?cc=x@example.ru", "nobody"):
        with pytest.raises(TransportError) as refused:
            SmtpTransport(_config(smtp_server, unsubscribe_mailbox=bad))
        assert refused.value.permanent and "unsubscribe_mailbox" in str(refused.value)


@given(
    url_tail=st.text(alphabet=st.sampled_from("abcXYZ0189-._~:/?=&%"), min_size=1, max_size=900),
    with_mailto=st.booleans(),
)
@example(url_tail="=?utf-8?q?x?=/", with_mailto=True)  # looks like an encoded-word
def test_list_unsubscribe_lines_break_only_after_a_comma(url_tail, with_mailto):
    url = f"https://s.example/{url_tail}"
    uris = [f"<{url}>"] + (["<mailto:u@s.example?subject=unsubscribe-x>"] if with_mailto else [])
    mail = email.message.EmailMessage(policy=POLICY)
    mail["List-Unsubscribe"] = ", ".join(uris)
    mail.set_content("x")

    header = _raw_header(mail.as_bytes(), b"List-Unsubscribe")
    lines = header.split(b"\r\n")
    assert [line.lstrip(b" ").removeprefix(b"List-Unsubscribe: ") for line in lines] == [
        f"{uri}{',' if n < len(uris) - 1 else ''}".encode() for n, uri in enumerate(uris)
    ]
    assert all(len(line) <= 998 for line in lines)


def test_one_connection_carries_several_messages(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport:
        for n in range(3):
            transport.send(_outgoing(to=f"customer{n}@example.ru", message_id=n))

    assert len(smtp_server.messages) == 3
    assert len(smtp_server.sessions) == 1


def test_dropped_idle_connection_is_reopened_once(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport:
        transport.send(_outgoing())

        async def hang_up():
            for server in smtp_server.servers:
                server.transport.close()
            await asyncio.sleep(0.05)

        asyncio.run_coroutine_threadsafe(hang_up(), smtp_server.controller.loop).result(5)
        transport.send(_outgoing())

    assert len(smtp_server.messages) == 2
    assert len(smtp_server.sessions) == 2


def test_421_on_a_reused_connection_reconnects(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport:
        transport.send(_outgoing())
        smtp_server.mail_replies.append("421 4.4.2 Idle timeout, closing")
        transport.send(_outgoing())

    assert len(smtp_server.messages) == 2
    assert len(smtp_server.sessions) == 2


def test_unknown_mailbox_is_a_bounce_and_the_connection_stays_usable(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport:
        with pytest.raises(TransportError) as refused:
            transport.send(_outgoing(to="gone@example.ru"))
        transport.send(_outgoing())

    assert refused.value.bounce and refused.value.permanent
    assert not refused.value.may_have_sent
    assert "550" in str(refused.value)
    assert len(smtp_server.messages) == 1
    assert len(smtp_server.sessions) == 1


def test_policy_block_is_permanent_but_not_a_bounce(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport, pytest.raises(TransportError) as refused:
        transport.send(_outgoing(to="spam@example.ru"))

    assert refused.value.permanent
    assert not refused.value.bounce


def test_temporary_refusal_is_transient(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport, pytest.raises(TransportError) as refused:
        transport.send(_outgoing(to="busy@example.ru"))

    error = refused.value
    assert "451" in str(error)
    assert not (error.permanent or error.bounce or error.may_have_sent)


def test_no_server_is_transient():
    config = {"host": "127.0.0.1", "port": _free_port(), "security": "none", "from_email": "a@b.ru"}
    with SmtpTransport(config) as transport, pytest.raises(TransportError) as refused:
        transport.send(_outgoing())

    assert not (refused.value.permanent or refused.value.may_have_sent)


def test_timeout_after_data_may_have_sent(smtp_server):
    transport = SmtpTransport(_config(smtp_server, timeout=0.5))
    with pytest.raises(TransportError) as lost:
        transport.send(_outgoing(to="slow@example.ru"))
    smtp_server.release.set()
    transport.close()

    assert lost.value.may_have_sent
    assert not lost.value.permanent


def test_login(smtp_server):
    with SmtpTransport(_config(smtp_server, username="shop", password="s3cret")) as transport:
        transport.send(_outgoing())
    assert len(smtp_server.messages) == 1

    wrong = SmtpTransport(_config(smtp_server, username="shop", password="nope"))
    with pytest.raises(TransportError) as refused:
        wrong.send(_outgoing())
    assert refused.value.permanent and not refused.value.bounce


def test_international_domain_is_sent_as_punycode(smtp_server):
    with SmtpTransport(_config(smtp_server)) as transport:
        transport.send(_outgoing(to="anna@пример.рф"))

    assert _parsed(smtp_server.messages[0])["To"] == "anna@xn--e1afmkfd.xn--p1ai"


def test_dkim_signature_verifies(smtp_server):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"mail2026._domainkey.example.ru." else b""

    config = _config(
        smtp_server,
        dkim_selector="mail2026",
        dkim_domain="example.ru",
        dkim_private_key=private_pem,
        unsubscribe_mailbox="unsubscribe@example.ru",
    )
    with SmtpTransport(config) as transport:
        transport.send(_outgoing(marketing=True, unsubscribe_url=LONG_URL, unsubscribe_token="t1"))

    [raw] = smtp_server.messages
    # The signature covers the header as sent: literal, folded after the comma.
    assert (
        _raw_header(raw, b"List-Unsubscribe")
        == (
            f"List-Unsubscribe: <{LONG_URL}>,\r\n"
            " <mailto:unsubscribe@example.ru?subject=unsubscribe-t1>"
        ).encode()
    )
    assert dkim.verify(raw, dnsfunc=dns)
    signed = _parsed(raw)["DKIM-Signature"].replace(" ", "")
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(
        signed.split("h=")[1].split(";")[0].split(":")
    )
    assert not dkim.verify(raw + b"P.S. added on the way\r\n", dnsfunc=dns)
    tampered = raw.replace(b"Subject:", b"Subject: Re:")
    assert not dkim.verify(tampered, dnsfunc=dns)
    redirected = raw.replace(b"<https://retention.shop.example/", b"<https://evil.example/")
    assert not dkim.verify(redirected, dnsfunc=dns)


def test_bad_security_setting_is_rejected():
    with pytest.raises(TransportError) as bad:
        SmtpTransport({"host": "h", "from_email": "a@b.ru", "security": "tls"})
    assert bad.value.permanent


def test_registered_as_smtp():
    assert transport_class("smtp") is SmtpTransport


def test_marketing_email_end_to_end(smtp_server, frozen_time, db):
    customer = CustomerFactory.create(email="anna@example.ru")
    consent_record(
        customer=customer,
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        granted=True,
        source="test",
    )
    config = _config(smtp_server, unsubscribe_mailbox="unsubscribe@example.ru")
    ChannelConfig.objects.create(channel="email", transport="smtp", config=config)
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="spring-sale:anna",
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        subject="Весенняя распродажа",
        text="Скидка 20% до воскресенья.",
        html="<p>Скидка <b>20%</b> до воскресенья.</p>",
    )

    assert dispatch_due() == 1

    message.refresh_from_db()
    assert message.status == Status.SENT
    [raw] = smtp_server.messages
    mail = _parsed(raw)
    assert mail["To"] == "anna@example.ru"
    assert mail["Subject"] == "Весенняя распродажа"
    assert mail["Message-ID"] == message.provider_id
    url = links.unsubscribe_url(customer_id=customer.pk, channel="email")
    token = links.unsubscribe_token(customer_id=customer.pk, channel="email")
    assert (
        _raw_header(raw, b"List-Unsubscribe")
        == (
            f"List-Unsubscribe: <{url}>,\r\n"
            f" <mailto:unsubscribe@example.ru?subject=unsubscribe-{token}>"
        ).encode()
    )
    assert _raw_header(raw, b"List-Unsubscribe-Post") == (
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    )


def test_bounce_end_to_end_suppresses_the_address(smtp_server, frozen_time, db):
    customer = CustomerFactory.create(email="gone@example.ru")
    ChannelConfig.objects.create(channel="email", transport="smtp", config=_config(smtp_server))
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="receipt:gone",
        channel=Channel.EMAIL,
        purpose=Purpose.TRANSACTIONAL,
        subject="Чек",
        text="Спасибо!",
    )

    assert dispatch_due() == 0

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert Suppression.objects.filter(channel="email", address="gone@example.ru").exists()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_connections_verify_the_certificate(tls_files, monkeypatch, security):
    cert_file, key_file = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    recorder = Recorder()
    tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=_free_port(),
        **(tls if security == "starttls" else {"ssl_context": context}),
    )
    controller.start()
    recorder.controller = controller
    try:
        untrusted = SmtpTransport(_config(recorder, security=security))
        with pytest.raises(TransportError) as refused:
            untrusted.send(_outgoing())
        assert refused.value.permanent and not refused.value.bounce

        # The test certificate stands in for the public CAs the real check uses.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        with SmtpTransport(_config(recorder, security=security)) as transport:
            transport.send(_outgoing())
    finally:
        controller.stop()

    assert _parsed(recorder.messages[0])["Subject"] == "Спасибо за заказ, Анна!"
