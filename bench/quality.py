"""Text classification on public data: the default trainer beside the two baselines it must not lose to.

    python bench/quality.py [--only banking77,goemotions,smp2019,cluemotion,tatoeba] [--max-train N]
                            [--budget-minutes M] [--json OUT] [--data DIR]

For each labelled set the default ``service-insight train TASK --train F --eval TEST --json`` runs
in-process on the CSV it reads (the CLI path a user takes, on a throw-away data folder), and in
the same run the two baselines are fitted here from plain scikit-learn, independently of the
trainer's own candidates:

- char TF-IDF + linear SVM: character 1-4-grams within word boundaries, sublinear TF-IDF,
  ``LinearSVC()`` with its defaults;
- frozen encoder + logistic regression: the sentence encoder the data calls for (all-MiniLM-L6-v2
  for English, the packaged multilingual e5 for Chinese), ``LogisticRegression(C=10)``.

The bar: the default is at least as good as the better baseline on the test split, in accuracy
and in macro-F1 (``>=`` with a 0.005 tolerance for noise), and the targets below. Sets:

- Banking77 (EN, 77 intents, 10,003 / 3,080): target accuracy >= 0.94.
- GoEmotions, Ekman's six emotions plus neutral, single-label (EN; the published ``ekman/`` files
  map the 27 emotions; a comment is kept when its labels map to exactly one Ekman label): target
  macro-F1 >= 0.60.
- SMP2019-ECDT domains (ZH, 29 domains, 2,063 / 516 short requests).
- CLUEmotion2020 (ZH Weibo, 7 emotions, 3,966 / 3,967).
- Tatoeba English-Mandarin: ``ml.translation``'s Marian model, BLEU and chrF per direction.

``--budget-minutes`` gives the trainer time for its fine-tuned candidate (default: none on a
CPU, 30 minutes on a GPU). Datasets are read from ``../shared/data`` (never copied into the
repo); a missing one is skipped with a message. Figures only: nothing here asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import io
import json
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from ml.classifier import evaluate  # noqa: E402
from ml.text_models import data_encoder, embed  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
CLASSIFICATION = ("banking77", "goemotions", "smp2019", "cluemotion")
TASKS = CLASSIFICATION + ("tatoeba",)
TARGETS = {"banking77": ("accuracy", 0.94), "goemotions": ("macro_f1", 0.60)}
NOISE = 0.005  # test-set differences below this are not a loss
BASELINE_C = 10.0


@dataclass
class Labelled:
    texts: list[str]
    labels: list[str]


@dataclass
class Figures:
    """One model's result on one set, as printed and written to JSON."""

    task: str
    model: str
    train_examples: int
    test_examples: int
    accuracy: float
    macro_f1: float
    train_seconds: float  # wall clock
    train_cpu_seconds: float  # user + system CPU time of this process: steadier than wall on a shared machine
    extra: dict | None = None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def dataset_folder(data_dir: Path, name: str, needed: Sequence[str]) -> Path | None:
    """The dataset's folder, or None after saying why it is skipped."""
    folder = data_dir / name
    missing = [f for f in needed if not (folder / f).exists()]
    if missing:
        print(f"{name}: skipped, {folder} is absent or lacks {', '.join(missing)} "
              f"(public datasets live in ../shared/data, see its README)")
        return None
    return folder


def subsample(data: Labelled, n: int | None, seed: int = 0) -> Labelled:
    if not n or n >= len(data.texts):
        return data
    order = random.Random(seed).sample(range(len(data.texts)), n)
    return Labelled([data.texts[i] for i in order], [data.labels[i] for i in order])


