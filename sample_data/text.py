"""Noise that real customers add to text: typos, code-switching, chat-style casing.

Why: a model trained on clean templates fails on real chat. Each function returns the new
text and whether it changed anything, so the ground truth can say which turns are noisy.
"""

from __future__ import annotations

import random
import string

from sample_data import phrasebank as pb

_FORMATTER = string.Formatter()


def fill(template: str, slots: dict[str, str]) -> str:
    """Fill a phrase-bank template; unknown slots stay visible instead of crashing."""
    names = {name for _, name, _, _ in _FORMATTER.parse(template) if name}
    return template.format(**{n: slots.get(n, "") for n in names}) if names else template


def latin_typo(text: str, rng: random.Random) -> str:
    """Swap, drop or double one letter inside a longer word."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    kind = rng.random()
    if kind < 0.4:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind < 0.7:
        w = w[:j] + w[j + 1:]
    else:
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


def chinese_typo(text: str, rng: random.Random) -> str:
    """Replace one character with a common input-method confusion."""
    present = [(a, b) for a, b in pb.ZH_TYPO_CONFUSIONS if a in text]
    if not present:
        return text
    a, b = rng.choice(present)
    return text.replace(a, b, 1)


def add_typo(text: str, language: str, rng: random.Random) -> str:
    return chinese_typo(text, rng) if language == "zh" else latin_typo(text, rng)


def code_switch(text: str, language: str, rng: random.Random) -> str:
    """Write one word in the other language, as bilingual customers do."""
    pairs = pb.CODE_SWITCH.get(language, ())
    present = [(a, b) for a, b in pairs if a in text]
    if not present:
        return text
    a, b = rng.choice(present)
    if language == "zh":
        return text.replace(a, f" {b} " if rng.random() < 0.3 else b, 1).replace("  ", " ").strip()
    return text.replace(a, b, 1)


def chat_style(text: str, rng: random.Random) -> str:
    """Lower-case and drop the final full stop, as people type in chat windows."""
    if rng.random() < 0.5:
        text = text.rstrip(".!。！")
    if text.isascii() and rng.random() < 0.5:
        text = text.lower()
    return text
