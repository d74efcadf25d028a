"""Email replies read over IMAP from a real dovecot into the conversations inbox.

The dovecot fixture starts Debian's dovecot on a free port of 127.0.0.1 with a throwaway
configuration (a Maildir in a temporary directory, one user in a passwd-file, plain text
login); mail is put there with IMAP APPEND, as a mail server would deliver it, and our
email was really sent through the SMTP transport first, so the reply refers to the
Message-ID that went out.
"""

from __future__ import annotations

import email.policy
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifelong.customers.models import Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.feedback.mailbox import mailbox_read, reply_parse, reply_text
from lifelong.feedback.models import Conversation, Item
from lifelong.lib.outbound import OutboundRefused
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.tests.test_email_transport import _config, smtp_server  # noqa: F401

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
USER, PASSWORD = "replies", "secret-pass"

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
default_internal_user = {user}
default_login_user = {user}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dovecot(settings):
    if DOVECOT is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)")
    # Not pytest's tmp_path: its parent is private to us, and dovecot's processes must reach it.
    with tempfile.TemporaryDirectory(prefix="lifelong-dovecot-") as tmp:
        yield from _dovecot(Path(tmp), settings, tls=False)


@pytest.fixture
def dovecot_tls(settings, monkeypatch):
    """Dovecot with a self-signed certificate for `localhost`, which the process trusts
    (OpenSSL's SSL_CERT_FILE); yields (plain port, implicit TLS port)."""
    if DOVECOT is None:
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)")
    with tempfile.TemporaryDirectory(prefix="lifelong-dovecot-") as tmp:
        monkeypatch.setenv("SSL_CERT_FILE", str(Path(tmp) / "dovecot" / "cert.pem"))
        yield from _dovecot(Path(tmp), settings, tls=True)


def _certificate(root: Path) -> str:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem"


def _dovecot(tmp_path: Path, settings, *, tls: bool):
    root = tmp_path / "dovecot"
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True)
    ssl_config = _certificate(root) if tls else "ssl = no"
    # Dovecot's processes drop to an unprivileged user when started as root.
    account = pwd.getpwnam("dovecot") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
    for path in (tmp_path, root, root / "mail", root / "home", root / "state"):
        os.chown(path, account.pw_uid, account.pw_gid)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port, tls_port = _free_port(), _free_port()
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            port=port,
            tls_port=tls_port if tls else 0,
            ssl=ssl_config,
            user=account.pw_name,
            uid=account.pw_uid,
            gid=account.pw_gid,
        )
    )
    assert DOVECOT is not None
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            log = root / "dovecot.log"
            pytest.fail(f"dovecot did not listen: {log.read_text() if log.exists() else ''}")
        settings.REPLY_IMAP_HOST = "127.0.0.1"
        settings.REPLY_IMAP_PORT = port
        settings.REPLY_IMAP_USER = USER
        settings.REPLY_IMAP_PASSWORD = PASSWORD
        settings.REPLY_IMAP_SECURITY = "none"
        settings.REPLY_IMAP_FOLDER = "INBOX"
        settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)
        yield (port, tls_port) if tls else port
    finally:
        process.terminate()
        process.wait(10)


def deliver(port: int, raw: bytes) -> None:
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(USER, PASSWORD)
    # No flags and no date: the server gives it \Recent and now, as a delivery would.
    answer = imap.append("INBOX", "", "", raw)
    assert answer[0] == "OK"
    imap.logout()


def unseen(port: int) -> list[bytes]:
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(USER, PASSWORD)
    imap.select("INBOX", readonly=True)
    _status, data = imap.uid("SEARCH", "UNSEEN")
    imap.logout()
    return (data[0] or b"").split()


def mail(
    *, sender: str, text: str, message_id: str, in_reply_to: str = "", **headers: str
) -> bytes:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = "replies@lavka.example"
    message["Subject"] = "Re: Как вам заказ?"
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message.as_bytes()


QUOTED = """Курьер опоздал на два часа, а так всё хорошо.
Спасибо!

пт, 4 дек. 2026 г. в 12:00, Лавка <shop@lavka.example>:
> Здравствуйте, Анна! Как вам заказ?
> Ответ прочитает живой человек — просто ответьте.
"""


def test_a_reply_lands_in_the_conversation_of_the_customer_it_answers_once(
    frozen_time,
    db,
    dovecot,
    smtp_server,  # noqa: F811
):
    ChannelConfig.objects.create(channel="email", transport="smtp", config=_config(smtp_server))
    # The From address is not the one on the card: the match is by the Message-ID we sent.
    anna = CustomerFactory.create(email="anna@example.ru")
    CustomerFactory.create(email="someone@example.ru")
    ours, _created = message_enqueue(
        customer=anna,
        dedupe_key="survey-invite-1",
        channel="email",
        purpose=Purpose.TRANSACTIONAL,
        subject="Как вам заказ?",
        text="Ответ прочитает живой человек — просто ответьте.",
    )
    assert dispatch_due() == 1
    ours.refresh_from_db()
    assert ours.provider_id.startswith("<")

    deliver(
        dovecot,
        mail(
            sender="Анна <anna.work@corp.example>",
            text=QUOTED,
            message_id="<r1@corp.example>",
            in_reply_to=ours.provider_id,
        ),
    )
    result = mailbox_read()

    assert (result.recorded, result.duplicates, result.unknown, result.skipped) == (1, 0, 0, 0)
    item = Item.objects.get()
    assert item.conversation.customer == anna
    assert item.text == "Курьер опоздал на два часа, а так всё хорошо.\nСпасибо!"
    assert (item.channel, item.message_id, item.external_id) == (
        "email",
        ours.pk,
        "<r1@corp.example>",
    )
    assert "delivery" in item.themes
    event = Event.objects.get(type="message_replied")
    assert event.customer_id == anna.pk
    assert event.properties["message_id"] == ours.pk
    assert unseen(dovecot) == []

    # The same mail again (seen flag lost, or delivered twice) records nothing new.
    deliver(
        dovecot,
        mail(
            sender="Анна <anna.work@corp.example>",
            text=QUOTED,
            message_id="<r1@corp.example>",
            in_reply_to=ours.provider_id,
        ),
    )
    again = mailbox_read()
    assert (again.recorded, again.duplicates) == (0, 1)
    assert mailbox_read().duplicates == 0  # nothing unseen is left
    assert Item.objects.count() == 1
    assert Event.objects.filter(type="message_replied").count() == 1


