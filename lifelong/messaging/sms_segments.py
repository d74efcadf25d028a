"""How many SMS segments a text costs: the count shown under the editor's SMS text.

An SMS carries 140 bytes. In the GSM-7 alphabet (Latin letters, digits, common signs)
that is 160 characters, or 153 per segment once a text needs several (each segment
spends 7 on the header that joins them); the extension characters ^ { } [ ] ~ \\ | € and
the form feed are an escape plus a character, two places each, and a segment never ends
between the two. Any other character — a single Cyrillic letter, «ёлочки», an emoji —
switches the whole text to UCS-2: 70 places, 67 per segment, a character outside the
Basic Multilingual Plane (most emoji) taking two that a segment does not split either.

The editor's static script (web/static/web/sms_counter.js) counts the same way; a browser
test checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7 = "gsm7"
UCS2 = "ucs2"
# (one message, each segment of a longer one), in places.
CAPACITY = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SmsCount:
    encoding: str  # gsm7 or ucs2
    length: int  # places the text takes (septets in GSM-7, 16-bit units in UCS-2)
    segments: int  # 0 for an empty text
    left: int  # places left in the last segment before another one starts


def _places(text: str) -> tuple[str, list[int]]:
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        return GSM7, [2 if ch in GSM_EXTENSION else 1 for ch in text]
    return UCS2, [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_count(text: str) -> SmsCount:
    """The encoding, length and segments of `text` as it would be sent (CRLF as LF: a form's
    text area sends CRLF, a phone shows one line break)."""
    text = text.replace("\r\n", "\n")
    encoding, places = _places(text)
    single, each = CAPACITY[encoding]
    length = sum(places)
    if length <= single:
        return SmsCount(encoding, length, 1 if text else 0, single - length)
    segments, used = 1, 0
    for size in places:
        # A pair (escape + character, or a surrogate pair) stays in one segment.
        if used + size > each:
            segments, used = segments + 1, 0
        used += size
    return SmsCount(encoding, length, segments, each - used)
