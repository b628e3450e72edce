"""Which language a turn is written in: py3langid restricted to the languages this deployment serves.

Why restricted: a contact centre answers in a handful of languages; letting the identifier pick
among 97 turns short texts ("Danke", "ok") into Afrikaans or Latin. Why a shortcut for Chinese:
Han characters settle it at once, even in a two-character turn where n-gram statistics are thin,
and they do so in microseconds. Masking placeholders (``[PHONE]``, ``[NAME]``) are removed
before identification: they are English-looking tokens the customer never wrote.

Confidence is the identifier's normalised probability among the configured languages, so
``1 / len(languages)`` means "no idea"; callers choose their own cut (``min_confidence``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Sequence

DEFAULT_LANGUAGES: tuple[str, ...] = ("zh", "en", "es", "fr", "de")
UNDETERMINED = "und"  # ISO 639-2 for "no linguistic content / cannot tell"
CJK_SHORTCUT_RATIO = 0.5  # at least half the letters are Han characters -> Chinese

_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")  # Japanese or Korean: Han alone does not mean Chinese


@lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...]):
    """One py3langid model per language set (the model is ~5 MB; loading it costs ~0.3 s)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(languages))
    return identifier


def _letters(text: str) -> str:
    return "".join(ch for ch in _PLACEHOLDER.sub(" ", text) if ch.isalpha())


def detect_language(text: str | None, languages: Sequence[str] = DEFAULT_LANGUAGES,
                    min_confidence: float | None = None) -> tuple[str, float]:
    """(language, confidence) of one text; ``("und", 0.0)`` when it holds no letters at all.

    Below ``min_confidence`` the language is ``"und"`` and the confidence is kept, so a caller can
    tell "no letters" (0.0) from "too short to say" (say 0.3).
    """
    languages = tuple(languages)
    letters = _letters(text or "")
    if not letters:
        return UNDETERMINED, 0.0
    if "zh" in languages and not _KANA_HANGUL.search(letters):
        han_ratio = len(_HAN.findall(letters)) / len(letters)
        if han_ratio >= CJK_SHORTCUT_RATIO:
            return "zh", round(han_ratio, 4)
    language, confidence = _identifier(languages).classify(_PLACEHOLDER.sub(" ", text or ""))
    confidence = round(float(confidence), 4)
    if min_confidence is not None and confidence < min_confidence:
        return UNDETERMINED, confidence
    return language, confidence


def detect_languages(texts: Iterable[str | None], languages: Sequence[str] = DEFAULT_LANGUAGES,
                     min_confidence: float | None = None) -> list[tuple[str, float]]:
    """:func:`detect_language` over many texts; repeated texts are identified once (chats repeat a lot)."""
    languages = tuple(languages)
    seen: dict[str | None, tuple[str, float]] = {}
    out = []
    for text in texts:
        if text not in seen:
            seen[text] = detect_language(text, languages, min_confidence)
        out.append(seen[text])
    return out
