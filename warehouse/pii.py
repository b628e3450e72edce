"""Personal data in free text, found by small recognisers and masked with typed tokens.

Why recognisers and not one regex list: a pattern alone cannot tell a card number from a
tracking number or a birth date from a delivery date. Each identifier type here has its own
recogniser, tagged with the locales whose formats it knows, that checks what the format lets it
check (Luhn for cards, ISO 7064 mod 97 for IBANs, the check characters of Chinese, Hong Kong,
Spanish and French identity numbers, the area rules of US social security numbers) and asks for
context words where the format alone is too weak (passports, birth dates, licence plates, WeChat
IDs, ungrouped phone numbers, names).

Decisions a reader should know:

- A number that fails its checksum is masked only when a context word says what it is ("card",
  "卡号", "Karte", "身份证"...): a customer's typo in a card number is still a card number, a
  16-digit tracking number is not.
- Names come from cues: honorifics (Mr, Ms, Dr, Herr, Frau, Sr., Sra., M., Mme, 先生, 女士...),
  self-introductions ("my name is", "je m'appelle", "ich heiße", "me llamo", 我叫, 我是),
  relations ("my husband", "meine Tochter", 朋友...) and field labels (收件人, "account holder");
  after a cue, a capitalised Given Family pair (or a single name after a strong cue) is a name.
  Chinese names need a known surname (compound surnames such as 欧阳 or 司马 included), and
  pinyin names a pinyin surname followed by pinyin syllables. The customer's own CRM names are
  masked separately in dbt (``mask_names``), whatever the case.
- Full-width digits and letters (``１３８…``) are read as ASCII; the mapping is one character for
  one, so spans point into the original text.
- Where spans overlap, the longest wins, then the more specific type (``PRIORITY``).

``mask(text)`` is what the dbt build calls (through the DuckDB function ``si_mask_pii`` that the
dbt-duckdb plugin ``warehouse/dbt_secrets.py`` registers). ``python bench/pii.py`` scores the
recognisers on ``tests/data/pii_eval.jsonl``.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from warehouse import pii_ner

TOKENS = ("PHONE", "EMAIL", "BANK_CARD", "ID_CARD", "IBAN", "SSN", "PASSPORT", "IP", "ADDRESS", "NAME",
          "BIRTH_DATE", "PLATE", "WECHAT", "HANDLE")
# On overlapping spans of equal length, the higher wins (a valid resident ID over a Luhn-valid card).
PRIORITY = {"IBAN": 9, "ID_CARD": 8, "SSN": 7, "BANK_CARD": 6, "EMAIL": 6, "PASSPORT": 5, "BIRTH_DATE": 5,
            "IP": 5, "PHONE": 4, "PLATE": 3, "WECHAT": 3, "ADDRESS": 2, "NAME": 1, "HANDLE": 1}
# Matches any masking token; dbt/macros/mask_pii.sql pii_token_pattern() spells the same list.
TOKEN_PATTERN = r"\[(" + "|".join(TOKENS) + r")\]"


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    type: str
    recogniser: str


@dataclass(frozen=True)
class Recogniser:
    """One identifier format: the type it yields, the locales it knows, what a text needs to hold."""

    name: str
    type: str
    locales: tuple[str, ...]
    needs: str  # prefilter: "digit", "at", "name" (capitals or CJK), "any"
    find: Callable[[str, "_Text"], Iterable[tuple[int, int]]]


# ------------------------------------------------------------------ text preparation

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_HAS_FULLWIDTH = re.compile("[\uff01-\uff5e\u3000]")
_HAS_DIGIT = re.compile("[0-9]")
_HAS_UPPER = re.compile("[A-ZÀ-ÖØ-Þ]")
_HAS_CJK = re.compile("[\u4e00-\u9fff]")


class _Text:
    """A text normalised once (full-width to ASCII, same length) with cheap facts for the prefilter."""

    __slots__ = ("raw", "norm", "_lower", "digit", "at", "upper", "cjk")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.norm = raw.translate(_FULLWIDTH) if _HAS_FULLWIDTH.search(raw) else raw
        self._lower: str | None = None
        self.digit = _HAS_DIGIT.search(self.norm) is not None
        self.at = "@" in self.norm
        self.upper = _HAS_UPPER.search(self.norm) is not None
        self.cjk = _HAS_CJK.search(self.norm) is not None

    @property
    def lower(self) -> str:
        if self._lower is None:
            lower = self.norm.lower()
            if len(lower) != len(self.norm):  # "İ" lower-cases to two characters: keep offsets aligned
                lower = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in self.norm)
            self._lower = lower
        return self._lower

    def cue_before(self, cue: re.Pattern, start: int, window: int = 30) -> bool:
        """Whether ``cue`` (a pattern over lower-case text) occurs in the ``window`` characters before ``start``."""
        return cue.search(self.lower, max(0, start - window), start) is not None

    def cue_after(self, cue: re.Pattern, end: int, window: int = 15) -> bool:
        return cue.search(self.lower, end, min(len(self.norm), end + window)) is not None


def _digits(s: str) -> str:
    return "".join(ch for ch in s if "0" <= ch <= "9")



# ------------------------------------------------------------------ checksums


def luhn_ok(digits: str) -> bool:
    """The Luhn check of payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18,
    "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27,
    "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26,
    "UA": 29, "VG": 24, "XK": 20,
}


def iban_ok(iban: str) -> bool:
    """ISO 13616: the country's length and ISO 7064 mod 97-10 over the rearranged characters."""
    iban = iban.replace(" ", "").upper()
    if _IBAN_LENGTH.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def cn_id_ok(id18: str) -> bool:
    """Mainland resident ID (GB 11643): ISO 7064 mod 11-2 check character."""
    total = sum((ord(ch) - 48) * w for ch, w in zip(id18[:17], _CN_ID_WEIGHTS))
    return _CN_ID_CHECK[total % 11] == id18[17].upper()


def _cn_id_shape_ok(id18: str) -> bool:
    """Province code and a real birth date: what a mistyped ID must still have to be taken for one."""
    if not ("11" <= id18[:2] <= "91"):
        return False
    year, month, day = int(id18[6:10]), int(id18[10:12]), int(id18[12:14])
    return 1900 <= year <= date.today().year and 1 <= month <= 12 and 1 <= day <= 31


