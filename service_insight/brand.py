"""The virtual agent's brand: its name, colours, face, greeting and hand-over words, in one TOML file.

Why a file and not settings: a brand is edited by whoever owns the company's look, as one piece
(with words in several languages), and is kept with the data folder it belongs to. The file is
``SI_BRAND_FILE`` (default ``brand.toml`` in the data folder); without one the neutral defaults
below apply. Example::

    name = "Aria"
    colour = "#d0021b"            # the ring around the face and the accents
    [face]
    skin = "#f2d2b6"
    hair = "#3b2a20"              # "" for none
    eyes = "#2b2b2b"
    [greeting]
    en = "Hi, I'm Aria. How can I help?"
    zh = "您好，我是Aria，请问有什么可以帮您？"
    [handover]
    en = "I'm connecting you with a colleague now."
    zh = "好的，我马上为您转接人工客服。"

A wrong file is refused with the reason (``BrandError``), never half applied.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_GREETING = {"en": "Hello, I'm the service assistant. How can I help you today?",
                    "zh": "您好，我是智能客服助手，请问有什么可以帮您？"}
DEFAULT_HANDOVER = {"en": "Thank you, I'm connecting you with a colleague who can help with this right away.",
                    "zh": "好的，我马上为您转接人工客服。"}


class BrandError(ValueError):
    """The brand file cannot be used: says which key and why."""


@dataclass(frozen=True)
class Brand:
    name: str = "Service assistant"
    colour: str = "#1f6feb"
    skin: str = "#f2d2b6"
    hair: str = "#3b2a20"
    eyes: str = "#2b2b2b"
    greeting: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_GREETING))
    handover: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HANDOVER))
    source: str = "defaults (no brand file)"

    def words(self, kind: str, language: str) -> tuple[str, str]:
        """(text, its language): the greeting or hand-over words in ``language``, else in English."""
        table = self.greeting if kind == "greeting" else self.handover
        if language in table:
            return table[language], language
        return table.get("en", next(iter(table.values()), "")), "en" if "en" in table else next(iter(table), "en")


def load_brand(path: Path | None) -> Brand:
    """The brand in ``path``; the defaults when there is no such file."""
    if path is None or not Path(path).is_file():
        return Brand()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BrandError(f"{path}: not a readable TOML file ({exc})") from exc
    known = {"name", "colour", "face", "greeting", "handover"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BrandError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    face = data.get("face", {})
    if not isinstance(face, dict) or set(face) - {"skin", "hair", "eyes"}:
        raise BrandError(f"{path}: [face] takes skin, hair and eyes")
    values = {"colour": data.get("colour", Brand.colour), "skin": face.get("skin", Brand.skin),
              "hair": face.get("hair", Brand.hair), "eyes": face.get("eyes", Brand.eyes)}
    for key, value in values.items():
        if not isinstance(value, str) or not (COLOUR.match(value) or (key == "hair" and value == "")):
            raise BrandError(f"{path}: {key} must be a colour like #1f6feb, not {value!r}")
    name = data.get("name", Brand.name)
    if not isinstance(name, str) or not name.strip() or len(name) > 40:
        raise BrandError(f"{path}: name must be 1-40 characters")
    tables = {}
    for kind, default in (("greeting", DEFAULT_GREETING), ("handover", DEFAULT_HANDOVER)):
        table = data.get(kind, default)
        if not isinstance(table, dict) or not table or not all(
                isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in table.items()):
            raise BrandError(f"{path}: [{kind}] maps languages to non-empty text, e.g. en = \"...\"")
        tables[kind] = dict(table)
    return Brand(name=name.strip(), **values, greeting=tables["greeting"], handover=tables["handover"],
                 source=str(path))
