"""How cost grows with volume: the whole pipeline at 10k, 100k and 1M conversations.

    python bench/scale.py [--sizes 10000 100000 1000000] [--days 120] [--ingest-only-above N]
                          [--workdir DIR] [--keep]

For each size the generator writes the landing files once; every daily file of the last day is
held back. Then the real ``service-insight materialize --no-docs`` runs in a subprocess (as a
scheduled run would) on everything but that day, and again after the held-back day lands, so
the second run is "one new day of data". Reported per size, from the Dagster run's own step
timings: ingest, enrichment (model training + scoring; CUDA when the machine has it), dbt build
and publish seconds, wall time, warehouse size on disk (database + published snapshot), and
peak memory (the sum of RSS over the whole process tree, dbt subprocesses included, sampled
every 0.2 s). Growth is shown as the cost per 1,000 conversations relative to the smallest
size (1.00 = linear) and the re-run as a share of the full run. Figures are printed (and saved
as JSON beside the data), never asserted.

Sizes above ``--ingest-only-above`` run the ingestion assets only (``materialize --only
ingestion``): a full 1M run needs hours of CPU enrichment on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from sample_data.core import GeneratorConfig  # noqa: E402
from sample_data.writer import generate  # noqa: E402
from warehouse.ingest import file_day  # noqa: E402
from warehouse.sources import SOURCE_BY_NAME  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STAGES = ("ingest", "enrichment", "dbt", "publish")


def stage_of(step_key: str) -> str:
    """Which stage a Dagster step belongs to (steps are named after their assets)."""
    if step_key.startswith("raw__"):
        return "ingest"
    if step_key.startswith(("dbt_core_models", "dbt_model_readers")):
        return "dbt"
    if step_key.startswith("warehouse_snapshot"):
        return "publish"
    return "enrichment"


class PeakMemory:
    """Largest total RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.peak = 0
        self._root = psutil.Process(pid)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                for p in [self._root, *self._root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                break
            self.peak = max(self.peak, total)
            self._stop.wait(self._every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_materialize(data_dir: Path, log: Path, only: list[str] | None = None) -> dict:
    """One ``service-insight materialize`` in a subprocess; wall, peak memory and stage seconds."""
    env = {**os.environ, "SI_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home"),
           "HF_HUB_OFFLINE": "1"}
    for name in ("SI_LANDING_DIR", "SI_WAREHOUSE_PATH", "SI_SNAPSHOT_DIR", "SI_GROUND_TRUTH_DIR", "SI_MODEL_DIR"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "service_insight.cli", "materialize", "--no-docs", *(["--only", *only] if only else [])]
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        memory = PeakMemory(proc.pid)
        code = proc.wait()
        peak = memory.stop()
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"materialize failed ({code}); see {log}")
    stages = dict.fromkeys(STAGES, 0.0)
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        for step in instance.get_run_step_stats(run.run_id):
            if step.start_time and step.end_time:
                stages[stage_of(step.step_key)] += step.end_time - step.start_time
    return {"wall_s": wall, "peak_rss_mb": peak / 2**20, **{f"{k}_s": v for k, v in stages.items()}}


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20 if path.exists() else 0.0