def hkid_ok(letters: str, digits: str, check: str) -> bool:
    """Hong Kong identity card: weights 9..2 over (space-padded) letters and six digits, mod 11."""
    values = ([36] if len(letters) == 1 else []) + [ord(ch) - 55 for ch in letters] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1)))
    expected = (11 - total % 11) % 11
    return check.upper() == ("A" if expected == 10 else str(expected))


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(number: str, letter: str) -> bool:
    """Spanish DNI/NIE: the letter is the number mod 23 (NIE: X, Y, Z read as 0, 1, 2)."""
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return _DNI_LETTERS[int(number) % 23] == letter.upper()


def nir_ok(nir: str) -> bool:
    """French social security number (NIR): key = 97 - (13 digits mod 97); Corsica 2A/2B read as 19/18."""
    body, key = nir[:13].upper(), nir[13:]
    body = body.replace("2A", "19").replace("2B", "18") if body[5:7] in ("2A", "2B") else body
    return body.isdigit() and 97 - int(body) % 97 == int(key)


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN: never area 000, 666 or 900-999, group 00 or serial 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# ------------------------------------------------------------------ cue words (over lower-case text)

_CARD_CUE = re.compile(r"card|amex|visa|master|卡|karte|tarjeta|carte|\bcb\b")
_ID_CUE = re.compile(r"身份证|证件|\bid\b|identity|ausweis|dni|nie\b|documento|identit|hkid")
_PHONE_CUE = re.compile(
    r"phone|tel\b|tel\.|cell|mobile|call|text me|number|whatsapp|contact|电话|手机|号码|联系|致电|打给|"
    r"telefon|handy|nummer|mobil|erreichbar|rufen|teléfono|telefono|móvil|movil|llam|número|numero|"
    r"téléphone|portable|appel|fixe|tél")
_SSN_CUE = re.compile(r"ssn|social security|social sec|\bsocial\b")
_PASSPORT_CUE = re.compile(r"passport|护照|reisepass|pasaporte|passeport")
_PLATE_CUE = re.compile(r"plate|\breg\b|registration|kennzeichen|matr[ií]cula|plaque|immatriculation|车牌")
_WECHAT_CUE = re.compile(r"wechat|weixin|微信|\bvx\b|v信|\bwx\b|威信")
_VERSION_CUE = re.compile(r"version|versión|\bv\.?\s*$|firmware|build|release|app |版本|固件|"
                          r"(?:ios|android|harmonyos|windows|macos|miui|emui) $")
_BIRTH_CUE = re.compile(
    r"born|birth|\bdob\b|d\.o\.b|出生|生日|生于|geboren|geburt|\bgeb\.|nacimiento|nac[ií]|cumpleaños|"
    r"\bnée?\b|naissance|anniversaire")
_ADDRESS_CUE = re.compile(
    r"address|deliver|ship|move|live|adresse|wohne|liefer|zustell|direcci|env[ií]|vivo|domicilio|"
    r"livr|habite|地址|寄到|送到")

# ------------------------------------------------------------------ recognisers: contact details

# Starts only where a run of address characters starts and lengths are bounded (RFC 5321: 64-character
# local part, 63-character labels), so a hostile run of letters cannot make the scan quadratic.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}"
                    r"\.[A-Za-z]{2,24}(?![A-Za-z])")


def _find_email(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(t.norm):
        yield m.start(), m.end()


_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])(?<![0-9][.,/])"
    r"(?P<cc>(?:\+|00(?=[1-9]))\d{1,3}[ .\-]?(?:\(0\)[ .\-]?)?)?"
    r"(?P<area>\(\d{2,5}\)[ .\-]?)?"
    r"\d{1,12}(?:(?:[ .\-]|[ ]?/[ ]?)\d{1,12}){0,6}"
    r"(?![A-Za-z0-9])")
_DATE_SHAPE = re.compile(r"\d{4}[./\-]\d{1,2}[./\-]\d{1,2}|\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4}|\d{1,2}[./]\d{1,2}")
_GROUPS = re.compile(r"\d+")
# Toll-free and service numbers belong to businesses, not people (NANP 8xx toll-free, N00; China 400/800).
_BUSINESS_PREFIX = ("800", "888", "877", "866", "855", "844", "833", "400", "500", "600", "700", "900")


def _phone_ok(candidate: str, has_cc: bool, has_area_parens: bool, cued: bool) -> bool:
    digits = _digits(candidate)
    n = len(digits)
    if _DATE_SHAPE.fullmatch(candidate.strip()):
        return False
    groups = [len(g) for g in _GROUPS.findall(candidate)]
    grouped = len(groups) > 1
    if has_cc:
        if candidate.startswith("00") and not grouped:
            return False
        return 8 <= n <= 15
    if digits.startswith("0"):
        if digits.startswith("00"):
            return False
        if 10 <= n <= 12:
            return grouped or has_area_parens or cued or n == 11
        return n == 9 and grouped and groups[0] >= 3
    if n == 11 and digits[0] == "1" and digits[1] in "3456789":
        return True  # mainland mobile
    if n == 10 and digits[0] in "23456789" and digits[3] in "23456789" and digits[:3] not in _BUSINESS_PREFIX:
        if groups == [3, 3, 4] or has_area_parens:
            return True  # North American
    if n == 10 and digits[0] in "6789":
        if groups == [5, 5]:
            return True  # Indian mobile
    if n == 10 and not grouped and cued and digits[:3] not in _BUSINESS_PREFIX:
        return True
    if n == 9 and digits[0] in "6789":
        if groups in ([3, 3, 3], [3, 2, 2, 2], [2, 3, 2, 2]) or (not grouped and cued):
            return True  # Spanish
    return False


# A bare number named as a customer, order or invoice number is that, not a phone.
_REFERENCE_CUE = re.compile(
    r"kunden|bestell|auftrag|rechnung|order|customer|account|client|member|invoice|ticket|case|tracking|pedido|"
    r"factura|commande|facture|订单|会员|单号|客户|发票")


