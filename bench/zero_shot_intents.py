"""Day-one intents without reviewed labels: the taxonomy's zero-shot path on Banking77 against baselines.

    python bench/zero_shot_intents.py [--examples 0,3] [--limit N]

Banking77 (../shared/data/banking77, 77 intents, English) stands in for a company's first week: the
taxonomy is what a person would write on day one, the intent names in words (``card_arrival`` ->
"card arrival") plus, in a second setting, ``k`` example phrases per intent taken from the training
split. Every contact of the test split is scored against that taxonomy; nothing is trained on it.

Same run, same taxonomy text, for comparison:
- random: 1 / number of intents (expected accuracy),
- majority: the most frequent test intent (what "guess the common one" gets),
- keyword: word TF-IDF cosine between the message and each intent's taxonomy text (the same words the
  zero-shot path sees, matched literally instead of by meaning),
- zero-shot prototype (the product's path, ml.taxonomy + the configured embedder): nearest normalised
  mean of the intent's embedded texts.
Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"


def read(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def taxonomy_toml(names: list[str], train: dict[str, list[str]], k: int) -> str:
    from ml.taxonomy import _toml_string

    out = []
    for name in names:
        examples = ", ".join(_toml_string(t) for t in train[name][:k])
        out += ["[[intent]]", f"name = {_toml_string(name)}", f"examples = [{examples}]", ""]
    return "\n".join(out)


def keyword_baseline(tax, texts: list[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [" ".join(i.texts()) for i in tax.intents]
    vec = TfidfVectorizer(ngram_range=(1, 1), sublinear_tf=True).fit(docs + texts)
    return np.asarray((vec.transform(texts) @ vec.transform(docs).T).todense()).argmax(axis=1)


def zero_shot(tax, embedder, vectors: np.ndarray) -> np.ndarray:
    from ml.taxonomy import taxonomy_prototypes

    names, counts, rows = taxonomy_prototypes(tax, embedder)
    protos, start = [], 0
    for n in counts:
        p = rows[start:start + n].mean(axis=0)
        protos.append(p / max(np.linalg.norm(p), 1e-9))
        start += n
    return (vectors @ np.vstack(protos).T).argmax(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", default="0,3", help="example phrases per intent in the taxonomy, per setting")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N test messages (0: all 3,080)")
    args = ap.parse_args()
    from ml.embeddings import get_embedder
    from ml.taxonomy import parse_taxonomy

    train_texts, train_labels = read(SHARED / "train.csv")
    test_texts, test_labels = read(SHARED / "test.csv")
    if args.limit:
        test_texts, test_labels = test_texts[:args.limit], test_labels[:args.limit]
    names = sorted(set(train_labels))
    by_intent: dict[str, list[str]] = defaultdict(list)
    for t, y in zip(train_texts, train_labels):
        by_intent[y].append(t)
    truth = np.array([names.index(y) for y in test_labels])
    embedder = get_embedder()
    started = time.perf_counter()
    vectors = embedder.queries(test_texts)
    rate = len(test_texts) / (time.perf_counter() - started)
    print(f"Banking77 test: {len(test_texts):,} messages, {len(names)} intents; embedder {embedder.name} "
          f"({rate:.0f} texts/s)")
    print(f"  random (expected)            accuracy {1 / len(names):.3f}")
    print(f"  majority                     accuracy {Counter(test_labels).most_common(1)[0][1] / len(test_labels):.3f}")
    for k in (int(x) for x in args.examples.split(",")):
        tax = parse_taxonomy(taxonomy_toml(names, by_intent, k), "banking77")
        assert not tax.errors, tax.errors
        kw = (keyword_baseline(tax, test_texts) == truth).mean()
        zs = (zero_shot(tax, embedder, vectors) == truth).mean()
        print(f"  names + {k} examples: keyword TF-IDF accuracy {kw:.3f} | zero-shot prototype accuracy {zs:.3f} "
              f"(x{zs / max(kw, 1e-9):.2f} the keyword baseline)")


if __name__ == "__main__":
    main()
