"""A build started from the console: one progress line per stage, the full log in a file, core marts first.

Why: a build writes thousands of Dagster and dbt log lines; a person waiting at the console needs
to know which stage runs, how long it took and how long is left. The full log still exists, in
``$SI_DATA_DIR/logs/``. And a first build need not hold the dashboards back until every model is
trained: the core stage (ingestion, every dbt model over empty model tables, a snapshot marked
as waiting for the models) publishes in a fraction of the time, then the full build follows.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from dagster import AssetSelection, DagsterEventType, DagsterInstance, materialize

# Asset groups the core stage leaves for the full build: every model that trains or scores.
MODEL_GROUPS = ("enrichment",)
STAGE_TAG = "si/stage"
_STEP_EVENTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}


@dataclass
class BuildOutcome:
    success: bool
    seconds: float
    assets: int
    log_path: Path | None
    failures: list[str] = field(default_factory=list)
    result: object = None


DBT_STEPS = {"dbt_core_models": "dbt build (core models)", "dbt_model_readers": "dbt build (model readers)"}


def step_label(step_key: str) -> str:
    """``ml__emotion_model`` -> ``ml/emotion_model``; the dbt steps -> ``dbt build (core models)`` and
    ``dbt build (model readers)`` (``…, part n`` should Dagster ever cut one of them in several steps)."""
    for name, label in DBT_STEPS.items():
        if step_key == name:
            return label
        if step_key.startswith(name + "_") and step_key[len(name) + 1:].isdigit():
            return f"{label[:-1]}, part {int(step_key[len(name) + 1:])})"
    return step_key.replace("__", "/")


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class StepTimes:
    """Start times, durations of finished steps and failed steps of a run, read from its event log.

    ``update`` reads only the events written since its last call (the log's cursor): the progress
    lines poll every second, and re-reading the whole log each time grew with the run (7 s of CPU in
    a 3,000-conversation build, bench/profile_build.py).
    """

    def __init__(self, instance: DagsterInstance, run_id: str) -> None:
        self.instance, self.run_id, self.cursor = instance, run_id, None
        self.started: dict[str, float] = {}
        self.took: dict[str, float] = {}
        self.failed: set[str] = set()

    def update(self) -> "StepTimes":
        while True:
            page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, of_type=_STEP_EVENTS)
            for record in page.records:
                entry = record.event_log_entry
                key, kind = entry.step_key, entry.dagster_event.event_type
                if kind == DagsterEventType.STEP_START:
                    self.started[key] = entry.timestamp
                elif key in self.started:
                    self.took[key] = entry.timestamp - self.started[key]
                    if kind == DagsterEventType.STEP_FAILURE:
                        self.failed.add(key)
            self.cursor = page.cursor or self.cursor
            if not page.has_more:
                return self


def _step_times(instance: DagsterInstance, run_id: str) -> tuple[dict[str, float], dict[str, float], set[str]]:
    """Start times, durations of finished steps, and failed steps of a run, from its event log."""
    times = StepTimes(instance, run_id).update()
    return times.started, times.took, times.failed


def previous_durations(instance: DagsterInstance, stage: str, before: set[str]) -> dict[str, float]:
    """Step durations of the last successful build of this stage on this data folder (the ETA's basis)."""
    from dagster import DagsterRunStatus, RunsFilter

    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS], tags={STAGE_TAG: stage}), limit=5)
    for run in runs:
        if run.run_id in before:
            _, took, _ = _step_times(instance, run.run_id)
            if took:
                return took
    return {}