def _find_phone(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    for m in _PHONE.finditer(t.norm):
        start, end = m.span()
        if m.end() - m.start() < 7:
            continue
        text = m.group()
        cued = t.cue_before(_PHONE_CUE, start, 25) and not t.cue_before(_REFERENCE_CUE, start, 25)
        has_cc, has_parens = m.group("cc") is not None, m.group("area") is not None
        if _phone_ok(text, has_cc, has_parens, cued):
            yield start, end
            continue
        # A number followed by another figure ("... 0132 3 times"): drop the last group once.
        cut = max(text.rfind(" "), text.rfind("-"), text.rfind("."))
        if cut > 0 and _phone_ok(text[:cut].rstrip(" /.-"), has_cc, has_parens, cued):
            yield start, start + len(text[:cut].rstrip(" /.-"))


# ------------------------------------------------------------------ payment and bank

_CARD = re.compile(r"(?<![A-Za-z0-9+])(?<![0-9][.,/])\d(?:[ \-]?\d){12,18}(?![A-Za-z0-9])(?![ \-]?\d)")
_CARD_PREFIXES = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|6|5[06-9]")


def _find_card(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    for m in _CARD.finditer(t.norm):
        digits = _digits(m.group())
        cued = t.cue_before(_CARD_CUE, m.start(), 30)
        if luhn_ok(digits) and _CARD_PREFIXES.match(digits):
            if len(digits) == 13 and not cued:
                continue  # 13-digit cards are all but extinct; EAN-13 article numbers are not
            if len(digits) == 15 and not digits.startswith(("34", "37")) and not cued:
                continue
            yield m.span()
        elif cued and len(digits) >= 15:
            yield m.span()


_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})((?:[ ]?[A-Z0-9]){10,30})")


def _find_iban(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    for m in _IBAN.finditer(t.norm):
        length = _IBAN_LENGTH.get(m.group(1))
        if length is None:
            continue
        need, end = length - 4, m.start(3)
        seen = 0
        while end < len(t.norm) and seen < need:
            if t.norm[end] != " ":
                seen += 1
            end += 1
        if seen == need and (end == len(t.norm) or not t.norm[end].isalnum()) and iban_ok(t.norm[m.start():end]):
            yield m.start(), end


# ------------------------------------------------------------------ identity documents

_CN_ID = re.compile(r"(?<![A-Za-z0-9])\d(?:[ \-]?\d){16}[ \-]?[0-9Xx](?![A-Za-z0-9])(?![ \-]?\d)")
_HKID = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,2})(\d{6})(?:\s?\(([0-9A])\)|([0-9A]))(?![A-Za-z0-9])")
_DNI = re.compile(r"(?<![A-Za-z0-9])(\d{8}|[XYZ][ \-]?\d{7})[ \-]?([A-Z])(?![A-Za-z0-9])")
_NINO = re.compile(r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
                   r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])")
_NINO_LOOSE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])")
_NINO_CUE = re.compile(r"national insurance|\bni\b|nino")
_NIR = re.compile(r"(?<![A-Za-z0-9])[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}"
                  r"(?![A-Za-z0-9])")
_ID_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=[A-Z0-9]*\d)[A-Z0-9]{6,18}(?![A-Za-z0-9])")
_ID_DOC_CUE = re.compile(r"ausweis|identity card|id card|id number|carte d'identit|documento de identidad|"
                         r"身份证|证件号")


