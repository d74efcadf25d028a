"""Plain-text email composed without the email package's header parser and generator.

The email package costs about 2 ms a message, most of it parsing and refolding headers we
wrote ourselves. For a text-only message this module writes the same bytes (headers in
the same order, bodies encoded with the same rules) with string formatting. The one
difference: a subject that is not short ASCII becomes RFC 2047 base64 encoded-words cut
at character boundaries, where the email package cuts elsewhere; a reader decodes both
to the same text. Anything unusual (an HTML part, thread headers, a long ASCII subject)
goes the email package's way; lifelong/messaging/tests/test_email_compose.py holds the two
paths to that, on the raw bytes a real SMTP server received.
"""

from __future__ import annotations

import base64
import binascii
import re
from email import quoprimime
from email.message import EmailMessage
from email.policy import EmailPolicy

# RFC 5322 wants header lines at most 78 characters; the email package folds at that.
LINE = 78
# An encoded-word "=?utf-8?b?...?=" of 39 bytes of text is 64 characters: after
# "Subject: " the first line stays within 78.
WORD_BYTES = 39
PRINTABLE = re.compile(r"[\x20-\x7e]*")
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+")
TAIL = 'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'


def header(policy: EmailPolicy[EmailMessage], name: str, value: object) -> bytes:
    """One header as the email package writes it (for values reused across messages)."""
    return policy.fold_binary(name, policy.header_factory(name, value))


def subject_line(policy: EmailPolicy[EmailMessage], subject: str) -> bytes:
    if not subject:
        return b"Subject:\r\n"
    line = f"Subject: {subject}"
    # Text that looks like an encoded-word is encoded, or a reader would decode it.
    if PRINTABLE.fullmatch(subject) and "=?" not in subject:
        if len(line) <= LINE:
            return f"{line}\r\n".encode("ascii")
        return header(policy, "Subject", subject)  # folded at spaces, as a reader expects
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in subject:
        width = len(char.encode())
        if size + width > WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    encoded = [f"=?utf-8?b?{base64.b64encode(word.encode()).decode('ascii')}?=" for word in words]
    return ("Subject: " + "\r\n ".join(encoded) + "\r\n").encode("ascii")


def to_line(policy: EmailPolicy[EmailMessage], address: str) -> bytes:
    line = f"To: {address}"
    if PLAIN_ADDRESS.fullmatch(address) and len(line) <= LINE:
        return f"{line}\r\n".encode("ascii")
    return header(policy, "To", address)


def text_body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends): the email package's choice for
    `set_content(text)` under a 7-bit policy (email.contentmanager), made the same way."""
    lines = text.encode("utf-8").splitlines()
    if max((len(line) for line in lines), default=0) <= LINE and all(
        line.isascii() for line in lines
    ):
        return "7bit", b"".join(line + b"\r\n" for line in lines) or b"\r\n"
    sniff = b"".join(line + b"\r\n" for line in lines[:10])
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), LINE)
    if len(sniff_qp) <= len(binascii.b2a_base64(sniff)):
        if len(lines) <= 10:
            return "quoted-printable", _crlf(sniff_qp)
        whole = b"".join(line + b"\n" for line in lines)
        return "quoted-printable", _crlf(quoprimime.body_encode(whole.decode("latin-1"), LINE))
    whole = b"".join(line + b"\r\n" for line in lines)
    step = LINE // 4 * 3
    encoded = b"".join(binascii.b2a_base64(whole[i : i + step]) for i in range(0, len(whole), step))
    return "base64", encoded.replace(b"\n", b"\r\n")


def _crlf(payload: str) -> bytes:
    """A payload's lines as the generator writes them: CRLF after each, the last included
    only where the payload ended its line."""
    lines = payload.splitlines()
    body = "\r\n".join(lines)
    if payload.endswith(("\n", "\r")):
        body += "\r\n"
    return body.encode("ascii")


def mime_tail(cte: str) -> bytes:
    return (TAIL.format(cte=cte) + "MIME-Version: 1.0\r\n\r\n").encode("ascii")
