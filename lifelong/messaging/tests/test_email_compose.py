"""The plain-text fast path writes what the email package writes: the same bytes, except a
subject that is not short ASCII, which reads back as the same text (RFC 2047).

Compared on the raw bytes a real SMTP server (a separate process) received from each path.
"""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
from collections.abc import Iterator
from email.header import decode_header, make_header
from pathlib import Path

import pytest
import time_machine
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lifelong.conftest import FROZEN_AT
from lifelong.messaging.channels.base import Outgoing
from lifelong.messaging.channels.email.transport import SmtpTransport
from lifelong.messaging.tests import smtp_sink

FROM = "shop@example.ru"
CONFIG = {"host": "127.0.0.1", "security": "none", "from_email": FROM, "timeout": 30}
ORDER = "Анна, здравствуйте!\n\nВаш заказ № 100042 принят.\n  Кофе «Эфиопия» — 2 шт.\n"
HEADER_LINE = re.compile(rb"^[^\s:]+:")

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
lines = st.lists(
    st.one_of(st.text(alphabet="abc xyz.=-", max_size=120), st.text(max_size=40)), max_size=15
).map("\n".join)


def _outgoing(**fields: object) -> Outgoing:
    values: dict[str, object] = {
        "message_id": 7,
        "channel": "email",
        "to": "anna@example.ru",
        "subject": "Заказ № 100042 принят",
        "text": ORDER,
        "reference": "<7.0123456789abcdef@example.ru>",
        **fields,
    }
    return Outgoing(**values)  # type: ignore[arg-type]


def _both(transport: SmtpTransport, message: Outgoing, from_name: str) -> tuple[bytes, bytes]:
    fast = transport._compose_plain(message, message.reference, from_name)
    slow = transport._compose_mime(message, message.reference, from_name)
    return fast, slow


def _split(raw: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if HEADER_LINE.match(line) or not fields:
            fields.append(line)
        else:
            fields[-1] += b"\r\n" + line
    return fields, body


def _assert_equivalent(fast: bytes, slow: bytes, subject: str) -> None:
    fast_fields, fast_body = _split(fast)
    slow_fields, slow_body = _split(slow)
    assert fast_body == slow_body
    assert [f for f in fast_fields if not f.startswith(b"Subject:")] == [
        f for f in slow_fields if not f.startswith(b"Subject:")
    ]
    assert [f.split(b":")[0] for f in fast_fields] == [f.split(b":")[0] for f in slow_fields]
    assert fast.isascii()
    parsed = (email.message_from_bytes(raw, policy=email.policy.default) for raw in (fast, slow))
    fast_mail, slow_mail = parsed
    # The subject the transport meant (one line); the email package's own encoding of a
    # long one can even read back with a space lost ("Длиннаятема"), ours does not.
    decoded = make_header(decode_header(email.message_from_bytes(fast)["Subject"]))
    assert str(decoded) == " ".join(subject.split())
    if "=?" not in subject:
        assert str(fast_mail["Subject"]) == str(decoded)
    assert fast_mail.get_content() == slow_mail.get_content()
    # The one header written differently keeps to RFC 5322's 78 characters a line.
    [subject_field] = [f for f in fast_fields if f.startswith(b"Subject:")]
    assert max(len(line) for line in subject_field.split(b"\r\n")) <= 78


@pytest.mark.django_db
@settings(max_examples=150)
@given(subject=text, body=st.one_of(text, lines), from_name=text, marketing=st.booleans())
@example(subject="", body="", from_name="", marketing=False)
@example(subject="Hello", body="plain\nascii", from_name="Shop", marketing=True)
@example(subject="x" * 100, body="é" * 200, from_name="Кофейня на углу", marketing=False)
@example(subject="a =?utf-8?q?b?= c", body="x\r\ny\rz\n" * 12, from_name="", marketing=False)
def test_fast_path_matches_the_email_package(subject, body, from_name, marketing):
    transport = SmtpTransport({**CONFIG, "reply_to": "help@example.ru"})
    message = _outgoing(
        subject=subject,
        text=body,
        marketing=marketing,
        unsubscribe_url="https://shop.example/c/u/abc/" if marketing else "",
    )
    name = " ".join(from_name.split())
    # Both paths read the clock for Date; a second may turn between them.
    with time_machine.travel(FROZEN_AT, tick=False):
        composed = _both(transport, message, name)
    _assert_equivalent(*composed, subject)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    out = tmp_path / "received.bin"
    process, port = smtp_sink.start(out)
    try:
        yield port, out
    finally:
        smtp_sink.stop(process)


@pytest.mark.django_db
def test_a_real_server_receives_the_same_message_either_way(sink, frozen_time):
    port, out = sink
    config = {**CONFIG, "port": port, "from_name": "Кофейня «На углу»"}
    cases = [
        _outgoing(),
        _outgoing(subject="Your order is ready", text="Hello!\n" * 30),
        _outgoing(
            subject="Длинная тема письма, " * 6,
            text=ORDER * 40,
            marketing=True,
            unsubscribe_url="https://shop.example/c/u/abc/",
        ),
        _outgoing(subject="", text=""),
    ]
    with SmtpTransport(config) as transport:
        sent = [transport.send(message).provider_id for message in cases]
    references = []
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for message in cases:
            # What the email package made of the same message, sent as it is.
            slow = SmtpTransport(config)._compose_mime(
                message, message.reference, config["from_name"]
            )
            references.append(slow)
            smtp.sendmail(FROM, [message.to], slow)
    received = smtp_sink.received(out)
    assert sent == [message.reference for message in cases], "the Message-ID claimed is sent"
    assert len(received) == 2 * len(cases)
    for fast, slow, message in zip(
        received[: len(cases)], received[len(cases) :], cases, strict=True
    ):
        _assert_equivalent(fast, slow, message.subject)
    assert received[len(cases) :] == references
    # Text-only ASCII subjects: byte for byte what the email package writes.
    assert received[1] == received[len(cases) + 1]