class ProgressPrinter(threading.Thread):
    """Polls the run's event log and prints a line each time a step ends, with elapsed time and ETA."""

    def __init__(self, instance: DagsterInstance, known_runs: set[str], stage: str, out: TextIO,
                 history: dict[str, float], poll_seconds: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.instance, self.known_runs, self.stage, self.out = instance, known_runs, stage, out
        self.history, self.poll_seconds = history, poll_seconds
        self.stop_event = threading.Event()
        self.started = time.time()
        self.printed: set[str] = set()
        self.times: StepTimes | None = None

    def _run_id(self) -> str | None:
        runs = self.instance.get_runs(limit=3)
        fresh = [r for r in runs if r.run_id not in self.known_runs]
        return fresh[0].run_id if fresh else None

    def _plan(self, run_id: str) -> list[str] | None:
        """The step keys the run will execute (None when its plan cannot be read)."""
        run = self.instance.get_run_by_id(run_id)
        snap = self.instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id) if run else None
        return [s.key for s in snap.steps] if snap else None

    def _eta(self, started: dict[str, float], took: dict[str, float], steps: list[str] | None) -> str:
        if not self.history:
            return "no estimate on a first build"
        if steps is None or any(k not in self.history for k in steps if k not in took):
            return "no estimate (new stages since the last build)"
        now = time.time()
        left = sum(max(0.0, self.history[k] - (now - started[k] if k in started else 0.0))
                   for k in steps if k not in took)
        return f"about {_clock(left)} left"

    def report(self, run_id: str, steps: list[str] | None, total: int | None) -> None:
        if self.times is None or self.times.run_id != run_id:
            self.times = StepTimes(self.instance, run_id)
        times = self.times.update()
        started, took, failed = times.started, times.took, times.failed
        for key in sorted(took, key=lambda k: started[k] + took[k]):
            if key in self.printed:
                continue
            self.printed.add(key)
            state = "FAILED" if key in failed else "done"
            count = f"{len(self.printed)}/{total}" if total else f"{len(self.printed)}"
            print(f"[{_clock(time.time() - self.started):>6}] {self.stage:<6} {count:>7}  {step_label(key):<32} "
                  f"{state} in {took[key]:.0f} s · {self._eta(started, took, steps)}", file=self.out, flush=True)

    def run(self) -> None:
        run_id = steps = total = None
        while not self.stop_event.is_set():
            try:
                if run_id is None:
                    run_id = self._run_id()
                    if run_id:
                        steps = self._plan(run_id)
                        total = len(steps) if steps else None
                if run_id:
                    self.report(run_id, steps, total)
            except Exception:  # progress is a courtesy: never let it break the build
                pass
            self.stop_event.wait(self.poll_seconds)
        if run_id:
            with contextlib.suppress(Exception):
                self.report(run_id, steps, total)


def log_file(data_dir: Path, stage: str) -> Path:
    folder = data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"build-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{stage}.log"


def run_build(instance: DagsterInstance, assets: list, resources: dict, tags: dict[str, str], stage: str,
              data_dir: Path, selection: AssetSelection | None = None, verbose: bool = False,
              out: TextIO | None = None) -> BuildOutcome:
    """Materialize ``assets`` (or ``selection`` of them); quiet unless ``verbose``, with progress lines."""
    out = out or sys.stdout
    known = {r.run_id for r in instance.get_runs()}
    history = previous_durations(instance, stage, known)
    tags = {**tags, STAGE_TAG: stage}
    started = time.perf_counter()
    path = None
    if not verbose:
        try:
            path = log_file(data_dir, stage)
        except OSError:  # no room for a log: print everything rather than fail the build for it
            path = None
    if path is None:
        result = materialize(assets, resources=resources, instance=instance, raise_on_error=False,
                             selection=selection, tags=tags)
    else:
        print(f"{stage} build: progress below, full log in {path}", file=out, flush=True)
        progress = ProgressPrinter(instance, known, stage, out, history)
        progress.start()
        try:
            with path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                result = materialize(assets, resources=resources, instance=instance, raise_on_error=False,
                                     selection=selection, tags=tags)
        finally:
            progress.stop_event.set()
            progress.join(timeout=10)
    failures = [e.message for e in result.all_events if e.is_failure] if not result.success else []
    assets_done = {e.asset_key for e in result.get_asset_materialization_events()}
    return BuildOutcome(result.success, time.perf_counter() - started, len(assets_done), path, failures, result)


def core_selection() -> AssetSelection:
    """Everything but the model groups: ingestion, every dbt model (model tables empty), the snapshot."""
    return AssetSelection.all() - AssetSelection.groups(*MODEL_GROUPS)


def models_selection() -> AssetSelection:
    """What a build still owes after its core stage: the models, everything downstream of them, the snapshot.

    Ingestion and the dbt models that read no model output were just built by the core stage from
    the same landing files; building them again would give the same tables.
    """
    return AssetSelection.groups(*MODEL_GROUPS).downstream()


def prepare_core_stage(settings) -> None:
    """Create the empty ``ml.*`` tables the dbt models read, so the core stage builds without any model."""
    from ml.embeddings import get_embedder
    from ml.schema import ensure_ml_tables
    from warehouse.db import writer

    dim = get_embedder(settings.embedding_model, settings.device).dim
    with writer(settings.warehouse_path) as conn:
        ensure_ml_tables(conn, dim)