def write_cli_file(path: Path, data: Labelled) -> Path:
    """The ``text,label`` CSV that ``service-insight train`` and ``predict`` read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(zip(data.texts, data.labels))
    return path


# ------------------------------------------------------------------------------------------ datasets

def read_banking77(folder: Path) -> tuple[Labelled, Labelled]:
    def read(name: str) -> Labelled:
        with (folder / name).open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        return Labelled([r["text"] for r in rows], [r["category"] for r in rows])

    return read("train.csv"), read("test.csv")


def read_goemotions_ekman(folder: Path) -> tuple[dict[str, Labelled], dict[str, dict]]:
    """Single-label Ekman splits of GoEmotions, and per split the counts kept and dropped."""
    names = (folder / "ekman" / "labels.txt").read_text(encoding="utf-8").split()
    splits, counts = {}, {}
    for split in ("train", "dev", "test"):
        texts, labels, dropped = [], [], 0
        with (folder / "ekman" / f"{split}.tsv").open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                ids = {int(i) for i in row[1].split(",") if i.strip()}
                if len(ids) == 1 and row[0].strip():
                    texts.append(row[0])
                    labels.append(names[ids.pop()])
                else:
                    dropped += 1
        splits[split] = Labelled(texts, labels)
        counts[split] = {"kept": len(texts), "dropped": dropped,
                         "per_label": {n: labels.count(n) for n in names}}
    return splits, counts



def read_jsonl(path: Path, text_key: str, label_key: str) -> Labelled:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return Labelled([str(r[text_key]) for r in rows], [str(r[label_key]) for r in rows])


def load_set(data_dir: Path, name: str, max_train: int | None) -> tuple[Labelled, Labelled] | None:
    """(train, test) of a named set, or None after saying why it is skipped."""
    if name == "banking77":
        folder = dataset_folder(data_dir, "banking77", ["train.csv", "test.csv"])
        pair = read_banking77(folder) if folder else None
    elif name == "goemotions":
        folder = dataset_folder(data_dir, "goemotions", [f"ekman/{f}" for f in ("labels.txt", "train.tsv", "dev.tsv",
                                                                                   "test.tsv")])
        pair = None
        if folder:
            splits, counts = read_goemotions_ekman(folder)
            print("goemotions (Ekman, single-label: comments whose labels map to exactly one Ekman label): "
                  + "; ".join(f"{split} {c['kept']:,} kept, {c['dropped']:,} dropped" for split, c in counts.items()))
            pair = splits["train"], splits["test"]
    elif name == "smp2019":
        folder = dataset_folder(data_dir, "smp2019_ecdt", ["train.jsonl", "test.jsonl"])
        pair = (read_jsonl(folder / "train.jsonl", "text", "domain"),
                read_jsonl(folder / "test.jsonl", "text", "domain")) if folder else None
    elif name == "cluemotion":
        folder = dataset_folder(data_dir, "cluemotion", ["train.jsonl", "test.jsonl"])
        pair = (read_jsonl(folder / "train.jsonl", "content", "label"),
                read_jsonl(folder / "test.jsonl", "content", "label")) if folder else None
    else:
        raise ValueError(name)
    if pair is None:
        return None
    train, test = subsample(pair[0], max_train), pair[1]
    print(f"{name}: {len(train.texts):,} train / {len(test.texts):,} test, {len(set(train.labels))} labels", flush=True)
    return train, test


# ------------------------------------------------------------------------------------------ models

def _score(task: str, model: str, train: Labelled, test: Labelled, predicted: Sequence[str], seconds: float,
           cpu: float, extra: dict | None = None) -> Figures:
    m = evaluate(test.labels, list(predicted), sorted(set(train.labels) | set(test.labels)))
    return report(Figures(task, model, len(train.texts), len(test.texts), m["accuracy"], m["macro_f1"],
                          round(seconds, 1), round(cpu, 1), extra))


def tfidf_svm_baseline(task: str, train: Labelled, test: Labelled) -> Figures:
    """Plain scikit-learn: character 1-4-gram TF-IDF and a linear SVM with its default settings."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    started, cpu = time.perf_counter(), cpu_seconds()
    pipe = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True), LinearSVC())
    pipe.fit(train.texts, train.labels)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return _score(task, "baseline: char TF-IDF + linear SVM", train, test, pipe.predict(test.texts), seconds, cpu)


def frozen_encoder_baseline(task: str, train: Labelled, test: Labelled) -> Figures:
    """The one encoder the data calls for, left as it is: embeddings plus a logistic regression."""
    from sklearn.linear_model import LogisticRegression

    encoder = data_encoder(train.texts)
    started, cpu = time.perf_counter(), cpu_seconds()
    classifier = LogisticRegression(C=BASELINE_C, max_iter=3000).fit(embed(encoder, train.texts), train.labels)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return _score(task, f"baseline: frozen {encoder} + logistic regression", train, test,
                  classifier.predict(embed(encoder, test.texts)), seconds, cpu)


