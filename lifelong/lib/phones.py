"""Phone numbers in E.164. Russian numbers are the default region."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "RU"


class InvalidPhone(ValueError):
    pass


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the E.164 form of `raw` ('' for blank) or raise InvalidPhone."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    # Russian users often write 8XXXXXXXXXX for +7XXXXXXXXXX.
    digits = "".join(ch for ch in raw if ch.isdigit())
    if region == "RU" and len(digits) == 11 and digits.startswith("8") and not raw.startswith("+"):
        raw = "+7" + digits[1:]
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
