"""The company's own intent taxonomy: a TOML file of intents with descriptions and example phrases.

Why a file: a company starting with no reviewed labels still knows what its customers ask about.
Written down once (``<data folder>/taxonomy.toml``, or ``SI_TAXONOMY``), it gives day-one intents
(zero-shot: each contact goes to the intent whose description and examples it is closest to in
the multilingual embedding space), ticket routing (team, priority, SLA per intent) and the names
the reviewers pick from. It is edited without code; ``service-insight taxonomy check`` validates it
and ``service-insight taxonomy suggest`` writes a first draft from the clusters the build found.

Format::

    [[intent]]
    name = "card_arrival"                      # required: the label, one line (up to 80 characters)
    description = "Customer is waiting for a card that has not arrived"
    examples = ["Where is my new card?", "我的卡还没到"]
    team = "cards"                             # optional: routing
    priority = "P2"                            # optional: P1..P4
    sla_hours = 24                             # optional

A bad entry never stops a build: it is reported (``TaxonomyError`` lines) and left out.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

NAME_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,80}")  # real label sets carry "?", "/", spaces: any one-line text
PRIORITIES = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class IntentDef:
    name: str
    description: str = ""
    examples: tuple[str, ...] = ()
    team: str | None = None
    priority: str | None = None
    sla_hours: float | None = None

    def texts(self) -> list[str]:
        """What the zero-shot prototype is made of: the description (else the name in words) and the examples."""
        head = self.description or self.name.replace("_", " ").replace("-", " ")
        return [head, *self.examples]


@dataclass
class Taxonomy:
    intents: list[IntentDef] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.intents]


def parse_taxonomy(text: str, source: str = "taxonomy") -> Taxonomy:
    """Read the TOML text; every problem becomes an error line naming the entry, good entries are kept."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Taxonomy(errors=[f"{source}: not valid TOML ({exc})"])
    entries = raw.get("intent", [])
    unknown = sorted(set(raw) - {"intent"})
    tax = Taxonomy(errors=[f"{source}: unknown top-level key(s) {', '.join(unknown)} (only [[intent]] tables)"]
                   if unknown else [])
    if not isinstance(entries, list):
        tax.errors.append(f"{source}: 'intent' must be an array of tables ([[intent]])")
        return tax
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        where = f"{source}: intent #{n}"
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name.strip()):
            tax.errors.append(f"{where}: 'name' must be one line of text, 1 to 80 characters")
            continue
        name = name.strip()
        where = f"{source}: intent {name!r}"
        if name in seen:
            tax.errors.append(f"{where}: defined twice (the first definition is used)")
            continue
        extra = sorted(set(entry) - {"name", "description", "examples", "team", "priority", "sla_hours"})
        if extra:
            tax.errors.append(f"{where}: unknown key(s) {', '.join(extra)} ignored")
        description = entry.get("description", "")
        examples = entry.get("examples", [])
        if not isinstance(description, str):
            tax.errors.append(f"{where}: 'description' must be text")
            continue
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            tax.errors.append(f"{where}: 'examples' must be a list of texts")
            continue
        examples = tuple(e.strip() for e in examples if e.strip())
        priority = entry.get("priority")
        if priority is not None and priority not in PRIORITIES:
            tax.errors.append(f"{where}: priority {priority!r} is not one of {', '.join(PRIORITIES)}; left unset")
            priority = None
        sla = entry.get("sla_hours")
        if sla is not None and (isinstance(sla, bool) or not isinstance(sla, (int, float)) or sla <= 0):
            tax.errors.append(f"{where}: sla_hours must be a positive number; left unset")
            sla = None
        team = entry.get("team")
        team = team.strip() if isinstance(team, str) and team.strip() else None
        seen.add(name)
        tax.intents.append(IntentDef(name, description.strip(), examples, team, priority,
                                     float(sla) if sla is not None else None))
    return tax