def default_trainer(task: str, train: Labelled, test: Labelled, work: Path,
                    budget_minutes: float | None = None) -> Figures:
    """``service-insight train TASK --train F --eval TEST --json`` exactly as a user runs it."""
    from service_insight.cli import main as cli

    folder = work / task
    train_file, test_file = write_cli_file(folder / "train.csv", train), write_cli_file(folder / "test.csv", test)
    argv = ["train", task, "--train", str(train_file), "--eval", str(test_file), "--json"]
    if budget_minutes is not None:
        argv += ["--budget-minutes", str(budget_minutes)]
    saved = {k: os.environ.get(k) for k in ("SI_DATA_DIR", "SI_MODEL_DIR", "SI_WAREHOUSE_PATH")}
    os.environ["SI_DATA_DIR"] = str(folder / "data")  # a throw-away warehouse, never the user's
    for k in ("SI_MODEL_DIR", "SI_WAREHOUSE_PATH"):
        os.environ.pop(k, None)
    out = io.StringIO()
    started, cpu = time.perf_counter(), cpu_seconds()
    try:
        with contextlib.redirect_stdout(out):
            code = cli(argv)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if code != 0:
        raise RuntimeError(f"service-insight {' '.join(argv)} exited with {code}")
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    extra = {k: result[k] for k in ("chosen", "candidates", "candidate_details", "cv", "ece", "escalate_below")}
    figures = Figures(task, f"service-insight train (chose {result['chosen']})", len(train.texts), len(test.texts),
                      result["accuracy"], result["macro_f1"], round(seconds, 1), round(cpu, 1), extra)
    for name, c in result["candidate_details"].items():
        detail = (f"cross-validated macro-F1 {c['macro_f1']:.4f}, accuracy {c['accuracy']:.4f}, ECE {c['ece']:.3f}, "
                  f"{c['seconds']:.0f} s") if "macro_f1" in c else c.get("detail", "")
        print(f"    candidate {name:<11} {detail}")
    return report(figures)


def run_tatoeba(data_dir: Path, work: Path, max_train: int | None = None, epochs: int | None = None,
                seconds: float | None = None) -> list[dict]:
    """English<->Mandarin with ``ml.translation`` (written separately); skipped when it is not there.

    The adapter is the block between the two rules: the API it needs is
    ``tatoeba_pairs(path, split)``, ``train_translation_model(pairs, out_dir, eval_pairs, cfg)`` and
    ``TranslationConfig``; the per-direction BLEU/chrF come back in ``result.metrics["directions"]``.
    """
    try:
        translation = importlib.import_module("ml.translation")
    except ImportError as exc:
        print(f"translation: ml.translation not available ({exc})")
        return []
    needed = ("tatoeba_pairs", "train_translation_model", "TranslationConfig")
    if not all(hasattr(translation, name) for name in needed):
        lacking = ", ".join(name for name in needed if not hasattr(translation, name))
        print(f"translation: ml.translation not available (it lacks {lacking})")
        return []
    folder = dataset_folder(data_dir, "tatoeba_cmn_en", ["cmn.txt"])
    if folder is None:
        return []
    # ---------------------------------------------------------------- adapter to ml.translation
    train = translation.tatoeba_pairs(folder / "cmn.txt", split="train")
    test = translation.tatoeba_pairs(folder / "cmn.txt", split="test")
    if max_train:
        train = train[:max_train]
    cfg = translation.TranslationConfig()
    overrides = {"max_epochs": epochs, "max_seconds": seconds}
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None and hasattr(cfg, k)})
    print(f"tatoeba: {len(train):,} train / {len(test):,} test pairs (both directions), "
          f"budget {cfg.max_seconds:.0f} s or {cfg.max_epochs} epochs", flush=True)
    result = translation.train_translation_model(train, work / "tatoeba" / "model", test,
                                                 replace(cfg, eval_pairs_per_direction=len(test)))
    directions = result.metrics.get("directions", {})
    # ----------------------------------------------------------------------------------------
    rows = [{"task": "tatoeba", "direction": d, **s, "train_seconds": result.seconds,
             "train_pairs": len(train)} for d, s in sorted(directions.items())]
    for r in rows:
        print(f"  {r['direction']}: BLEU {r['bleu']:.1f}, chrF {r['chrf']:.1f} on {r['pairs']:,} pairs "
              f"(trained {r['train_seconds']:.0f} s)", flush=True)
    return rows


# ------------------------------------------------------------------------------------------ report

