"""Dagster's run history written by its stock SQLite event log and by ``orchestration.event_storage``, same run.

    python bench/event_storage.py [--assets 150] [--repeats 2]

A job of ``--assets`` assets, each with an asset check (the shape of a dbt build: a materialization per
model, a check evaluation per test), materialized into a fresh instance per storage class; prints the
wall time, events per second and the ratio. Figures only, never asserts.
"""



import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dagster import AssetCheckResult  # noqa: E402  (module level: Dagster resolves the checks' return hints)


def build_job(count: int) -> list:
    from dagster import AssetKey, asset, asset_check

    defs = []
    for i in range(count):
        @asset(name=f"model_{i}")
        def model() -> int:
            return 1

        @asset_check(asset=AssetKey(f"model_{i}"), name=f"test_{i}")
        def check() -> AssetCheckResult:
            return AssetCheckResult(passed=True)

        defs += [model, check]
    return defs


def one_run(storage: str, defs: list) -> tuple[float, int]:
    from dagster import DagsterInstance, materialize

    with tempfile.TemporaryDirectory() as home:
        if storage == "reusing":
            from orchestration.event_storage import storage_config

            Path(home, "dagster.yaml").write_text(storage_config(str(Path(home) / "history" / "runs")))
        instance = DagsterInstance.from_config(home)
        start = time.perf_counter()
        result = materialize(defs, instance=instance)
        seconds = time.perf_counter() - start
        events = len(instance.all_logs(result.run_id))
        instance.dispose()
        return seconds, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import logging

    logging.getLogger("dagster").setLevel(logging.WARNING)  # the figures, not the run's log
    defs = build_job(args.assets)
    best = {}
    for _ in range(args.repeats):
        for storage in ("stock", "reusing"):
            seconds, events = one_run(storage, defs)
            if storage not in best or seconds < best[storage][0]:
                best[storage] = (seconds, events)
    for storage, (seconds, events) in best.items():
        print(f"{storage:8s} {seconds:6.1f} s  {events:5d} events  {events / seconds:6.0f} events/s")
    print(f"ratio (stock / reusing wall): {best['stock'][0] / best['reusing'][0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
