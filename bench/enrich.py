"""Enrichment throughput: our batched inference beside a plain transformers.pipeline.

    python bench/enrich.py [--conversations 3000] [--epochs 6]

Trains the intent classifier on generated conversations (first customer message, planted
intent), then scores the same held-out texts (1) with ``ml.classifier.predict`` (length-sorted
batches, dynamic padding, inference_mode; bf16/fp16 on CUDA) and (2) with
``transformers.pipeline("text-classification")`` on the same checkpoint and device, and prints
texts/s for both, their ratio, accuracy per language and peak memory. Figures only.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ml.classifier import TrainConfig, pick_device, predict, train_text_classifier  # noqa: E402
from warehouse.generator.core import GeneratorConfig  # noqa: E402
from warehouse.generator.writer import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=4, help="score the held-out texts this many times")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="si-bench-enrich-"))
    generate(GeneratorConfig(conversations=args.conversations, days=60, bad_row_rate=0), work / "landing",
             work / "truth", progress=False)
    turns = duckdb.sql(f"select * from read_csv('{work}/landing/turns/*.csv', all_varchar=true)").df()
    truth = pd.read_parquet(work / "truth" / "truth_conversations.parquet")
    first = (turns[turns["speaker"] == "customer"].groupby("conversation_id").first().reset_index()
             .merge(truth, on="conversation_id").sample(frac=1, random_state=1))
    cut = int(len(first) * 0.8)
    train, held = first.iloc[:cut], first.iloc[cut:]
    device = pick_device()
    result = train_text_classifier(train["text"].tolist(), train["intent"].tolist(), work / "intent",
                                   held["text"].tolist(), held["intent"].tolist(), cfg=TrainConfig(epochs=args.epochs))
    print(f"device {device}; torch {torch.__version__}; intent model trained on {len(train):,} texts in "
          f"{result.seconds:.1f} s; held-out accuracy {result.metrics['accuracy']:.3f}, "
          f"macro-F1 {result.metrics['macro_f1']:.3f}")
    texts = held["text"].tolist() * args.repeat
    predict(result.path, texts[:64])  # load and warm up
    t = time.perf_counter()
    ours, _, _ = predict(result.path, texts)
    ours_s = time.perf_counter() - t

    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(result.path), device=0 if device.type == "cuda" else -1)
    pipe(texts[:64])
    t = time.perf_counter()
    theirs = [r["label"] for r in pipe(texts, batch_size=64, truncation=True, max_length=128)]
    pipe_s = time.perf_counter() - t
    agree = sum(a == b for a, b in zip(ours, theirs)) / len(texts)
    print(f"\n{'task':<8}{'texts':>8}{'ours texts/s':>14}{'pipeline texts/s':>18}{'ratio':>8}{'same labels':>13}")
    print(f"{'intent':<8}{len(texts):>8,}{len(texts) / ours_s:>14,.0f}{len(texts) / pipe_s:>18,.0f}"
          f"{pipe_s / ours_s:>8.2f}{agree:>13.1%}")
    right = pd.Series(ours[:len(held)], index=held.index) == held["intent"]
    print("accuracy by language: " + ", ".join(
        f"{lang} {right[held['language'] == lang].mean():.2f} (n={int((held['language'] == lang).sum())})"
        for lang in ("zh", "en", "es", "fr", "de")))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
          + (f"; peak CUDA {torch.cuda.max_memory_allocated() / 2**20:,.0f} MB" if device.type == "cuda" else ""))


if __name__ == "__main__":
    main()