def report(f: Figures) -> Figures:
    ece = f", ECE {f.extra['ece']:.3f}" if f.extra and "ece" in f.extra else ""
    print(f"  {f.model}: accuracy {f.accuracy:.4f}, macro-F1 {f.macro_f1:.4f}{ece}, {f.train_seconds:,.0f} s "
          f"({f.train_cpu_seconds:,.0f} CPU s)", flush=True)
    return f


def summary(figures: list[Figures], translations: list[dict]) -> list[dict]:
    """Per set: the default against the better baseline in each metric, and the target where there is one."""
    rows = []
    for task in dict.fromkeys(f.task for f in figures):
        mine = [f for f in figures if f.task == task and not f.model.startswith("baseline")]
        baselines = [f for f in figures if f.task == task and f.model.startswith("baseline")]
        if not mine:
            continue
        f = mine[0]
        for metric in ("accuracy", "macro_f1"):
            best = max(baselines, key=lambda b: getattr(b, metric), default=None)
            value = getattr(f, metric)
            row = {"task": task, "model": f.model, "metric": metric, "value": value,
                   "best_baseline": getattr(best, metric) if best else None,
                   "baseline_model": best.model if best else None}
            row["vs_baselines"] = "-" if best is None else "PASS" if value >= row["best_baseline"] - NOISE else "FAIL"
            target = TARGETS.get(task)
            row["target"] = f">= {target[1]}" if target and target[0] == metric else "-"
            row["target_result"] = ("PASS" if value >= target[1] else "FAIL") if row["target"] != "-" else "-"
            rows.append(row)
    for t in translations:
        rows.append({"task": "tatoeba", "model": f"ml.translation {t['direction']}", "metric": "chrF",
                     "value": t["chrf"], "best_baseline": None, "baseline_model": None, "vs_baselines": "-",
                     "target": "reported", "target_result": "-"})
    return rows


def print_tables(figures: list[Figures], rows: list[dict]) -> None:
    if figures:
        print(f"\n{'set':<11}{'model':<52}{'train':>8}{'test':>7}{'accuracy':>10}{'macro-F1':>10}{'train s':>9}")
        for f in figures:
            print(f"{f.task:<11}{f.model[:51]:<52}{f.train_examples:>8,}{f.test_examples:>7,}{f.accuracy:>10.4f}"
                  f"{f.macro_f1:>10.4f}{f.train_seconds:>9,.0f}")
    if rows:
        print(f"\n{'set':<11}{'metric':<10}{'default':>8}{'best baseline':>15}  {'>= baselines':<13}{'target':<9}"
              f"{'result':<6}")
        for r in rows:
            base = f"{r['best_baseline']:.4f}" if r["best_baseline"] is not None else "-"
            print(f"{r['task']:<11}{r['metric']:<10}{r['value']:>8.4f}{base:>15}  {r['vs_baselines']:<13}"
                  f"{r['target']:<9}{r['target_result']:<6}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(TASKS), help=f"comma-separated subset of {','.join(TASKS)}")
    parser.add_argument("--max-train", type=int, help="train on at most N examples per set (a quick smoke run)")
    parser.add_argument("--budget-minutes", type=float, help="fine-tuning budget handed to service-insight train")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help=f"datasets folder (default {DATA_DIR})")
    parser.add_argument("--translation-seconds", type=float, help="training budget of the translation model")
    args = parser.parse_args(argv)
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = sorted(set(only) - set(TASKS))
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="si-bench-quality-"))
    print(f"data {args.data}; work {work}", flush=True)
    figures: list[Figures] = []
    for name in (t for t in CLASSIFICATION if t in only):
        pair = load_set(args.data, name, args.max_train)
        if pair is None:
            continue
        train, test = pair
        figures.append(default_trainer(name, train, test, work, args.budget_minutes))
        figures.append(tfidf_svm_baseline(name, train, test))
        figures.append(frozen_encoder_baseline(name, train, test))
    translations = run_tatoeba(args.data, work, args.max_train, None, args.translation_seconds) \
        if "tatoeba" in only else []
    rows = summary(figures, translations)
    print_tables(figures, rows)
    wall = time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nwall {wall:,.0f} s; peak RSS {peak_rss_mb:,.0f} MB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "argv": sys.argv[1:] if argv is None else argv, "wall_seconds": round(wall, 1),
            "peak_rss_mb": round(peak_rss_mb), "figures": [asdict(f) for f in figures], "translation": translations,
            "summary": rows}, indent=2, default=str))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
