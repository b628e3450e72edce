"""A first build publishes the core marts before any model has run, says so, and shows progress, not logs.

The core stage is what `make run` serves first on a new data folder: ingestion and every dbt model,
over empty model tables, published as a snapshot marked as waiting for the models.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from unittest import mock

import duckdb
import pytest

from service_insight.settings import PROJECT_ROOT
from tests.conftest import point_settings_at
from tests.fault_build import materialize_env, write_sample

pytestmark = pytest.mark.slow


def build_core(data_dir):
    """A new sample's core stage in a child process; touches nothing outside ``data_dir``."""
    summary = write_sample(data_dir, scale=300, days=14, seed=5)
    done = subprocess.run([sys.executable, "-m", "service_insight.cli", "materialize", "--core-only", "--no-docs"],
                          cwd=PROJECT_ROOT, env=materialize_env(data_dir), capture_output=True, text=True,
                          timeout=1200)
    return data_dir, summary, done


@pytest.fixture(scope="module")
def core_build(tmp_path_factory):
    return build_core(tmp_path_factory.mktemp("first_run"))


def test_the_core_stage_publishes_every_core_mart_and_marks_the_models_as_pending(core_build):
    from warehouse.snapshot import current

    data_dir, summary, done = core_build
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    ref = current(data_dir / "snapshots")
    assert ref is not None and ref.pending == ("enrichment",)
    with duckdb.connect(str(ref.path), read_only=True) as c:
        contacts = c.execute("select sum(contacts) from marts.fct_kpi_daily").fetchone()[0]
        conversations = c.execute("select count(*) from marts.fct_conversations").fetchone()[0]
        forecast = c.execute("select count(*) from marts.fct_volume_forecast").fetchone()[0]
        intents = c.execute("select count(*) filter (where intent_source <> 'review' or predicted_intent is not null), "
                            "count(*) filter (where intent_source = 'review') "
                            "from marts.fct_conversation_intents").fetchone()
    assert contacts == conversations == summary["conversations"]
    assert forecast > 0  # the forecasts need no model of ours
    # No intent model has run yet: no reading is invented; only what two reviewers agreed on is there.
    assert intents[0] == 0 and intents[1] > 0
    with duckdb.connect(str(data_dir / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        ml = dict(c.execute("select table_name, estimated_size from duckdb_tables() where schema_name = 'ml'")
                  .fetchall())
    assert {"intent_predictions", "turn_emotions", "turn_acts", "contact_embeddings", "turn_translations"} <= set(ml)


def test_the_console_shows_one_line_per_stage_and_keeps_the_full_log_in_a_file(core_build):
    data_dir, _, done = core_build
    out = done.stdout
    assert "DEBUG" not in out and "STEP_START" not in out
    lines = re.findall(r"^\[\s*\d+:\d\d\] core\s+(\d+)/(\d+)\s+(\S.*?)\s+done in \d+ s · (.*)$", out, re.M)
    assert lines and lines[-1][0] == lines[-1][1]  # the last line is the last step
    steps = [step for _, _, step, _ in lines]
    assert "raw/turns" in steps and "dbt build (core models)" in steps and "warehouse_snapshot" in steps
    assert not any(step.startswith("ml/") for step in steps)
    assert all(eta == "no estimate on a first build" for *_, eta in lines)
    assert re.search(r"core marts published \(the models follow\): \d+ assets in \d+ s", out)
    logs = list((data_dir / "logs").glob("build-*-core.log"))
    assert len(logs) == 1 and "STEP_SUCCESS" in logs[0].read_text()


def test_the_overview_opens_on_the_core_snapshot_and_says_the_models_are_coming(core_build):
    from streamlit.testing.v1 import AppTest

    data_dir, _, _ = core_build
    with mock.patch.dict(os.environ):  # later tests keep the session build's settings
        point_settings_at(data_dir)
        at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=120)
        at.run()
    assert not at.exception
    assert any("models" in i.value and "still running" in i.value for i in at.info)


def test_the_eta_comes_from_the_last_build_of_the_same_stage():
    from orchestration.console_build import ProgressPrinter, step_label

    printer = ProgressPrinter(None, set(), "full", sys.stdout, history={"a": 10.0, "b": 20.0, "c": 30.0})
    now = printer.started
    # a done, b running for 5 s of its usual 20, c not started: 15 + 30 left
    eta = printer._eta({"a": now - 20, "b": now - 5}, {"a": 9.0}, ["a", "b", "c"])
    assert eta in ("about 0:45 left", "about 0:44 left")
    assert printer._eta({}, {}, ["a", "new_step"]) == "no estimate (new stages since the last build)"
    assert ProgressPrinter(None, set(), "full", sys.stdout, history={})._eta({}, {}, ["a"]) == \
        "no estimate on a first build"
    assert step_label("dbt_core_models") == "dbt build (core models)"
    assert step_label("dbt_model_readers") == "dbt build (model readers)"
    assert step_label("dbt_model_readers_3") == "dbt build (model readers, part 3)"
    assert step_label("ml__turn_emotions") == "ml/turn_emotions"
