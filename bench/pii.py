"""How well ``warehouse.pii`` masks personal data: recall and precision per type and language, and speed.

    python bench/pii.py [--eval tests/data/pii_eval.jsonl] [--speed 50000] [--misses] [--json OUT]
    python bench/pii.py --rebuild      # tests/data/pii_eval.annotated.txt -> tests/data/pii_eval.jsonl

The evaluation set is hand-written customer-service text in five languages: every form of
personal data a contact centre sees, and text that must stay (order numbers, dates that are not
birth dates, prices, quantities, times, tracking numbers). It is kept as annotated lines
(``[[TYPE:value]]``) and turned into ``pii_eval.jsonl`` (text, language, spans with start, end,
type), which is what is scored.

Scoring is span-level by overlap: an expected span is found when a predicted span of the same
type overlaps it (a span found with another type counts as missed); a predicted span is correct
when it overlaps an expected span of the same type. Speed is texts per second over realistic
contact-centre turns drawn by the sample generator (most carry no personal data, as in real
traffic), after one warm-up pass.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from warehouse import pii, pii_ner  # noqa: E402

EVAL_JSONL = ROOT / "tests" / "data" / "pii_eval.jsonl"
EVAL_SOURCE = ROOT / "tests" / "data" / "pii_eval.annotated.txt"
HOLDOUT_JSONL = ROOT / "tests" / "data" / "pii_holdout.jsonl"
HOLDOUT_SOURCE = ROOT / "tests" / "data" / "pii_holdout.annotated.txt"
BLIND_JSONL = ROOT / "tests" / "data" / "pii_blind.jsonl"
BLIND_SOURCE = ROOT / "tests" / "data" / "pii_blind.annotated.txt"
_MARK = re.compile(r"\[\[([A-Z_]+):(.+?)\]\]")


def parse_annotated(path: Path = EVAL_SOURCE) -> list[dict]:
    """Annotated lines (``lang: text with [[TYPE:value]]``) as evaluation examples with character offsets."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        language, sep, marked = line.partition(": ")
        if not sep or not re.fullmatch(r"[a-z]{2}", language):
            raise ValueError(f"{path.name} line {number}: expected '<language>: <text>', got {line!r}")
        text, spans, pos = [], [], 0
        out_len = 0
        for m in _MARK.finditer(marked):
            if m.group(1) not in pii.TOKENS:
                raise ValueError(f"{path.name} line {number}: unknown type {m.group(1)}")
            before = marked[pos:m.start()]
            text.append(before)
            out_len += len(before)
            spans.append({"start": out_len, "end": out_len + len(m.group(2)), "type": m.group(1)})
            text.append(m.group(2))
            out_len += len(m.group(2))
            pos = m.end()
        text.append(marked[pos:])
        examples.append({"text": "".join(text), "language": language, "spans": spans})
    return examples


def load_eval(path: Path = EVAL_JSONL) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _overlaps(a: dict, b) -> bool:
    return a["start"] < b.end and b.start < a["end"]


def score(examples: list[dict], find=pii.find) -> dict:
    """Counts and rates per type, per language and overall (see the module docstring for the rules)."""
    found = defaultdict(lambda: [0, 0])  # key -> [expected spans found, expected spans]
    correct = defaultdict(lambda: [0, 0])  # key -> [predicted spans correct, predicted spans]
    misses, false_alarms = [], []
    for ex in examples:
        predicted = find(ex["text"])
        keys = lambda typ: ("all", f"type:{typ}", f"lang:{ex['language']}")  # noqa: E731
        for exp in ex["spans"]:
            hit = any(p.type == exp["type"] and _overlaps(exp, p) for p in predicted)
            for k in keys(exp["type"]):
                found[k][0] += hit
                found[k][1] += 1
            if not hit:
                misses.append((ex["language"], exp["type"], ex["text"][exp["start"]:exp["end"]], ex["text"]))
        for p in predicted:
            ok = any(p.type == exp["type"] and _overlaps(exp, p) for exp in ex["spans"])
            for k in keys(p.type):
                correct[k][0] += ok
                correct[k][1] += 1
            if not ok:
                false_alarms.append((ex["language"], p.type, ex["text"][p.start:p.end], ex["text"]))
    rows = {}
    for k in sorted(set(found) | set(correct)):
        f, c = found[k], correct[k]
        rows[k] = {"expected": f[1], "found": f[0], "recall": f[0] / f[1] if f[1] else None,
                   "predicted": c[1], "correct": c[0], "precision": c[0] / c[1] if c[1] else None}
    return {"rows": rows, "examples": len(examples),
            "negatives": sum(1 for ex in examples if not ex["spans"]), "misses": misses, "false_alarms": false_alarms}