def load_taxonomy(path: Path) -> Taxonomy:
    """The taxonomy file, or an empty taxonomy (no file is not an error: the build discovers clusters)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Taxonomy(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        return Taxonomy(errors=[f"{path}: cannot be read ({exc})"], path=path)
    tax = parse_taxonomy(text, str(path))
    tax.path = path
    return tax


def taxonomy_prototypes(tax: Taxonomy, embedder) -> tuple[list[str], list[int], np.ndarray]:
    """(names, texts per intent, embedded texts) for every intent: rows to average into prototypes."""
    names, counts, texts = [], [], []
    for intent in tax.intents:
        parts = intent.texts()
        names.append(intent.name)
        counts.append(len(parts))
        texts.extend(parts)
    vectors = embedder.queries(texts) if texts else np.zeros((0, embedder.dim), dtype=np.float32)
    return names, counts, vectors


# Words that name no topic in the languages the sample and the shared sets speak; clusters are named by
# what sets them apart, so the rest of the vocabulary is handled by the weighting, not by a list.
_STOP = set("""a an the and or but if of to in on at for from by with about into over after before is are was were be
been being am do does did have has had i me my we our you your he she it its they them their this that these those
what which who whom when where why how can could would should will shall may might must not no yes please thanks
thank hi hello hey just so too very also get got still there here any some all one as up out than then""".split())
# Scripts written without spaces between words: Han, kana, Thai, Lao, Khmer, Myanmar. Their runs are read as
# overlapping character pairs (no segmenter needed); every other script by its words.
_UNSPACED = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\u0e00-\u0eff\u1780-\u17ff\u1000-\u109f"
_TOKEN = re.compile(f"[{_UNSPACED}]+|[^\\W\\d_{_UNSPACED}][^\\W_{_UNSPACED}]*(?:['’-][^\\W_{_UNSPACED}]+)*")
_MASK_TOKEN = re.compile(r"\[[A-Z_]+\]")  # what PII masking leaves ([PHONE], [NAME]...) is no topic


def terms(text: str) -> list[str]:
    """Words (lower-case, no stop words, 3+ letters) of scripts that space their words, in any alphabet,
    and overlapping character pairs of runs in scripts that do not (Chinese, Japanese kana, Thai...)."""
    out = []
    for token in _TOKEN.findall(_MASK_TOKEN.sub(" ", text).lower()):
        if re.match(f"[{_UNSPACED}]", token):
            out.extend(token[i:i + 2] for i in range(max(len(token) - 1, 1)))
        elif token not in _STOP and len(token) > 2:
            out.append(token)
    return out


def cluster_terms(texts: Sequence[str], labels: Sequence[int], top: int = 3) -> dict[int, list[str]]:
    """The ``top`` terms that set each cluster apart (frequent inside it, rarer outside: class TF-IDF)."""
    docs: dict[int, Counter] = {}
    for text, label in zip(texts, labels):
        docs.setdefault(int(label), Counter()).update(set(terms(text)))
    sizes = Counter(int(label) for label in labels)
    total = sum(sizes.values())
    overall: Counter = Counter()
    for counts in docs.values():
        overall.update(counts)
    named = {}
    for label, counts in docs.items():
        scored = []
        for term, k in counts.items():
            if k < 2 and sizes[label] > 3:
                continue
            share_in = k / sizes[label]
            share_out = (overall[term] - k + 1) / (total - sizes[label] + 1)
            scored.append((share_in * np.log(1 + share_in / share_out), term))
        named[label] = [t for _, t in sorted(scored, key=lambda x: (-x[0], x[1]))[:top]]
    return named


def suggest_toml(clusters: Sequence[dict], known: Sequence[str] = ()) -> str:
    """A draft taxonomy from discovered clusters: one intent per cluster, named by its terms, its
    nearest members as examples. Clusters a known intent explains are listed as comments only."""
    lines = ["# Draft intent taxonomy from the contacts' clusters (service-insight taxonomy suggest).",
             "# Rename each intent, write what it means, keep the examples that fit, delete the rest;",
             "# then save as taxonomy.toml in the data folder and rebuild.", ""]
    used: set[str] = set(known)
    for c in sorted(clusters, key=lambda c: -c["size"]):
        words = [w for w in c.get("terms") or [] if w]
        base = "_".join(re.sub(r"[^\w]+", "_", w).strip("_") for w in words[:2]) or f"cluster_{c['cluster_id']}"
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        if not c.get("is_candidate_new", True) and c.get("nearest_intent"):
            lines.append(f"# cluster {c['cluster_id']} ({c['size']} contacts) is explained by "
                         f"{c['nearest_intent']!r}: {', '.join(words)}")
            continue
        used.add(name)
        examples = ", ".join(_toml_string(e) for e in (c.get("examples") or [])[:3])
        lines += ["[[intent]]", f"name = {_toml_string(name)}",
                  f"description = {_toml_string('Contacts about ' + ', '.join(words) if words else '')}",
                  f"examples = [{examples}]", f"# {c['size']} contacts in this cluster", ""]
    return "\n".join(lines).rstrip() + "\n"


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("\r", " ")
    return f'"{escaped}"'
