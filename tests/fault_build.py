"""One small warehouse built the hard way: hostile landing files, two SIGKILLed runs, then a good run.

The good run is ``service-insight rotate-pii-key``, which puts a new key in place and runs the same
materialization to the end: the recovery after the kills and a key rotation on a warehouse left
half-built are proven by one build instead of two (a second full rebuild cost the suite a minute and
a half).

Shared by tests/test_faults.py (kills, re-runs) and tests/test_hostile_input.py (bad input end to
end): building it takes a few minutes, so both read the same build. A sample is generated, the
hostile corpus (tests/hostile_corpus.py) is added to its landing folder, and the real console
script (``service-insight materialize``, as a scheduled run would start it) is killed twice at two
different points (during enrichment, then during the dbt build of the marts) and run to the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from service_insight.settings import PROJECT_ROOT
from tests.conftest import point_settings_at
from tests.hostile_corpus import HostileCorpus, write_hostile_corpus

SCALE, DAYS = 300, 14
# Lines in the run's log after which the process is killed (each run goes further than the last).
KILL_POINTS = ('Started execution of step "ml__emotion_model"', 'Started execution of step "dbt_model_readers"')


def materialize_env(data_dir: Path, **extra: str) -> dict:
    env = {**os.environ, **extra, "SI_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home"),
           "HF_HUB_OFFLINE": "1", "SI_TRANSLATION_MAX_SECONDS": "5",
           # These builds test kills and hostile files, not model quality (the session build trains every
           # candidate): the text models compare only the TF-IDF candidate, which loads no encoder.
           "SI_TEXT_CANDIDATES": "char_tfidf"}
    # SI_PII_KEY too: the data folder's own key file, as after `make run` (not whichever key this process last exported).
    for name in ("SI_LANDING_DIR", "SI_WAREHOUSE_PATH", "SI_SNAPSHOT_DIR", "SI_GROUND_TRUTH_DIR", "SI_MODEL_DIR",
                 "SI_HOLIDAY_COUNTRY", "SI_TIMEZONE",
                 "SI_PII_KEY"):
        env.pop(name, None)
    return env


def write_sample(data_dir: Path, scale: int, days: int, seed: int) -> dict:
    """The generator's sample in ``data_dir``, without pointing this process's settings at it."""
    from sample_data.core import GeneratorConfig
    from sample_data.writer import generate, write_sample_settings

    write_sample_settings(data_dir)
    return generate(GeneratorConfig(conversations=scale, days=days, seed=seed), data_dir / "landing",
                    data_dir / "ground_truth", progress=False)


def run_materialize(data_dir: Path, kill_after: str | None, timeout: float = 1500, args: tuple[str, ...] = (),
                    env: dict[str, str] | None = None, command: str = "materialize") -> tuple[int, bool, str]:
    """Run ``service-insight materialize`` (or ``command``, which materializes too); with ``kill_after``, SIGKILL
    it one second after that log line.

    Returns (exit code, whether it was killed, the run's output)."""
    verbose = ("--verbose",) if command == "materialize" else ()  # the kill points are lines of the full log
    proc = subprocess.Popen([sys.executable, "-m", "service_insight.cli", command, "--no-docs", *verbose, *args],
                            cwd=PROJECT_ROOT, env=materialize_env(data_dir, **(env or {})), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    killed = threading.Event()
    output: list[str] = []

    def watch() -> None:
        for line in proc.stdout:
            output.append(line)
            if kill_after and kill_after in line and not killed.is_set():
                time.sleep(1.0)
                killed.set()
                os.killpg(proc.pid, signal.SIGKILL)

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    reader.join(timeout=10)
    return code, killed.is_set(), "".join(output)


def _snapshot_is_whole(data_dir: Path) -> bool:
    """No pointer yet, or the pointer names a file holding every table it lists with those row counts."""
    pointer = data_dir / "snapshots" / "CURRENT.json"
    if not pointer.exists():
        return True
    ref = json.loads(pointer.read_text())
    with duckdb.connect(str(data_dir / "snapshots" / ref["file"]), read_only=True) as conn:
        return all(conn.execute(f'select count(*) from {t.split(".")[0]}."{t.split(".")[1]}"').fetchone()[0] == n
                   for t, n in ref["tables"].items())


@dataclass
class FaultedBuild:
    data_dir: Path
    summary: dict  # what the generator wrote
    corpus: HostileCorpus  # what the hostile files must produce
    runs: list[tuple[str | None, int, bool, bool]]  # (kill point, exit code, killed, snapshot whole after)
    last_output: str
    key_before_rotation: str | None = None  # the PII key the killed runs used (None: a prebuilt folder)

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse" / "warehouse.duckdb"


def build_faulted(data_dir: Path) -> FaultedBuild:
    """Sample + hostile corpus, two killed runs, one good run; touches nothing outside ``data_dir``."""
    (data_dir / "dagster_home").mkdir(parents=True, exist_ok=True)
    summary = write_sample(data_dir, SCALE, DAYS, seed=11)
    corpus = write_hostile_corpus(data_dir / "landing", _last_day(data_dir))
    runs = []
    for point in KILL_POINTS:
        code, killed, _ = run_materialize(data_dir, point)
        runs.append((point, code, killed, _snapshot_is_whole(data_dir)))
    secret = data_dir / "secrets" / "pii.key"
    key_before = secret.read_text().strip() if secret.exists() else None
    code, killed, output = run_materialize(data_dir, None, command="rotate-pii-key")
    runs.append((None, code, killed, _snapshot_is_whole(data_dir)))
    return FaultedBuild(data_dir, summary, corpus, runs, output, key_before)


@pytest.fixture(scope="session")
def faulted_build(tmp_path_factory) -> FaultedBuild:
    prebuilt = os.environ.get("SI_TEST_FAULTED_PREBUILT")  # dev loop: a folder an earlier run of this fixture left
    if prebuilt:
        data_dir = Path(prebuilt)
        summary = json.loads((data_dir / "ground_truth" / "summary.json").read_text())
        corpus = write_hostile_corpus(data_dir / "landing", _last_day(data_dir))  # same bytes as before
        point_settings_at(data_dir)
        return FaultedBuild(data_dir, summary, corpus, [], "")
    build = build_faulted(tmp_path_factory.mktemp("faults"))
    point_settings_at(build.data_dir)
    return build


def _last_day(data_dir: Path) -> str:
    from warehouse.ingest import file_day

    return max(file_day(p) for p in (data_dir / "landing" / "conversations").glob("*.jsonl")).isoformat()
