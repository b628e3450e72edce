"""Enrichment throughput and quality per task: our batched inference beside a plain transformers.pipeline.

    python bench/enrich.py [--conversations 3000] [--days 60] [--repeat 2]

Generates a sample, runs the real build (ingestion, dbt, every enrichment asset), then for each
classifier task the pipeline trained (intent on first customer messages, emotion on customer
turns, quality acts on agent turns) scores the same texts (1) with ``ml.classifier.predict``
(length-sorted batches, dynamic padding, inference_mode; bf16/fp16 on CUDA) and (2) with
``transformers.pipeline("text-classification")`` on the same checkpoint and device, and prints
texts/s for both, their ratio and the share of identical labels; then accuracy against the
generator's truth per language, the embedding engine's texts/s (batched against one text per
call), translation when a model is current, training seconds per task, and peak memory.
Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

LANGS = ("zh", "en", "es", "fr", "de")


def build(work: Path, conversations: int, days: int) -> float:
    os.environ["SI_DATA_DIR"] = str(work)
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    (work / "dagster_home").mkdir(parents=True, exist_ok=True)
    from dagster import DagsterInstance, materialize

    from orchestration.definitions import ALL_ASSETS, build_resources
    from orchestration.partitions import landing_range_tags
    from service_insight.settings import get_settings
    from sample_data.core import GeneratorConfig
    from sample_data.writer import generate

    s = get_settings()
    generate(GeneratorConfig(conversations=conversations, days=days, bad_row_rate=0), s.landing_dir,
             s.ground_truth_dir, progress=False)
    t = time.perf_counter()
    result = materialize(ALL_ASSETS, resources=build_resources(), instance=DagsterInstance.ephemeral(),
                         tags=landing_range_tags(s.landing_dir))
    assert result.success
    return time.perf_counter() - t


def time_classifier(model_dir: Path, texts: list[str], device) -> tuple[float, float, float, list[str]]:
    from transformers import pipeline

    from ml.classifier import predict

    predict(model_dir, texts[:64])  # load and warm up
    t = time.perf_counter()
    ours, _, _ = predict(model_dir, texts)
    ours_s = time.perf_counter() - t
    pipe = pipeline("text-classification", model=str(model_dir), device=0 if device.type == "cuda" else -1)
    pipe(texts[:64])
    t = time.perf_counter()
    theirs = [r["label"] for r in pipe(texts, batch_size=64, truncation=True, max_length=128)]
    pipe_s = time.perf_counter() - t
    same = sum(a == b for a, b in zip(ours, theirs)) / max(1, len(texts))
    return len(texts) / ours_s, len(texts) / pipe_s, same, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=3000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2, help="score each task's texts this many times")
    parser.add_argument("--work", help="existing folder to reuse (built by an earlier run)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="si-bench-enrich-"))
    build_s = build(work, args.conversations, args.days) if not (work / "warehouse").exists() else float("nan")

    from ml.classifier import pick_device
    from service_insight.settings import get_settings

    os.environ["SI_DATA_DIR"] = str(work)
    s = get_settings()
    device = pick_device(s.device)
    conn = duckdb.connect(str(s.warehouse_path), read_only=True)
    truth_turns = pd.read_parquet(s.ground_truth_dir / "truth_turns.parquet")
    truth_conv = pd.read_parquet(s.ground_truth_dir / "truth_conversations.parquet")[
        ["conversation_id", "intent", "language"]]
    turns = conn.execute("select conversation_id, turn_index, speaker, text from staging.stg_raw__turns").df()
    runs = conn.execute("select task, model_version, path, train_seconds, train_examples, accuracy, macro_f1 "
                        "from ml.ml_model_runs where is_current").df().set_index("task")
    print(f"device {device}; torch {torch.__version__}; "
          + (f"reused build {work}; " if args.work else f"{args.conversations:,} conversations; ") +
          f"full build incl. training {build_s:,.0f} s")

    first = (turns[turns["speaker"] == "customer"].sort_values("turn_index").groupby("conversation_id").first()
             .reset_index().merge(truth_conv, on="conversation_id"))
    customer = (turns[turns["speaker"] == "customer"].merge(truth_turns, on=["conversation_id", "turn_index"])
                .merge(truth_conv[["conversation_id", "language"]], on="conversation_id"))
    agent = (turns[turns["speaker"] == "agent"].merge(truth_turns, on=["conversation_id", "turn_index"])
             .merge(truth_conv[["conversation_id", "language"]], on="conversation_id"))
    tasks = {"intent": (first, "intent"), "emotion": (customer, "emotion"), "quality_act": (agent, "act")}

    print(f"\n{'task':<13}{'texts':>8}{'ours texts/s':>14}{'pipeline texts/s':>18}{'ratio':>8}{'same labels':>13}"
          f"{'train s':>9}{'labels':>8}{'held-out acc':>14}")
    quality = {}
    for task, (frame, truth_col) in tasks.items():
        if task not in runs.index:
            print(f"{task:<13} no current model")
            continue
        run = runs.loc[task]
        texts = frame["text"].tolist() * args.repeat
        ours_rate, pipe_rate, same, labels = time_classifier(Path(run["path"]), texts, device)
        print(f"{task:<13}{len(texts):>8,}{ours_rate:>14,.0f}{pipe_rate:>18,.0f}{ours_rate / pipe_rate:>8.2f}"
              f"{same:>13.1%}{run['train_seconds']:>9.0f}{int(run['train_examples']):>8,}{run['accuracy']:>14.3f}")
        right = pd.Series(labels[:len(frame)], index=frame.index) == frame[truth_col]
        quality[task] = {lang: (right[frame["language"] == lang].mean(), int((frame["language"] == lang).sum()))
                         for lang in LANGS}
        quality[task]["all"] = (right.mean(), len(frame))

    print("\naccuracy against the generator's truth, all texts (not only held-out), by language:")
    print(f"{'task':<13}" + "".join(f"{lang:>16}" for lang in (*LANGS, "all")))
    for task, by_lang in quality.items():
        print(f"{task:<13}" + "".join(f"{by_lang[k][0]:.3f} (n={by_lang[k][1]:,})".rjust(16)
                                      for k in (*LANGS, "all")))

    from ml.embeddings import get_embedder

    embedder = get_embedder(s.embedding_model, s.device)
    sample = first["text"].tolist()[:400]
    embedder.passages(sample[:8])
    t = time.perf_counter()
    embedder.passages(sample)
    batched = len(sample) / (time.perf_counter() - t)
    t = time.perf_counter()
    for text in sample[:100]:
        embedder.passages([text])
    single = 100 / (time.perf_counter() - t)
    print(f"\nembeddings ({embedder.name}): batched {batched:,.0f} texts/s, one text per call {single:,.0f} "
          f"texts/s (ratio {batched / single:.2f})")
    facts = conn.execute("select count(*) filter (where is_candidate_new), count(*) from ml.intent_clusters"
                         ).fetchall()[0]
    print(f"intent discovery: {facts[1]} clusters, {facts[0]} flagged as candidate new intents")
    sim = conn.execute("""select method, avg((s.intent = t.intent)::int) from ml.intent_similarity s
                          join (select conversation_id, intent from intermediate.int_annotations__agreed_intents) t
                          using (conversation_id) group by 1 order by 1""").fetchall()
    print("zero/few-shot intent accuracy on reviewed contacts: " + ", ".join(f"{m} {a:.3f}" for m, a in sim))
    translation = runs.loc["translation"] if "translation" in runs.index else None
    if translation is not None:
        try:
            from ml.translation import translate

            zh = customer[customer["language"] == "zh"]["text"].tolist()[:200]
            t = time.perf_counter()
            translate(zh, ["zh"] * len(zh), "en", Path(translation["path"]))
            print(f"translation zh->en: {len(zh) / (time.perf_counter() - t):,.1f} sentences/s")
        except Exception as exc:  # the bench reports, it does not fail on an optional part
            print(f"translation: not measured ({exc})")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
          + (f"; peak CUDA {torch.cuda.max_memory_allocated() / 2**20:,.0f} MB" if device.type == "cuda" else ""))
    print(json.dumps({"work": str(work)}))


if __name__ == "__main__":
    main()
