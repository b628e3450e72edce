"""Faults: a materialization killed with SIGKILL mid-run, then re-run, leaves the warehouse as one good run would.

A small sample is built by the real console script in a subprocess (as a scheduled run would be).
It is killed twice, at two different points (during enrichment, then during the dbt build of the
marts), and then run to the end. Checked afterwards: every count reconciles with what the
generator wrote, no key is duplicated anywhere, each model task has exactly one current version,
and the published snapshot is complete; between the kills a reader only ever sees a complete
snapshot (or none), never a half-built one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from service_insight.settings import PROJECT_ROOT
from tests.conftest import generate_sample, point_settings_at

pytestmark = [pytest.mark.slow, pytest.mark.faults]

SCALE, DAYS = 300, 14
# Lines in the run's log after which the process is killed (each run goes further than the last).
KILL_POINTS = ('Started execution of step "ml__emotion_model"', 'Started execution of step "service_insight_dbt_assets_5"')


def _env(data_dir: Path) -> dict:
    env = {**os.environ, "SI_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home"),
           "HF_HUB_OFFLINE": "1", "SI_TRANSLATION_MAX_SECONDS": "5"}
    for name in ("SI_LANDING_DIR", "SI_WAREHOUSE_PATH", "SI_SNAPSHOT_DIR", "SI_GROUND_TRUTH_DIR", "SI_MODEL_DIR"):
        env.pop(name, None)
    return env


def _materialize(data_dir: Path, kill_after: str | None, timeout: float = 1500) -> tuple[int, bool]:
    """Run ``service-insight materialize``; with ``kill_after``, SIGKILL it one second after that log line.

    Returns (exit code, whether it was killed)."""
    proc = subprocess.Popen([sys.executable, "-m", "service_insight.cli", "materialize", "--no-docs"],
                            cwd=PROJECT_ROOT, env=_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    killed = threading.Event()

    def watch() -> None:
        for line in proc.stdout:
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
    return code, killed.is_set()


def _snapshot_is_whole(data_dir: Path) -> bool:
    """No pointer yet, or the pointer names a file holding every table it lists with those row counts."""
    pointer = data_dir / "snapshots" / "CURRENT.json"
    if not pointer.exists():
        return True
    ref = json.loads(pointer.read_text())
    with duckdb.connect(str(data_dir / "snapshots" / ref["file"]), read_only=True) as conn:
        return all(conn.execute(f'select count(*) from {t.split(".")[0]}."{t.split(".")[1]}"').fetchone()[0] == n
                   for t, n in ref["tables"].items())


@pytest.fixture(scope="module")
def killed_and_rerun(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("faults")
    (data_dir / "dagster_home").mkdir()
    summary = generate_sample(data_dir, scale=SCALE, days=DAYS, seed=11)
    runs = []
    for point in KILL_POINTS:
        code, killed = _materialize(data_dir, point)
        runs.append((point, code, killed, _snapshot_is_whole(data_dir)))
    code, killed = _materialize(data_dir, None)
    runs.append((None, code, killed, _snapshot_is_whole(data_dir)))
    point_settings_at(data_dir)
    return data_dir, summary, runs


def test_the_kills_happened_and_the_last_run_succeeded(killed_and_rerun):
    _, _, runs = killed_and_rerun
    assert [killed for _, _, killed, _ in runs[:-1]] == [True, True], runs
    assert all(code == -signal.SIGKILL for _, code, _, _ in runs[:-1]), runs
    assert runs[-1][1] == 0, runs


def test_readers_only_ever_saw_a_whole_snapshot(killed_and_rerun):
    _, _, runs = killed_and_rerun
    assert all(whole for *_, whole in runs), runs


def test_counts_reconcile_with_what_was_generated(killed_and_rerun):
    data_dir, summary, _ = killed_and_rerun
    with duckdb.connect(str(data_dir / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        contacts = c.execute("select sum(contacts) from marts.fct_kpi_daily").fetchone()[0]
        turns = c.execute("select count(*) from marts.fct_turns").fetchone()[0]
        calls = c.execute("select count(*) from marts.fct_calls").fetchone()[0]
        quarantined = dict(c.execute("select source_name, count(*) from marts.fct_ingest_quarantine group by 1")
                           .fetchall())
        rows_in, loaded, bad, ok = c.execute("""select sum(rows_in), sum(rows_loaded), sum(rows_quarantined),
                                                       bool_and(counts_reconcile) from marts.fct_ingest_files""").fetchone()
    assert contacts == summary["conversations"]
    assert turns == summary["turns"] and calls == summary["calls"]
    assert quarantined == summary["injected_bad_rows"]
    assert rows_in == loaded + bad and ok


def test_no_key_is_duplicated_and_each_task_has_one_current_model(killed_and_rerun):
    data_dir, _, _ = killed_and_rerun
    keys = {
        "raw._load_manifest": "source, source_file, file_sha256",
        "marts.fct_conversations": "conversation_id",
        "marts.fct_turns": "conversation_id, turn_index",
        "marts.fct_conversation_intents": "conversation_id",
        "marts.fct_turn_readings": "conversation_id, turn_index",
        "marts.fct_tickets": "conversation_id",
        "ml.intent_predictions": "conversation_id, model_version",
        "ml.turn_emotions": "conversation_id, turn_index, model_version",
    }
    with duckdb.connect(str(data_dir / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        for table, key in keys.items():
            dupes = c.execute(f"select count(*) from (select {key} from {table} group by all having count(*) > 1)")
            assert dupes.fetchone()[0] == 0, table
        current = dict(c.execute("select task, count(*) from ml.ml_model_runs where is_current group by task")
                       .fetchall())
        scored = c.execute("""select count(distinct p.conversation_id) from ml.intent_predictions as p
                              join ml.ml_model_runs as r on r.model_version = p.model_version and r.is_current
                              """).fetchone()[0]
        first_messages = c.execute("""select count(distinct conversation_id) from staging.stg_raw__turns
                                      where speaker = 'customer'""").fetchone()[0]
        assert scored == first_messages  # every conversation read by the current model
    assert current and set(current.values()) == {1}, current
