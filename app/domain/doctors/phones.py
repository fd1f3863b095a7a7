"""Phone numbers as Julia stores them: E.164 digits without the '+'.

WhatsApp identifies a person by `<digits>@s.whatsapp.net`, and those digits are the E.164
number. Brazilian mobiles gained a ninth digit (a leading 9 on the local part) between 2012
and 2016, but WhatsApp still reports many older accounts without it, so one doctor can show
up as `5531988887777` or `553188887777`. Matching must try both forms.
"""

from __future__ import annotations

import re

BRAZIL = "55"

# E.164 allows at most 15 digits including the country code; below 8 nothing real is left.
_E164_MAX = 15
_E164_MIN = 8

# What people type around a number: spaces, dashes, dots, slashes, parentheses.
_SEPARATORS = re.compile(r"[\s\-./()]+")


def normalize_phone(raw: str, default_country: str = BRAZIL) -> str | None:
    """Return the number as E.164 digits without '+', or None when it is not a phone number.

    Accepts "+55 (11) 98765-4321", "5511987654321" and national forms such as
    "11987654321" / "(31) 8888-7777" (10 or 11 digits get `default_country` in front).
    A leading "0" (trunk prefix) or "00" (international prefix) is dropped. Letters or
    anything other than the usual separators make the input garbage.
    """
    if not isinstance(raw, str):
        return None
    text = _SEPARATORS.sub("", raw.strip())
    international = text.startswith("+")
    if international:
        text = text[1:]
    if not text.isascii() or not text.isdigit():
        return None
    if not international:
        # "0 11 ..." (trunk) and "00 55 ..." (international prefix) are dialling habits.
        text = text.lstrip("0")
        if len(text) < 10:
            # Without "+", fewer digits than area code + number cannot be completed.
            return None
        if len(text) <= 11 and default_country:
            text = default_country + text
    if not _E164_MIN <= len(text) <= _E164_MAX or text.startswith("0"):
        return None
    if text.startswith(BRAZIL) and not _plausible_brazil(text):
        return None
    return text


def _plausible_brazil(digits: str) -> bool:
    # 55 + two-digit area code (11..99, no zero) + 8 digits (landline or legacy mobile)
    # or 9 + 8 digits (mobile).
    if len(digits) not in (12, 13):
        return False
    ddd = digits[2:4]
    if "0" in ddd:
        return False
    return len(digits) == 12 or digits[4] == "9"


def brazil_variants(phone: str) -> tuple[str, ...]:
    """Both spellings of a Brazilian mobile number, canonical (with the ninth digit) first.

    "5531988887777" and "553188887777" both give ("5531988887777", "553188887777").
    Only mobiles have two forms: the 8-digit local part must start with 6-9. Landlines,
    non-Brazilian numbers and anything unrecognised come back as `(phone,)`.
    """
    if not (phone.isascii() and phone.isdigit() and phone.startswith(BRAZIL)):
        return (phone,)
    prefix = phone[:4]  # 55 + area code
    if len(phone) == 13 and phone[4] == "9" and phone[5] in "6789":
        return (phone, prefix + phone[5:])
    if len(phone) == 12 and phone[4] in "6789":
        return (prefix + "9" + phone[4:], phone)
    return (phone,)


def canonical_brazil(phone: str) -> str:
    """Add the ninth digit to a legacy 12-digit Brazilian mobile; other numbers unchanged."""
    return brazil_variants(phone)[0]
