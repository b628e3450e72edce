"""Day-one emotion without reviewed labels: the zero-shot reader on real English and Chinese sets.

    python bench/zero_shot_turns.py [--limit N]

The product's five emotions (``ml.zero_shot_turns``) against real labelled sets, their labels mapped
to the nearest of the five (rows whose label has no counterpart, e.g. sadness or surprise, are left
out; GoEmotions rows with several labels too):

- GoEmotions test split (English Reddit comments): anger, annoyance, disgust -> angry; fear,
  nervousness -> anxious; confusion -> confused; joy, gratitude, admiration, approval, relief,
  love, amusement, excitement, optimism -> satisfied; neutral -> neutral.
- CLUEmotion test split (Chinese Weibo posts): anger, disgust -> angry; fear -> anxious; happiness,
  like -> satisfied (no neutral or confused class in the set).

Same run, same texts: majority class (of the test rows), a keyword baseline (word/char TF-IDF
cosine to each emotion's example lines, the zero-shot path's own text matched literally), the
zero-shot reader, and, for reference, what labels buy: char TF-IDF + logistic regression trained
on the set's training split mapped the same way (the product trains its own model once reviewers
agree on enough labels). Accuracy and macro-F1 over the classes present. Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GO_MAP = {"anger": "angry", "annoyance": "angry", "disgust": "angry", "fear": "anxious", "nervousness": "anxious",
          "confusion": "confused", "neutral": "neutral",
          **{k: "satisfied" for k in ("joy", "gratitude", "admiration", "approval", "relief", "love", "amusement",
                                      "excitement", "optimism")}}
CLUE_MAP = {"anger": "angry", "disgust": "angry", "fear": "anxious", "happiness": "satisfied", "like": "satisfied"}


def goemotions(split: str) -> tuple[list[str], list[str]]:
    names = (DATA / "goemotions" / "labels.txt").read_text(encoding="utf-8").split()
    texts, labels = [], []
    with (DATA / "goemotions" / f"{split}.tsv").open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            ids = row[1].split(",")
            if len(ids) == 1 and names[int(ids[0])] in GO_MAP:
                texts.append(row[0])
                labels.append(GO_MAP[names[int(ids[0])]])
    return texts, labels


def cluemotion(split: str) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (DATA / "cluemotion" / f"{split}.jsonl").open(encoding="utf-8") if line.strip()]
    return [r["content"] for r in rows if r["label"] in CLUE_MAP], [CLUE_MAP[r["label"]] for r in rows if r["label"] in CLUE_MAP]


def scores(truth: list[str], predicted: list[str]) -> str:
    from sklearn.metrics import accuracy_score, f1_score

    present = sorted(set(truth))
    return (f"accuracy {accuracy_score(truth, predicted):.3f}  macro-F1 "
            f"{f1_score(truth, predicted, labels=present, average='macro', zero_division=0):.3f}")


def limited(texts: list[str], labels: list[str], n: int) -> tuple[list[str], list[str]]:
    if n <= 0 or n >= len(texts):
        return texts, labels
    idx = sorted(random.Random(7).sample(range(len(texts)), n))
    return [texts[i] for i in idx], [labels[i] for i in idx]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=1500, help="test rows per set (0: all)")
    args = ap.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from ml.embeddings import get_embedder
    from ml.zero_shot_turns import EMOTION_EXAMPLES, emotion_prototypes, read_emotions, similarity_offsets
    from service_insight.settings import get_settings

    embedder = get_embedder(get_settings().embedding_model, "cpu")
    prototypes = emotion_prototypes(embedder)
    for name, loader, folder, analyzer in (("GoEmotions (en)", goemotions, "goemotions", "word"),
                                            ("CLUEmotion (zh)", cluemotion, "cluemotion", "char")):
        if not (DATA / folder).exists():
            print(f"{name}: skipped, {DATA / folder} is absent")
            continue
        texts, truth = limited(*loader("test"), args.limit)
        train_texts, train_labels = loader("train")
        print(f"\n{name}: {len(texts)} test rows, classes {dict(Counter(truth))}")
        majority = Counter(truth).most_common(1)[0][0]
        print(f"  majority ({majority}):{'':<14}{scores(truth, [majority] * len(truth))}")
        docs = [" ".join(EMOTION_EXAMPLES[label]) for label in EMOTION_EXAMPLES]
        vec = TfidfVectorizer(analyzer=analyzer, ngram_range=(1, 2) if analyzer == "char" else (1, 1),
                              sublinear_tf=True).fit(docs + texts)
        keyword = np.asarray((vec.transform(texts) @ vec.transform(docs).T).todense()).argmax(axis=1)
        print(f"  keyword (example lines):{'':<4}{scores(truth, [list(EMOTION_EXAMPLES)[i] for i in keyword])}")
        started = time.perf_counter()
        labels, probs = read_emotions(embedder, texts, prototypes)
        seconds = time.perf_counter() - started
        print(f"  zero-shot, no offsets:{'':<6}{scores(truth, [labels[i] for i in probs.argmax(axis=1)])}"
              f"  [{len(texts) / seconds:.0f} texts/s, {embedder.name}]")
        # The product subtracts offsets measured on the company's own turns; here, on these test texts (no labels).
        labels, probs = read_emotions(embedder, texts, prototypes, similarity_offsets(embedder, texts, prototypes))
        print(f"  zero-shot (the product):{'':<4}{scores(truth, [labels[i] for i in probs.argmax(axis=1)])}")
        lexical = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)
        clf = LogisticRegression(max_iter=2000, class_weight="balanced")
        clf.fit(lexical.fit_transform(train_texts), train_labels)
        print(f"  with labels: char TF-IDF + LR on {len(train_texts)} labelled rows: "
              f"{scores(truth, list(clf.predict(lexical.transform(texts))))}")


if __name__ == "__main__":
    main()
