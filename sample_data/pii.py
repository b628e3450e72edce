"""Synthetic personal data shaped like the real thing.

Why: masking must be tested against data that looks like what contact centres really see:
Chinese resident ID numbers with a valid check digit, bank-card numbers that pass the Luhn
check, mobile numbers in national formats, e-mail addresses. None of it belongs to anyone.
"""

from __future__ import annotations

import random

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_AREA_CODES = ("110101", "310104", "440305", "330106", "510107", "420106", "320102", "500103")
_CARD_PREFIXES = ("622202", "621700", "622848", "403391", "539983", "625807")
_MAIL_DOMAINS = ("example.com", "mail.example.org", "example.net", "qq.example.cn", "163.example.cn")


def cn_id_card(rng: random.Random) -> str:
    """An 18-character resident ID number with a correct ISO 7064 check character."""
    birth = f"{rng.randint(1955, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = rng.choice(_AREA_CODES) + birth + f"{rng.randint(0, 999):03d}"
    total = sum(int(ch) * w for ch, w in zip(body, _ID_WEIGHTS))
    return body + _ID_CHECK[total % 11]


def luhn_complete(prefix_and_body: str) -> str:
    """Append the Luhn check digit."""
    digits = [int(c) for c in prefix_and_body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return prefix_and_body + str((10 - total % 10) % 10)


def bank_card(rng: random.Random) -> str:
    """A 16- or 19-digit card number that passes the Luhn check."""
    length = rng.choice((16, 19))
    prefix = rng.choice(_CARD_PREFIXES)
    body = "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    return luhn_complete(prefix + body)


def phone_number(rng: random.Random, language: str) -> str:
    """A mobile number in the style of the customer's market."""
    if language == "zh":
        return f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(1000, 9999)}{rng.randint(1000, 9999)}"
    if language == "en":
        return f"+1 {rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    country = {"es": "+34 6", "fr": "+33 6", "de": "+49 15"}.get(language, "+44 7")
    return f"{country}{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}"


def email_address(rng: random.Random, ascii_name: str) -> str:
    return f"{ascii_name}{rng.randint(1, 999)}@{rng.choice(_MAIL_DOMAINS)}"


def ascii_handle(given: str, family: str, rng: random.Random) -> str:
    """A login-style handle; non-ASCII names become a neutral handle."""
    raw = f"{given}.{family}".lower()
    if raw.isascii():
        return "".join(ch for ch in raw if ch.isalnum() or ch == ".")
    return f"user{rng.randint(10000, 99999)}"