def realistic_texts(n: int, seed: int = 3) -> list[str]:
    """``n`` turns as the sample generator writes them (customers and agents, five languages)."""
    from datetime import datetime, timedelta

    from sample_data.calendar import CHANNELS
    from sample_data.core import ContactCentreSimulator, GeneratorConfig

    config = GeneratorConfig(conversations=max(200, n // 8), days=30, seed=seed)
    sim = ContactCentreSimulator(config)
    texts: list[str] = []
    start = datetime.combine(config.start, datetime.min.time())
    seq = 0
    while len(texts) < n:
        when = start + timedelta(minutes=(seq * 7) % (config.days * 24 * 60))
        contact = sim.contact(seq, when, CHANNELS[seq % len(CHANNELS)])
        texts.extend(str(t["text"]) for t in contact.turns if t.get("text"))
        seq += 1
    return texts[:n]


def throughput(texts: list[str], batch: int = 2048) -> float:
    """Texts per second through ``mask_many`` in vectors of ``batch`` (how the dbt build calls it)."""
    pii.mask_many(texts[:batch])
    began = time.perf_counter()
    for i in range(0, len(texts), batch):
        pii.mask_many(texts[i:i + batch])
    return len(texts) / (time.perf_counter() - began)


def with_name_model(enabled: bool) -> None:
    """Switch the name model on (the configured default) or off for what follows in this process."""
    if enabled:
        os.environ.pop("SI_PII_NER", None)
    else:
        os.environ["SI_PII_NER"] = "off"
    pii_ner._models.cache_clear()


def _fmt(rate: float | None) -> str:
    return "   -" if rate is None else f"{rate:.3f}"


def table(result: dict) -> str:
    rows = result["rows"]
    lines = ["| group | expected | recall | predicted | precision |", "|---|---:|---:|---:|---:|"]
    order = ([k for k in rows if k.startswith("type:")] + [k for k in rows if k.startswith("lang:")] + ["all"])
    for k in order:
        r = rows[k]
        label = "**overall**" if k == "all" else k.split(":", 1)[1] + (" (language)" if k.startswith("lang:") else "")
        lines.append(f"| {label} | {r['expected']} | {_fmt(r['recall'])} | {r['predicted']} | {_fmt(r['precision'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL_JSONL)
    parser.add_argument("--speed", type=int, default=50000, help="texts for the speed figure (0: skip)")
    parser.add_argument("--misses", action="store_true", help="list every missed and every false span")
    parser.add_argument("--rebuild", action="store_true", help="rewrite the jsonl from the annotated source")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-name-model", action="store_true", help="cue rules only (SI_PII_NER=off)")
    args = parser.parse_args(argv)
    if args.rebuild:
        for source, target in ((EVAL_SOURCE, EVAL_JSONL), (HOLDOUT_SOURCE, HOLDOUT_JSONL), (BLIND_SOURCE, BLIND_JSONL)):
            examples = parse_annotated(source)
            target.write_text("".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples), encoding="utf-8")
            print(f"wrote {len(examples)} examples to {target.relative_to(ROOT)}")
        return 0
    if args.no_name_model:
        with_name_model(False)
    result = score(load_eval(args.eval))
    langs = sorted(k.split(":")[1] for k in result["rows"] if k.startswith("lang:"))
    print(f"{result['examples']} examples ({result['negatives']} with nothing to mask), languages: {', '.join(langs)}")
    print(table(result))
    if args.misses:
        for title, items in (("missed", result["misses"]), ("false", result["false_alarms"])):
            print(f"\n{title} ({len(items)}):")
            for lang, typ, span, text in items:
                print(f"  {lang} {typ:10} {span!r:30} in {text!r}")
    speed = None
    if args.speed:
        texts = realistic_texts(args.speed)
        with_name_model(False)
        rules_only = throughput(texts)
        with_pii = sum(1 for t in texts if pii.find(t))
        with_name_model(not args.no_name_model)
        speed = throughput(texts) if not args.no_name_model else rules_only
        print(f"\nspeed over {len(texts):,} generated turns ({with_pii / len(texts):.1%} with personal data), "
              f"one process, vectors of 2,048 as the build masks them: {speed:,.0f} texts/s; cue rules alone "
              f"{rules_only:,.0f} texts/s (ratio {speed / rules_only:.2f})")
    if args.json:
        args.json.write_text(json.dumps({"rows": result["rows"], "texts_per_second": speed}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