def hold_back_last_day(all_landing: Path, landing: Path) -> tuple[list[Path], str]:
    """Link every landing file into ``landing`` except the daily files of the last day."""
    daily = [p for p in all_landing.rglob("*") if p.is_file() and SOURCE_BY_NAME[p.parent.name].daily]
    last = max(d for d in (file_day(p) for p in daily) if d is not None)
    held = []
    for p in sorted(all_landing.rglob("*")):
        if not p.is_file():
            continue
        target = landing / p.relative_to(all_landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        if p in daily and file_day(p) == last:
            held.append(p)
            continue
        os.link(p, target)
    return held, last.isoformat()


def bench_size(n: int, days: int, work: Path, ingest_only: bool) -> dict:
    base = work / f"n{n}"
    shutil.rmtree(base, ignore_errors=True)
    all_landing, data = base / "all_landing", base / "data"
    t = time.perf_counter()
    summary = generate(GeneratorConfig(conversations=n, days=days), all_landing, base / "truth", progress=False)
    generate_s = time.perf_counter() - t
    held, last_day = hold_back_last_day(all_landing, data / "landing")
    only = ["ingestion"] if ingest_only else None
    print(f"  {n:,} conversations ({summary['turns']:,} turns) generated in {generate_s:.0f} s; "
          f"holding back {len(held)} files of {last_day}", flush=True)
    full = run_materialize(data, base / "full.log", only)
    full["warehouse_mb"] = folder_mb(data / "warehouse")
    full["snapshot_mb"] = folder_mb(data / "snapshots")
    print(f"  full run {full['wall_s']:.0f} s, peak {full['peak_rss_mb']:,.0f} MB", flush=True)
    for p in held:
        target = data / "landing" / p.relative_to(all_landing)
        os.link(p, target)
    rerun = run_materialize(data, base / "new_day.log", only)
    print(f"  one new day {rerun['wall_s']:.0f} s", flush=True)
    return {"conversations": n, "turns": summary["turns"], "generate_s": generate_s, "ingest_only": ingest_only,
            "full": full, "new_day": rerun}


def work_s(run: dict) -> float:
    """Seconds of the run's steps: wall time less process start-up and dbt parsing, which do not grow."""
    return sum(run[f"{k}_s"] for k in STAGES)


def print_table(results: list[dict]) -> None:
    base = results[0]
    head = (f"{'conversations':>13} {'turns':>10} {'ingest s':>9} {'enrich s':>9} {'dbt s':>8} {'publish s':>9} "
            f"{'wall s':>8} {'disk MB':>9} {'peak MB':>8} {'per-1k vs smallest':>19} {'new day s':>10} {'share':>6}")
    print("\n" + head)
    for r in results:
        f, d = r["full"], r["new_day"]
        comparable = base["ingest_only"] == r["ingest_only"]
        growth = (work_s(f) / r["conversations"]) / (work_s(base["full"]) / base["conversations"])
        label = f"{growth:.2f}" if comparable else "n/a"
        enrich = "-" if r["ingest_only"] else f"{f['enrichment_s']:.0f}"
        dbt = "-" if r["ingest_only"] else f"{f['dbt_s']:.0f}"
        print(f"{r['conversations']:>13,} {r['turns']:>10,} {f['ingest_s']:>9.0f} {enrich:>9} {dbt:>8} "
              f"{f['publish_s']:>9.0f} {f['wall_s']:>8.0f} {f['warehouse_mb'] + f['snapshot_mb']:>9,.0f} "
              f"{f['peak_rss_mb']:>8,.0f} {label:>19} {d['wall_s']:>10.0f} {d['wall_s'] / f['wall_s']:>6.2f}")
    ingest_rates = ", ".join(f"{r['turns'] / max(r['full']['ingest_s'], 1e-9):,.0f}" for r in results)
    print(f"\nturns per second of ingestion (all sources' steps together), per size: {ingest_rates}")
    per_1k = ", ".join(f"{r['conversations']:,}: {1000 * r['full']['ingest_s'] / r['conversations']:.2f} s "
                       f"(new day {r['new_day']['ingest_s']:.1f} s)" for r in results)
    print(f"ingestion seconds per 1,000 conversations: {per_1k}")
    print("\n| conversations | turns | ingest s | enrichment s | dbt s | publish s | wall s | disk MB | peak MB "
          "| per 1k vs smallest | new day s (share) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        f, d = r["full"], r["new_day"]
        growth = (work_s(f) / r["conversations"]) / (work_s(base["full"]) / base["conversations"])
        same = base["ingest_only"] == r["ingest_only"]
        print(f"| {r['conversations']:,} | {r['turns']:,} | {f['ingest_s']:.0f} | "
              f"{'-' if r['ingest_only'] else round(f['enrichment_s'])} | {'-' if r['ingest_only'] else round(f['dbt_s'])} | "
              f"{f['publish_s']:.0f} | {f['wall_s']:.0f} | {f['warehouse_mb'] + f['snapshot_mb']:,.0f} | {f['peak_rss_mb']:,.0f} | "
              f"{f'{growth:.2f}' if same else 'n/a'} | {d['wall_s']:.0f} ({d['wall_s'] / f['wall_s']:.2f}) |")
    print("per-1k vs smallest: step seconds (ingest + enrichment + dbt + publish) per 1,000 conversations divided by "
          "the smallest size's (1.00 = linear)")
    print("share: the one-new-day re-run's wall time as a share of the full run; '-' = ingestion only at that size")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--ingest-only-above", type=int, default=100_000,
                        help="sizes above this run ingestion only (default 100000)")
    parser.add_argument("--workdir", default=None, help="keep the data here (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data afterwards")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="si-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        device = "cpu"
    print(f"scale bench in {work}: sizes {args.sizes}, {args.days} days, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM, enrichment on {device}", flush=True)
    results = []
    for n in sorted(args.sizes):
        results.append(bench_size(n, args.days, work, ingest_only=n > args.ingest_only_above))
        (work / "scale_results.json").write_text(json.dumps(results, indent=2))
        if not args.keep:
            shutil.rmtree(work / f"n{n}" / "all_landing", ignore_errors=True)
    print_table(results)
    print(f"\nraw figures: {work / 'scale_results.json'}")
    if not args.keep:
        for n in args.sizes:
            shutil.rmtree(work / f"n{n}", ignore_errors=True)


if __name__ == "__main__":
    main()