def test_by_from_address_unknown_senders_and_automatic_mail(frozen_time, db, dovecot):
    boris = CustomerFactory.create(email="boris@example.ru")
    deliver(
        dovecot,
        mail(sender="Boris@Example.RU", text="Где мой заказ?\n-- \nБорис", message_id="<b1@x>"),
    )
    deliver(
        dovecot,
        mail(sender="stranger@example.org", text="Вы продаёте оптом?", message_id="<s1@x>"),
    )
    deliver(
        dovecot,
        mail(
            sender="anna@example.ru",
            text="Я в отпуске до понедельника.",
            message_id="<auto@x>",
            Auto_Submitted="auto-replied",
        ),
    )

    result = mailbox_read()

    assert (result.recorded, result.unknown, result.skipped) == (1, 1, 1)
    mine = Item.objects.get(conversation__customer=boris)
    assert mine.text == "Где мой заказ?"
    stranger = Item.objects.get(conversation__customer=None)
    assert stranger.author == "stranger@example.org"
    assert stranger.text == "Вы продаёте оптом?"
    assert Conversation.objects.count() == 2
    assert unseen(dovecot) == []


def test_implicit_tls_and_starttls_verify_the_server_name(frozen_time, db, dovecot_tls, settings):
    plain, implicit = dovecot_tls
    CustomerFactory.create(email="vera@example.ru")
    settings.REPLY_IMAP_HOST = "localhost"

    deliver(plain, mail(sender="vera@example.ru", text="Спасибо за букет", message_id="<v1@x>"))
    settings.REPLY_IMAP_SECURITY, settings.REPLY_IMAP_PORT = "tls", implicit
    assert mailbox_read().recorded == 1

    deliver(plain, mail(sender="vera@example.ru", text="И за открытку", message_id="<v2@x>"))
    settings.REPLY_IMAP_SECURITY, settings.REPLY_IMAP_PORT = "starttls", plain
    assert mailbox_read().recorded == 1
    assert Item.objects.count() == 2

    # The certificate names localhost, not 127.0.0.1: the name is checked, not only the chain.
    settings.REPLY_IMAP_HOST = "127.0.0.1"
    settings.REPLY_IMAP_SECURITY, settings.REPLY_IMAP_PORT = "tls", implicit
    with pytest.raises(ssl.SSLCertVerificationError):
        mailbox_read()


def test_a_private_server_is_refused_unless_allowed(db, settings):
    settings.REPLY_IMAP_HOST = "127.0.0.1"
    settings.REPLY_IMAP_PORT = 1
    settings.OUTBOUND_ALLOWED_NETWORKS = ()
    with pytest.raises(OutboundRefused):
        mailbox_read()


def test_nothing_happens_without_a_mailbox(db, settings):
    settings.REPLY_IMAP_HOST = ""
    assert mailbox_read().recorded == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Всё отлично\n\nOn Fri, 4 Dec 2026 at 12:00, Lavka <shop@lavka.example> wrote:\n> Hi",
            "Всё отлично",
        ),
        ("Спасибо\n\n04.12.2026, 12:00, Лавка написал(а):\n> Привет", "Спасибо"),
        (
            "Спасибо\nOn Fri, 4 Dec 2026 at 12:00, Lavka\n<shop@lavka.example> wrote:\n> Hi",
            "Спасибо",
        ),
        ("> цитата\nОтвет под цитатой", "Ответ под цитатой"),
        ("Коротко\n\nОтправлено с iPhone", "Коротко"),
        ("Да\n-----Original Message-----\nFrom: shop", "Да"),
    ],
)
def test_reply_text_keeps_what_the_customer_wrote(body, expected):
    assert reply_text(body) == expected


def test_an_html_only_reply_is_read_as_text():
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = "a@example.ru"
    message["Message-ID"] = "<h@x>"
    message.set_content("<p>Доставка&nbsp;быстрая</p><div>Спасибо</div>", subtype="html")
    assert reply_parse(message.as_bytes()).text == "Доставка\xa0быстрая\nСпасибо"


@given(st.lists(st.text(alphabet="> -:@<abcОнwrote написал(а)1209,.\t", max_size=30), max_size=12))
def test_reply_text_keeps_only_unquoted_lines_of_the_mail_in_order(lines):
    body = "\n".join(lines)
    kept = reply_text(body).split("\n")
    assert not any(line.strip().startswith(">") for line in kept)
    source = iter(line.strip() for line in body.split("\n"))
    # Each kept line is a line of the mail, in the mail's order (the text as a whole is
    # stripped, so the first line may lose its indent).
    assert all(any(line.strip() == other for other in source) for line in kept if line)
