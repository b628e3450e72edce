"""Answers from past resolved contacts: how similar must a past question be before its answer is reused?

    python bench/past_answers.py [--history N] [--queries N]

The live answer view offers the agent's reply to the nearest past resolved question
(``marts.dim_resolved_answers``) and does not hand the contact to a person when that question is at
least ``SI_ANSWER_MATCH_MIN_SIMILARITY`` similar. Reusing an answer is right when the two questions
need the same answer; on real labelled sets "same intent" stands in for that:

- Banking77 (English, 77 intents): the training split is the company's history, test messages are
  the new contacts;
- SMP2019-ECDT (Chinese, 29 domains x actions): the same, labelled by intent.

For each similarity bar: coverage (share of new messages whose nearest past question reaches it)
and precision (share of those whose nearest past question has the same intent), for the product's
encoder and, in the same run, a char n-gram TF-IDF nearest neighbour (the strong lexical baseline) at
the bar that gives the same coverage. Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BARS = (0.90, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98)


def banking77() -> tuple[list[str], list[str], list[str], list[str]]:
    def read(name: str):
        with (DATA / "banking77" / name).open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        return [r["text"] for r in rows], [r["category"] for r in rows]

    return (*read("train.csv"), *read("test.csv"))


def smp2019() -> tuple[list[str], list[str], list[str], list[str]]:
    def read(name: str):
        rows = [json.loads(line) for line in (DATA / "smp2019_ecdt" / name).open(encoding="utf-8") if line.strip()]
        return [r["text"] for r in rows], [r["intent"] for r in rows]

    return (*read("train.jsonl"), *read("test.jsonl"))


def sample(texts: list[str], labels: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    if n <= 0 or n >= len(texts):
        return texts, labels
    idx = random.Random(seed).sample(range(len(texts)), n)
    return [texts[i] for i in idx], [labels[i] for i in idx]


def nearest(history: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sims = queries @ history.T
    sims = np.asarray(sims.todense()) if hasattr(sims, "todense") else sims
    best = sims.argmax(axis=1)
    return best, sims[np.arange(len(best)), best]


def report(name: str, hist_labels: list[str], query_labels: list[str], best: np.ndarray, score: np.ndarray,
           lexical_best: np.ndarray, lexical_score: np.ndarray) -> None:
    right = np.array([hist_labels[b] == q for b, q in zip(best, query_labels)])
    lexical_right = np.array([hist_labels[b] == q for b, q in zip(lexical_best, query_labels)])
    print(f"\n{name}: {len(hist_labels)} past questions, {len(query_labels)} new messages; nearest-neighbour "
          f"intent match at any similarity: encoder {right.mean():.3f}, char TF-IDF {lexical_right.mean():.3f}")
    print(f"{'bar':>5} {'coverage':>9} {'precision':>10} | char TF-IDF at the same coverage: {'precision':>9}")
    order = np.argsort(-lexical_score)
    for bar in BARS:
        covered = score >= bar
        n = int(covered.sum())
        lexical = lexical_right[order[:n]].mean() if n else float("nan")
        print(f"{bar:>5.2f} {covered.mean():>9.3f} {right[covered].mean() if n else float('nan'):>10.3f} | "
              f"{'':>33}{lexical:>9.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=0, help="past questions per set (0: the whole training split)")
    ap.add_argument("--queries", type=int, default=1000, help="new messages per set (0: the whole test split)")
    args = ap.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ml.embeddings import get_embedder
    from service_insight.settings import get_settings

    embedder = get_embedder(get_settings().embedding_model, "cpu")
    for name, loader, folder in (("Banking77 (en)", banking77, "banking77"), ("SMP2019-ECDT (zh)", smp2019, "smp2019_ecdt")):
        if not (DATA / folder).exists():
            print(f"{name}: skipped, {DATA / folder} is absent")
            continue
        ht, hl, qt, ql = loader()
        ht, hl = sample(ht, hl, args.history, 1)
        qt, ql = sample(qt, ql, args.queries, 2)
        started = time.perf_counter()
        history, queries = embedder.queries(ht), embedder.queries(qt)
        seconds = time.perf_counter() - started
        best, score = nearest(history, queries)
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(ht + qt)
        lexical_best, lexical_score = nearest(vec.transform(ht), vec.transform(qt))
        report(f"{name} [{embedder.name}, {len(ht) + len(qt)} texts in {seconds:.0f} s]", hl, ql, best, score,
               lexical_best, lexical_score)


if __name__ == "__main__":
    main()