def _find_id_card(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    norm = t.norm
    for m in _CN_ID.finditer(norm):
        chars = "".join(ch for ch in m.group() if ch not in " -")
        if cn_id_ok(chars) and _cn_id_shape_ok(chars):
            yield m.span()
        elif _cn_id_shape_ok(chars) and t.cue_before(_ID_CUE, m.start(), 20):
            yield m.span()
    for m in _HKID.finditer(norm):
        check = m.group(3) or m.group(4)
        if hkid_ok(m.group(1), m.group(2), check) and (m.group(3) or t.cue_before(_ID_CUE, m.start(), 30)):
            yield m.span()
    for m in _DNI.finditer(norm):
        if dni_ok(m.group(1).replace(" ", "").replace("-", ""), m.group(2)):
            yield m.span()
    for m in _NINO.finditer(norm):
        yield m.span()
    # Specimen or unallocated prefixes (QQ...) still read as a number when it is named.
    for m in _NINO_LOOSE.finditer(norm):
        if t.cue_before(_NINO_CUE, m.start(), 30):
            yield m.span()
    for m in _NIR.finditer(norm):
        if nir_ok(m.group().replace(" ", "")):
            yield m.span()
    # Any document number right after its name ("Personalausweisnummer L01X00T47", "证件号 ...").
    yield from _named_value(t, _ID_DOC_CUE, _ID_TOKEN, 25)


_ABBREVIATION = re.compile(r"(?i)\b(?:no|nr|núm|num|n°|tel|ref)\.")


def _between_has_sentence_end(text: str, a: int, b: int) -> bool:
    """Whether a sentence ends between a cue and a value ("no." and similar abbreviations do not end one)."""
    between = _ABBREVIATION.sub("", text[a:b])
    return any(ch in ".;!?。；！？\n" for ch in between)


def _named_value(t: _Text, cue: re.Pattern, value: re.Pattern, reach: int) -> Iterator[tuple[int, int]]:
    """The first ``value`` within ``reach`` characters after each ``cue`` that names it, in the same sentence."""
    norm = t.norm
    for c in cue.finditer(t.lower):
        m = value.search(norm, c.end(), min(len(norm), c.end() + reach))
        if m and not _between_has_sentence_end(norm, c.end(), m.start()):
            yield m.span()


_SSN = re.compile(r"(?<![A-Za-z0-9])(?<![0-9][.,\-/ ])(\d{3})([\- ]?)(\d{2})\2(\d{4})(?![A-Za-z0-9])(?![.,\-/ ]\d)")


def _find_ssn(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    for m in _SSN.finditer(t.norm):
        if not ssn_ok(m.group(1), m.group(3), m.group(4)):
            continue
        if m.group(2) == "-" or t.cue_before(_SSN_CUE, m.start(), 30):
            yield m.span()


_PASSPORT_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?=(?:[A-Z]*\d){3})[A-Z0-9]{6,9}(?![A-Za-z0-9])")


def _find_passport(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    yield from _named_value(t, _PASSPORT_CUE, _PASSPORT_TOKEN, 30)


# ------------------------------------------------------------------ network

_IPV4 = re.compile(r"(?<![A-Za-z0-9.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                   r"(?![A-Za-z0-9])(?!\.\d)")
_IPV6 = re.compile(r"(?<![A-Za-z0-9:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![A-Za-z0-9:])")


def _find_ip(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    for m in _IPV4.finditer(t.norm):
        if not t.cue_before(_VERSION_CUE, m.start(), 15):
            yield m.span()
    if ":" in t.norm:
        for m in _IPV6.finditer(t.norm):
            if m.group().count(":") >= 2 and any(ch.isdigit() for ch in m.group()):
                try:
                    ipaddress.IPv6Address(m.group())
                except ValueError:
                    continue
                yield m.span()


# ------------------------------------------------------------------ addresses

_CAP = "[A-ZÀ-ÖØ-Þ]"
_LOW = "[a-zß-öø-ÿ'’\\-]"
_WORD = f"{_CAP}{_LOW}+"
_EN_SUFFIX = (r"(?:Street|St|Road|Rd|Avenue|Ave|Av|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Terrace|Court|Ct|Place|Pl|"
              r"Parkway|Pkwy|Close|Crescent|Cres|Square|Sq|Highway|Hwy|Grove|Gardens|Row|Mews|Walk|Hill)\b\.?")
_EN_ADDRESS = re.compile(
    rf"(?:(?:Flat|Apt|Apartment|Unit|Suite)\.? ?\d+[A-Z]?, ?)?"
    rf"(?<![A-Za-z0-9.,])\d{{1,5}}[A-Z]?,? (?:(?:{_WORD}|[NSEW]|\d+(?:st|nd|rd|th)) ){{1,3}}{_EN_SUFFIX}"
    rf"(?: (?:NW|NE|SW|SE|N|S|E|W)\b)?"
    rf"(?:,? (?:Apt|Apartment|Unit|Suite|Flat|#)\.? ?\w+)?"
    rf"(?:, ?{_WORD}(?: {_WORD})?(?:,? [A-Z]{{2}} \d{{5}}(?:-\d{{4}})?|"
    rf" [A-Z]{{1,2}}\d[A-Z\d]? ?\d[A-Z]{{2}})?)?")
_DE_STREET = r"(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|markt)"
_DE_STREET_WORD = r"(?:Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee|Ring|Damm|Ufer|Chaussee|Steig|Pfad|Markt)"
_DE_ADDRESS = re.compile(
    rf"(?<![A-Za-zÀ-ÿ])(?:{_CAP}[a-zäöüß]+(?:-{_CAP}?[a-zäöüß]+)*{_DE_STREET}|{_CAP}[a-zäöüß]+ {_CAP}[a-zäöüß]+{_DE_STREET}"
    rf"|{_CAP}[a-zäöüß]+(?:-{_CAP}[a-zäöüß]+)*-{_DE_STREET_WORD})"
    rf" \d{{1,4}}(?: ?[a-zA-Z]\b)?(?:, ?\d{{5}} {_WORD}(?:[ -]{_WORD})?)?")
_DE_AM = re.compile(rf"(?<![A-Za-zÀ-ÿ])(?:Am|An der|Auf dem|Im|In der|Zum|Zur) {_CAP}[a-zäöüß]+ \d{{1,4}}(?: ?[a-z]\b)?"
                    rf"(?:, ?\d{{5}} {_WORD})?")
_ES_ADDRESS = re.compile(
    rf"(?<![A-Za-zÀ-ÿ])(?:Calle|C/|Gran Vía|Vía|Avenida|Avda\.?|Av\.|Paseo|P[º°]|Plaza|Pza\.|Camino|Carretera|Ctra\.|Ronda|"
    rf"Travesía|Glorieta|Rambla)"
    rf" ?(?:(?:de|del|de la|de los|de las) )?{_WORD}(?: (?:(?:de|del|de la|y) )?{_WORD}){{0,3}},? (?:n[º°o]\.? ?)?\d{{1,4}}"
    rf"(?:,? ?\d{{1,2}} ?[º°ª]\.? ?[A-Z]?\b)?(?:, ?\d{{5}} {_WORD})?")
# Any "Street Name 77, 10117 Berlin": words, a house number, a five-digit postcode and a town.
_POSTCODE_ADDRESS = re.compile(
    rf"(?<![A-Za-zÀ-ÿ0-9])(?:{_CAP}[a-zà-ÿß'’\-]+|de|del|den|der|la|las|los|di|des|du) "
    rf"(?:(?:{_CAP}[a-zà-ÿß'’\-]+|de|del|den|der|la|las|los|di|des|du|y|e) ){{0,3}}\d{{1,4}}[a-z]?, ?\d{{5}} {_WORD}")
_PO_BOX = re.compile(
    rf"(?<![A-Za-z])(?:P\.? ?O\.? Box|Post Office Box|Postfach|Apartado(?: de [Cc]orreos)?|Boîte postale|BP) ?\d{{1,6}}"
    rf"(?:, ?{_WORD}(?: {_WORD})?(?:,? [A-Z]{{2}} \d{{5}})?)?")
_FR_ADDRESS = re.compile(
    rf"(?<![A-Za-z0-9])\d{{1,4}}(?: ?(?:bis|ter))?,? (?:rue|avenue|av\.|boulevard|bd|place|allée|allee|impasse|"
    rf"chemin|quai|cours|route|square|passage)"
    rf"(?: (?:de la|de l'|du|des|de|d'|la|le|les|l')?(?: ?{_WORD})){{1,4}}(?:, ?\d{{5}} {_WORD})?")
_ZH_NOT_START = "到在住址是改成寄送放把给为往于了的：:，,"
_ZH_CHAR = f"(?:(?![{_ZH_NOT_START}])[\u4e00-\u9fff])"
_ZH_ADDRESS = re.compile(
    rf"(?:{_ZH_CHAR}{{2,6}}?(?:省|自治区))?(?:(?:成都|{_ZH_CHAR}{{2,6}}?)市)?(?:{_ZH_CHAR}{{1,6}}?(?:新区|区|县|镇|乡))?"
    rf"(?:{_ZH_CHAR}{{2,6}}?街道)?"
    rf"(?:{_ZH_CHAR}{{1,10}}?(?:路|大街|街|大道|道|巷|胡同|弄)(?:[一二三四五六七八九十]+段)? ?\d{{1,5}}(?:-\d{{1,4}})?号(?:院)?"
    rf"|{_ZH_CHAR}{{2,8}}?(?:小区|花园|公寓|大厦|家园|新村|苑) ?\d{{1,3}}(?:栋|幢|号楼))"
    rf"(?:[\u4e00-\u9fffA-Za-z]{{0,8}}?(?:\d{{1,4}}(?:号楼|栋|幢|单元|室|层|楼)|[A-Z]座))*(?:\d{{3,4}}室?)?")


_ZH_ADDRESS_HINT = re.compile(r"\d ?(?:号|栋|幢)")


def _find_address(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    norm = t.norm
    if t.upper:
        for pattern in (_EN_ADDRESS, _DE_ADDRESS, _ES_ADDRESS, _POSTCODE_ADDRESS, _PO_BOX):
            for m in pattern.finditer(norm):
                yield m.span()
        for m in _DE_AM.finditer(norm):
            if re.search(r"\d{5}", m.group()) or t.cue_before(_ADDRESS_CUE, m.start(), 30):
                yield m.span()
    for m in _FR_ADDRESS.finditer(norm):
        yield m.span()
    if t.cjk and _ZH_ADDRESS_HINT.search(norm):
        for m in _ZH_ADDRESS.finditer(norm):
            yield m.span()


# ------------------------------------------------------------------ names

_NAME_WORD = rf"{_CAP}(?:[a-zß-öø-ÿ]+(?:['’\-]{_CAP}?[a-zß-öø-ÿ]+)*|['’]{_CAP}[a-zß-öø-ÿ]+)"
_PARTICLE = r"(?:de|da|del|della|van|von|der|den|di|du|le|la|bin|al)"
_FULL_NAME = rf"{_NAME_WORD}(?: (?:{_PARTICLE} )?{_NAME_WORD}){{0,2}}"
# After an honorific a family name may start with its particle ("Frau von der Leyen", "M. de Villiers").
_FAMILY_NAME = rf"(?:(?:von der|von dem|von|van der|van den|van|de la|de los|del|de|di|da|zu|du|le|la) )?{_FULL_NAME}"
_HONORIFIC = re.compile(
    rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sr|Sra|Srta|Mme|Mlle|Herr|Herrn|Frau|Señor|Señora|Don|Doña|Monsieur|Madame|"
    rf"Mister|Familie|Family|Famille|Familia)\.? (?:Dr\.? )?({_FAMILY_NAME})|\bM\. ({_FAMILY_NAME})")
# Strong cues: whatever follows is a name, even a single word ("Je m'appelle Amélie").
# Cues are matched on the lower-cased text; the name after them on the text itself (it must be capitalised).
# Strong cues: whatever follows is a name, even a single word ("Je m'appelle Amélie").
_STRONG_CUE = re.compile(
    r"\b(?:my name is|my name's|name is|je m'appelle|je m’appelle|ich heiße|ich heisse|mein name ist|me llamo|"
    r"mi nombre es|me apellido|mon nom est|account holder:?|card ?holder(?: name)?:?|holder is|signed for by|"
    r"spoke (?:to|with)|talked to|hablé con|hable con|j'ai parlé (?:à|avec)|mit (?:frau|herrn?)|recipient:?|"
    r"empfänger:?|destinatario:?|destinataire:?|titular(?: es)?:?|titulaire(?: est)?:?|(?:full )?name:|nombre:|"
    r"nom ?:|name,|(?:under|in) (?:the )?name(?: of)?|karteninhaber(?:in)?:?|kontoinhaber(?:in)?:?|"
    r"inhaber ist|au nom de|a nombre de|"
    # sign-offs
    r"(?:kind |best |warm )?regards,?|sincerely,?|thanks,|cheers,|mit freundlichen grüßen,?|"
    r"(?:viele|beste|liebe) grüße,?|mfg,?|un saludo,?|saludos,?|atentamente,?|cordialement,?|bien à vous,?|"
    r"salutations,?|(?:lg|vg|gruß|grüße|liebe grüße),?|"
    # greetings and thanks addressed to a person ("Hallo Lena", "Gracias Marta", "Merci Jean-Baptiste")
    # (after a greeting and a comma a sentence starts more often than a name: greetings take no comma)
    r"hi|hey|hello|dear|hallo|hola|bonjour|bonsoir|salut|coucou|buenas|buenos días|estimado|estimada|"
    r"querido|querida|cher|chère|liebe|lieber|sehr geehrte|sehr geehrter|guten tag|"
    r"(?:thanks|thank you|thx|ty|danke|danke schön|vielen dank|gracias|muchas gracias|merci|merci beaucoup),?|"
    # asking for a person, and holders named without a colon
    r"ask for|(?:pregunte|pregunta|preguntad) por|demandez|demande|fragen sie nach|frag nach|inhaber(?:in)?|"
    r"se llama|titulaire du contrat|le titulaire|la titulaire|"
    # the people a customer names: staff, couriers, family, neighbours
    r"agent|advisor|adviser|representative|rep|driver|courier|technician|engineer|fahrer|mitarbeiter(?:in)?|"
    r"berater(?:in)?|techniker|el agente|la agente|el repartidor|el técnico|le livreur|le conseiller|"
    r"la conseillère|le technicien|"
    r"my (?:friend|husband|wife|partner|son|daughter|mother|father|mum|mom|dad|brother|sister|neighbou?r|"
    r"colleague|boss),?|(?:mein|meine|meinem|meiner) (?:freund|freundin|mann|sohn|tochter|mutter|vater|bruder|"
    r"schwester|nachbar|nachbarin|kollege|kollegin),?|mi (?:amigo|amiga|marido|mujer|esposo|esposa|hijo|hija|"
    r"madre|padre|hermano|hermana|vecino|vecina),?|(?:mon|ma) (?:ami|amie|mari|femme|fils|fille|mère|père|"
    r"frère|sœur|soeur|voisin|voisine|collègue),?)(?= )")
# Spanish and French write nationalities and common nouns in lower case: a capital after "soy",
# "je suis" or "c'est" is a name even alone ("soy Ana").
_ROMANCE_CUE = re.compile(r"\b(?:soy|je suis|ici|c'est|c’est)(?= )")
# Weak cues ("I'm", "this is", "ich bin") and field labels without a colon ("name Samuel Evans",
# "Nombre Álvaro Díaz") need a Given Family pair.
_WEAK_CUE = re.compile(r"\b(?:i'm|i am|this is|it's|ich bin|hier ist|hier spricht|name|nombre|nom|nome)(?= )")
_NAME_AFTER = re.compile(rf" (?:(?:is|es|est|ist) )?({_FULL_NAME})")
_PAIR_AFTER = re.compile(rf" +({_NAME_WORD}(?: (?:{_PARTICLE} )?{_NAME_WORD}){{1,2}})")
# "Ahmed Hassan here"
_NAME_HERE = re.compile(rf"(?:^|(?<=[,.!?] ))({_NAME_WORD} {_NAME_WORD}) here\b")
# A reply that opens with a name and then the e-mail, phone or ID asked for ("Jack Kelly, jack@...").
_LEADING_NAME = re.compile(rf"^\s*({_NAME_WORD}(?: {_NAME_WORD}){{1,2}})\s*[,，]\s*(?=[^\s,]*@|\+?\d)")
# Capitalised words that follow a cue without being a name.
_NOT_NAMES = frozenset("""
Customer Service Support Team Sales Billing Account Accounts Order Orders Delivery Returns Refund The A An
I It This That My Your Our Their His Her Very So Not Just Still Really Also Here There Now Today Yesterday
Sie Ihr Ihre Ihrer Ihren Ihrem Kunde Kundin Kundendienst Kundenservice Bestellung Hallo Guten Tag Danke
Cliente Servicio Atención Pedido Hola Gracias Señor Señora Client Service Commande Bonjour Merci Madame Monsieur
Apple Amazon Google Samsung Microsoft Best Buy New York London Paris Berlin Madrid Canada China English
Chinese German French Spanish Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February
March April May June July August September October November December Prime Premium Gold Silver VIP
What Can Could Would Should Where When Why How Who Which Please Is Are Do Does Did Yes No Ok Okay Hi Hello Hey
Thanks Thank Sorry Dear Was Wie Wo Warum Wann Bitte Ja Nein Qué Cómo Dónde Por Sí Quoi Comment Pourquoi Oui Non
You Sir Sirs Madam Madams Everyone All Folks Guys Team Buenos Buenas Good Morning Afternoon Evening Bon Bonne
Zusammen Schön Beaucoup Tout Tous Alle Todos Equipo Équipe Estimado Estimada Liebe Lieber Sehr Geehrte Geehrter
Kundenservice Servicio Soporte Support Service Again Anyway However Hallo Grüße Gruß Saludos Hola Salut Bonjour
Ich Wir Er Es Das Der Die Und Aber Für Mit Hier Je Nous Il Elle Et Mais Pour Avec Voici Voilà Yo Nosotros El La
Le Les Los Las Pero Para Con Aquí Mum Mom Dad Email E-Mail Mail Tel Phone Telefon Konto IBAN Damen Herren
""".split())

_CN_COMPOUND = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "尉迟", "公孙", "夏侯", "长孙",
                "宇文", "司徒", "端木", "独孤", "南宫", "西门", "轩辕", "呼延", "澹台", "万俟", "闻人", "赫连")
_CN_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
                "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
                "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
                "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒲鲍华喻祁房滕屈饶解牟艾尤阳时穆农司卓古吉"
                "缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇"
                "桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_CN_HONORIFIC = "(?:先生|女士|小姐|太太|夫人|师傅|阿姨|大姐|大哥|同学)"
# Job titles follow a bare surname (李经理); with more before them they are words (客户关系经理).
_CN_TITLE = "(?:老师|经理|总监|主管|医生|律师|老板|总)"
# Characters that end a Chinese given name: particles, verbs and function words that follow names.
_CN_STOP = "的了是在和也就说买要吗呢啊吧呀嘛为您你我他她们，。、！？：:,.!? 0-9a-zA-Z订电手地身号昨今已还都让帮"
_CN_SURNAME = "(?:" + "|".join(_CN_COMPOUND) + f"|[{_CN_SURNAMES}])"
_CN_GIVEN = f"(?:(?!{_CN_HONORIFIC}|{_CN_TITLE})(?![{_CN_STOP}])[\u4e00-\u9fff])"
_CN_HONORIFIC_NAME = re.compile(f"{_CN_SURNAME}{_CN_GIVEN}{{0,2}}?(?={_CN_HONORIFIC})"
                                f"|(?<![\u4e00-\u9fff]){_CN_SURNAME}(?={_CN_TITLE})|(?<=[是找和跟给请问])"
                                f"{_CN_SURNAME}(?={_CN_TITLE})")
_CN_CUE_NAME = re.compile(
    r"(?:我叫|我是|名字是|名字叫|姓名[:：]?|收件人[:：]?|联系人[:：]?|持卡人[:：]?|收货人[:：]?|"
    r"(?:朋友|老公|老婆|丈夫|妻子|儿子|女儿|妈妈|爸爸|同事|邻居|快递员|快递小哥|配送员|司机|客服|师傅|店员|"
    r"经理|主管|专员|客服专员)(?:叫|是|名叫)?|转告|请找|联系|收款人[:：]?|名字[是叫]?[:：，, ]?|交给|转交|谢谢)"
    rf" ?((?:[小老](?={_CN_SURNAME}))?{_CN_SURNAME}{_CN_GIVEN}{{0,2}})")
# "我姓黄": the surname alone; "让李雷给我回电话": a name between a request verb and what the person should do.
_CN_SURNAME_ONLY = re.compile(rf"(?:我姓|免贵姓|姓)({_CN_SURNAME})")
# A Chinese name after a Latin-script cue ("My name is 黄美玲", "the account holder is 郑国强"), a Latin
# name after a Chinese cue (我叫Aisha Brown), and a reply that opens with a Chinese name and then the e-mail.
_CN_AFTER_LATIN_CUE = re.compile(
    rf"(?i:name is|name's|holder is|holder:|inhaber|titular|titulaire|me llamo|m'appelle|heiße|je suis|soy|i'm|i am|"
    rf"it's|it is|c'est)"
    rf" ?({_CN_SURNAME}{_CN_GIVEN}{{1,2}})")
_LATIN_WORD = re.compile(r"[A-Za-z]{2}")
_CN_LEADING_NAME = re.compile(rf"^\s*({_CN_SURNAME}{_CN_GIVEN}{{1,2}})\s*[，,](?=\s*[^\s,，]*@|\s*\+?\d)")
_LATIN_AFTER_CN_CUE = re.compile(rf"(?:我叫|我是|名字是|姓名[:：]?|收件人[:：]?|联系人[:：]?|持卡人[:：]?|收货人[:：]?) ?"
                                 rf"({_NAME_WORD}(?: {_NAME_WORD}){{0,2}})")
_CN_REQUEST_NAME = re.compile(rf"(?:让|叫|请|告诉|通知)({_CN_SURNAME}{_CN_GIVEN}{{1,2}}?)(?=给|回|打|来|去|联系|尽快)")
_PINYIN_SURNAMES = frozenset("""
Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Gao Lin Luo Zheng Liang Xie Song Tang
Han Feng Deng Cao Peng Zeng Xiao Tian Dong Yuan Pan Yu Jiang Cai Du Ye Cheng Su Wei Lu Ding Ren Shen Yao Cui
Zhong Tan Fan Jin Shi Liao Jia Xia Fu Fang Bai Zou Meng Xiong Qin Qiu Yin Xue Yan Duan Lei Hou Long Tao Mao
Kong Kang Qian Gu Qi Qiao Ouyang Sima Shangguan Zhuge
""".split())
_PINYIN_SYLLABLE = (r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
                    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ei|ao|ou|an|en|in|un|ia|ie|iu|ua|uo|ui|ve|"
                    r"ue|er|a|o|e|i|u|v)")
_PINYIN_GIVEN = re.compile(rf"(?i:{_PINYIN_SYLLABLE}{{1,3}})")
_PINYIN_PAIR = re.compile(r"(?<![A-Za-z])([A-Z][a-z]{1,7}) ([A-Z][a-z]{1,11})(?![A-Za-z])")
_NOT_PINYIN_PAIRS = frozenset({"Hong Kong", "Kung Fu", "Tai Chi", "Feng Shui", "Dim Sum", "Ma Jiang", "Shang Hai",
                               "Bei Jing", "Li Ning", "Tian An"})


def _name_ok(name: str) -> bool:
    return name.split(" ")[0] not in _NOT_NAMES


def _strip_not_names(start: int, name: str) -> tuple[int, int] | None:
    """Drop trailing words that are not names ("Tom Baker Customer" -> "Tom Baker")."""
    words = name.split(" ")
    while words and words[-1] in _NOT_NAMES:
        words.pop()
    if not words or words[0] in _NOT_NAMES:
        return None
    return start, start + len(" ".join(words))


def _find_name(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    norm = t.norm
    if t.upper:
        for m in _HONORIFIC.finditer(norm):
            group = 1 if m.group(1) else 2
            span = _strip_not_names(m.start(group), m.group(group))
            if span:
                yield span
        lower = t.lower
        for cues, after in ((_STRONG_CUE, _NAME_AFTER), (_ROMANCE_CUE, _NAME_AFTER), (_WEAK_CUE, _PAIR_AFTER)):
            for cue in cues.finditer(lower):
                m = after.match(norm, cue.end())
                if m:
                    span = _strip_not_names(m.start(1), m.group(1))
                    if span and (after is _NAME_AFTER or " " in norm[span[0]:span[1]]):
                        yield span
        if " here" in lower:
            for m in _NAME_HERE.finditer(norm):
                yield m.span(1)
        m = _LEADING_NAME.match(norm)
        if m:
            span = _strip_not_names(m.start(1), m.group(1))
            if span and " " in norm[span[0]:span[1]]:
                yield span
        for m in _PINYIN_PAIR.finditer(norm):
            family, given = m.group(1), m.group(2)
            if (family in _PINYIN_SURNAMES and _PINYIN_GIVEN.fullmatch(given)
                    and m.group() not in _NOT_PINYIN_PAIRS and given not in _NOT_NAMES):
                yield m.span()
    if t.cjk and t.upper and _LATIN_WORD.search(norm):
        for m in _LATIN_AFTER_CN_CUE.finditer(norm):
            span = _strip_not_names(m.start(1), m.group(1))
            if span:
                yield span
    if t.cjk:
        for m in _CN_HONORIFIC_NAME.finditer(norm):
            yield m.span()
        latin = _LATIN_WORD.search(norm) is not None
        for pattern in (_CN_CUE_NAME, _CN_SURNAME_ONLY, _CN_REQUEST_NAME, _CN_AFTER_LATIN_CUE, _CN_LEADING_NAME):
            if pattern is _CN_AFTER_LATIN_CUE and not latin:
                continue
            for m in pattern.finditer(norm):
                if m.end(1) - m.start(1) >= 1 and not (pattern is _CN_CUE_NAME and m.end(1) - m.start(1) == 1
                                                        and m.group(1) not in _CN_COMPOUND):
                    yield m.span(1)


# ------------------------------------------------------------------ dates of birth

_MONTHS = (r"(?:january|february|march|april|may|june|july|august|september|october|november|december|"
           r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|"
           r"januar|februar|märz|mai|juni|juli|oktober|dezember|"
           r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|"
           r"janvier|février|fevrier|mars|avril|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre)")
_DATE = re.compile(
    rf"(?<![0-9])(?:(?P<y1>\d{{4}})[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.](?P<y2>\d{{4}}|\d{{2}})"
    rf"|(?P<y3>\d{{4}}) ?年 ?\d{{1,2}} ?月 ?\d{{1,2}} ?[日号]?"
    rf"|(?i:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? (?P<y4>\d{{4}})"
    rf"|\d{{1,2}}(?:st|nd|rd|th|\.|er|º)? (?:de )?(?i:{_MONTHS})\.?,? (?:de )?(?P<y5>\d{{4}}))(?![0-9])")


def _find_birth_date(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    if not _BIRTH_CUE.search(t.lower):
        return
    this_year = date.today().year
    for m in _DATE.finditer(t.norm):
        year = next(y for y in (m.group("y1"), m.group("y2"), m.group("y3"), m.group("y4"), m.group("y5")) if y)
        year_n = int(year) if len(year) == 4 else 1900 + int(year)
        if not 1900 <= year_n < this_year:
            continue
        if t.cue_before(_BIRTH_CUE, m.start(), 30) or t.cue_after(_BIRTH_CUE, m.end(), 12):
            yield m.span()


# ------------------------------------------------------------------ vehicles and messaging

_CN_PLATE = re.compile(r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][·• ]?"
                       r"(?=[A-HJ-NP-Z]*\d)[A-HJ-NP-Z0-9]{5,6}(?![A-Za-z0-9])")
_PLATE = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Z]{2}\d{2} ?[A-Z]{3}"  # UK
    r"|[A-ZÄÖÜ]{1,3}[- ][A-Z]{1,2} ?\d{1,4}[EH]?"  # DE
    r"|\d{4}[ \-]?[B-DF-HJ-NP-TV-Z]{3}"  # ES
    r"|[A-Z]{2}-\d{3}-[A-Z]{2}"  # FR
    r"|(?=[A-Z0-9]*\d)(?=[0-9]*[A-Z])[A-Z0-9]{5,8})(?![A-Za-z0-9])")  # US and others


def _find_plate(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    norm = t.norm
    if t.cjk:
        for m in _CN_PLATE.finditer(norm):
            yield m.span()
    yield from _named_value(t, _PLATE_CUE, _PLATE, 25)


_WECHAT_ID = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z][A-Za-z0-9_\-]{5,19}(?![A-Za-z0-9_\-])")
_WECHAT_FILLER = frozenset({"id", "is", "ist", "es", "est", "number", "account", "handle", "name", "here", "me"})
_WXID = re.compile(r"(?<![A-Za-z0-9_])wxid_[a-z0-9]{4,20}(?![A-Za-z0-9_])")


def _find_wechat(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    norm = t.norm
    for m in _WXID.finditer(norm):
        yield m.span()
    for cue in _WECHAT_CUE.finditer(t.lower):
        pos = cue.end()
        limit = min(len(norm), pos + 30)
        for m in _WECHAT_ID.finditer(norm, pos, limit):
            if _between_has_sentence_end(norm, pos, m.start()):
                break
            if m.group().lower() in _WECHAT_FILLER:
                continue
            yield m.span()
            break


# A social-media handle or mention (@name): not the middle of an e-mail address, not a lone "@", and
# not an importer's pseudonym (@tw-…: handles hold no hyphen).
_HANDLE = re.compile(r"(?<![A-Za-z0-9._%+\-@])@[A-Za-z0-9_]{2,30}(?![A-Za-z0-9_@\-])(?!\.[A-Za-z0-9\-]+\.)")


def _find_handle(raw: str, t: _Text) -> Iterator[tuple[int, int]]:
    for m in _HANDLE.finditer(t.norm):
        yield m.span()


# ------------------------------------------------------------------ the registry and the masker

RECOGNISERS: tuple[Recogniser, ...] = (
    Recogniser("email", "EMAIL", ("*",), "at", _find_email),
    Recogniser("iban", "IBAN", ("*",), "digit", _find_iban),
    Recogniser("identity_numbers", "ID_CARD", ("zh-CN", "zh-HK", "es", "en-GB", "fr", "de"), "digit", _find_id_card),
    Recogniser("us_ssn", "SSN", ("en-US",), "digit", _find_ssn),
    Recogniser("payment_card", "BANK_CARD", ("*",), "digit", _find_card),
    Recogniser("phone", "PHONE", ("en-US", "en-GB", "en-IN", "zh", "de", "es", "fr", "*"), "digit", _find_phone),
    Recogniser("passport", "PASSPORT", ("*",), "digit", _find_passport),
    Recogniser("ip_address", "IP", ("*",), "digit", _find_ip),
    Recogniser("street_address", "ADDRESS", ("en", "zh", "de", "es", "fr"), "digit", _find_address),
    Recogniser("birth_date", "BIRTH_DATE", ("en", "zh", "de", "es", "fr"), "digit", _find_birth_date),
    Recogniser("licence_plate", "PLATE", ("zh", "en-GB", "en-US", "de", "es", "fr"), "digit", _find_plate),
    Recogniser("wechat_id", "WECHAT", ("zh", "*"), "any", _find_wechat),
    Recogniser("person_name", "NAME", ("en", "zh", "de", "es", "fr"), "name", _find_name),
    Recogniser("handle", "HANDLE", ("*",), "at", _find_handle),
)


def _allow_key(value: str) -> str:
    """How an allowed value is compared: a number by its digits, anything else by its lower case."""
    digits = re.sub(r"\D", "", value)
    return digits if len(digits) >= 5 and not re.search(r"[A-Za-z@]", value) else value.strip().lower()


@functools.lru_cache(maxsize=8)
def _parse_allow(raw: str) -> frozenset[str]:
    return frozenset(_allow_key(v) for v in re.split(r"[,;\n]", raw) if v.strip())


def allowed_values() -> frozenset[str]:
    """Values kept verbatim although a recogniser matches them (``SI_PII_ALLOW``): a brand's hotline
    number, its own handle. Nothing is allowed unless listed: the default masks them all."""
    from service_insight.settings import get_settings

    return _parse_allow(get_settings().pii_allow)


def _wanted(needs: str, t: _Text) -> bool:
    if needs == "digit":
        return t.digit
    if needs == "at":
        return t.at
    if needs == "name":
        return t.upper or t.cjk
    return True


_MAYBE_WECHAT = re.compile(r"(?i)wechat|weixin|微信|vx|v信|wx|威信")


def find(text: str, names: list[tuple[int, int]] | None = None,
         allow: frozenset[str] = frozenset()) -> list[Finding]:
    """Every personal-data span in ``text``, without overlaps, in text order.

    ``names``: person-name spans a name model already found in this text (``mask_many`` runs the
    model over a whole batch); None runs it here, on this text alone. ``allow``: values (as
    ``_allow_key`` writes them) that stay as they are.
    """
    if not text:
        return []
    t = _Text(text)
    if not (t.digit or t.at or t.upper or t.cjk):
        return []
    candidates: list[Finding] = []
    for rec in RECOGNISERS:
        if not _wanted(rec.needs, t):
            continue
        if rec.type == "WECHAT" and not _MAYBE_WECHAT.search(t.norm):
            continue
        for start, end in rec.find(text, t):
            if end > start:
                candidates.append(Finding(start, end, rec.type, rec.name))
    if names is None and t.upper:
        names = pii_ner.find_names([text])[0]
    for start, end in names or ():
        span = _strip_not_names(start, text[start:end])
        if span and span[1] > span[0]:
            candidates.append(Finding(span[0], span[1], "NAME", "person_name_model"))
    if allow:
        candidates = [f for f in candidates if _allow_key(text[f.start:f.end]) not in allow]
    if len(candidates) <= 1:
        return candidates
    candidates.sort(key=lambda f: (-(f.end - f.start), -PRIORITY[f.type], f.start))
    kept: list[Finding] = []  # in text order, without overlaps
    starts: list[int] = []
    for f in candidates:
        i = bisect.bisect_right(starts, f.start)
        if (i == 0 or kept[i - 1].end <= f.start) and (i == len(kept) or f.end <= kept[i].start):
            kept.insert(i, f)
            starts.insert(i, f.start)
    return kept


def _apply(text: str, findings: list[Finding]) -> str:
    if not findings:
        return text
    parts, pos = [], 0
    for f in findings:
        parts.append(text[pos:f.start])
        parts.append(f"[{f.type}]")
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def mask(text: str | None) -> str | None:
    """``text`` with every personal-data span replaced by its typed token (``[PHONE]``, ``[NAME]``...)."""
    if text is None:
        return None
    return _apply(text, find(text, allow=allowed_values()))


def mask_many(texts: list[str | None], name_model: bool = True) -> list[str | None]:
    """``mask`` over many texts, the name model run once over the batch; a repeated text is masked once.

    ``name_model=False`` keeps to the rules: for text the platform writes itself around quoted values
    (a quarantine reason), where the model takes file formats for people ("unreadable Parquet file").
    """
    unique = list(dict.fromkeys(t for t in texts if t))
    names = pii_ner.find_names(unique) if name_model else [[] for _ in unique]  # [] = no name spans, model skipped
    allow = allowed_values()
    masked = {t: _apply(t, find(t, n, allow)) for t, n in zip(unique, names)}
    return [None if t is None else masked.get(t, t) for t in texts]


def count(text: str | None) -> int:
    """How many personal-data spans ``mask`` replaces in ``text``."""
    return len(find(text, allow=allowed_values())) if text else 0
