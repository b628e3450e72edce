"""Bad input end to end: hostile landing files go through the real (twice-killed) run.

For every file of tests/hostile_corpus.py: the run completes, every bad row is in the quarantine
with its file, line and reason, the rest loads, counts reconcile; the good hostile records reach
the marts intact (times converted, duplicates collapsed, text byte for byte); every dashboard
page renders, shows injection strings only as text and shows none of the PII planted in them;
the dbt docs hold none of them; loading the same files again changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from service_insight.settings import PROJECT_ROOT
from tests.app_pages import open_page
from tests.fault_build import materialize_env, run_materialize
from tests.hostile_corpus import (
    HOSTILE_CITY, HOSTILE_CUSTOMER, HTML_INJECTION, JINJA_INJECTION, MARKDOWN_INJECTION, PAYLOADS, SQL_INJECTION, UNICODE_TEXT,
)
from tests.page_text import find_leaks, page_texts
from tests.test_dashboards import PAGES

pytestmark = [pytest.mark.slow, pytest.mark.faults]

# Element kinds whose text the browser renders as Markdown (tables and option lists are plain text).
MARKDOWN_KINDS = {"markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader",
                  "heading", "metric", "expander", "toast", "chat_message"}


def wh(build):
    return duckdb.connect(str(build.warehouse), read_only=True)


@pytest.fixture
def use_faulted(faulted_build):
    """Point the settings (and so the dashboards) at the hostile build: other tests move them."""
    from tests.conftest import point_settings_at

    point_settings_at(faulted_build.data_dir)
    return faulted_build


def test_the_run_completed(faulted_build):
    if not faulted_build.runs:
        pytest.skip("a prebuilt folder (SI_TEST_FAULTED_PREBUILT) has no run history")
    assert faulted_build.runs[-1][1] == 0, faulted_build.last_output[-3000:]


def test_every_hostile_file_is_accounted_for_and_counts_reconcile(faulted_build):
    with wh(faulted_build) as c:
        files = {r[0]: r[1:] for r in c.execute(
            "select source_file, rows_in, rows_loaded, rows_quarantined, counts_reconcile from marts.fct_ingest_files"
        ).fetchall()}
    for rel, e in faulted_build.corpus.files.items():
        if rel.endswith("_empty.csv") or "header_only" in rel:
            assert files[rel][:3] == (0, 0, 0), rel
            continue
        assert files[rel] == (e.rows_in, e.loaded, e.quarantined, True), rel


def test_every_bad_row_is_quarantined_with_file_line_and_reason(faulted_build):
    with wh(faulted_build) as c:
        rows = c.execute("select source_file, line, reason from marts.fct_ingest_quarantine").fetchall()
    by_file: dict[str, dict] = {}
    for rel, line, reason in rows:
        by_file.setdefault(rel, {})[line] = reason
    for rel, e in faulted_build.corpus.files.items():
        got = by_file.get(rel, {})
        assert set(got) == set(e.reasons), (rel, got)
        for line, part in e.reasons.items():
            assert part in got[line], (rel, line, got[line])
    for rel in faulted_build.corpus.unrouted:
        assert "is not a known source" in by_file[rel][None]


def test_good_hostile_records_reach_the_marts_intact(faulted_build):
    corpus = faulted_build.corpus
    with wh(faulted_build) as c:
        started = dict(c.execute("select conversation_id, strftime(started_at, '%Y-%m-%d %H:%M:%S') "
                                 "from marts.fct_conversations where conversation_id like 'HX-%'").fetchall())
        dup = c.execute("select count(*), any_value(disposition) from marts.fct_conversations "
                        "where conversation_id = 'HX-DUP'").fetchone()
        turns = c.execute("select conversation_id, turn_index, text from marts.fct_turns "
                          "where conversation_id like 'HX-%'").fetchall()
        customer = c.execute("select city, language from marts.dim_customers where customer_id = ?",
                             [HOSTILE_CUSTOMER]).fetchone()
    assert started == corpus.conversations  # ISO, UTC 'Z', slashes, RFC 2822: all in local time
    assert dup == (1, "transferred")  # the later record of a duplicated id wins
    assert {(cid, i) for cid, i, _ in turns} == corpus.turn_keys
    texts = "\n".join(t for *_, t in turns)
    for payload in (SQL_INJECTION, HTML_INJECTION, MARKDOWN_INJECTION, JINJA_INJECTION, UNICODE_TEXT):
        assert payload in texts, payload  # stored and returned as data, byte for byte
    assert max(len(t) for *_, t in turns) == 90_000
    assert customer == (HOSTILE_CITY, "ar")


def test_injection_strings_changed_no_table(faulted_build):
    from warehouse.sources import SOURCES

    with wh(faulted_build) as c:
        raw = {r[0] for r in c.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()}
        turns = c.execute("select count(*) from raw.turns").fetchone()[0]
    # none dropped, none added (audit_events is the copy of the dashboards' audit log, not a landing source)
    assert raw == {s.name for s in SOURCES} | {"quarantine", "_load_manifest", "audit_events"}
    assert turns == faulted_build.summary["turns"] + len(faulted_build.corpus.turn_keys)


def _planted_pii(build) -> set[str]:
    pii = pd.read_parquet(build.data_dir / "ground_truth" / "truth_pii.parquet")
    return set(pii["value"]) | set(build.corpus.planted_pii)


def _unescaped_markup(at: AppTest) -> list[str]:
    """Markdown-rendered text holding a hostile string in a form the browser would interpret."""
    bad = []
    for kind, text in page_texts(at):
        rendered = re.sub(r"`[^`]*`", "", text)  # a code span shows its content literally
        if kind in MARKDOWN_KINDS and ("](https://tracker.invalid" in rendered or ":red[ALERT]" in rendered):
            bad.append(f"{kind}: {text[:200]}")
        if kind == "plotly_chart" and ("<script>" in text or "<img src=x" in text or "\\u003cscript" in text):
            bad.append(f"{kind}: chart label holds markup")
    return bad


def test_every_page_renders_shows_hostile_text_as_text_and_leaks_no_pii(use_faulted):
    pii = _planted_pii(use_faulted)
    problems = {}
    for page in PAGES:
        at = open_page(page, timeout=120)
        if page.endswith("data_quality.py"):  # the page really shows this build's hostile files
            assert find_leaks(at, {"conversations_", "_hostile.jsonl"}) == ["_hostile.jsonl", "conversations_"]
        issues = [f"exception: {e.value}" for e in at.exception]
        issues += _unescaped_markup(at)
        leaks = find_leaks(at, pii)
        if leaks:
            issues.append(f"PII on the page: {leaks[:3]}")
        if issues:
            problems[page] = issues
    assert not problems, problems


def test_live_answer_treats_a_hostile_message_as_text(use_faulted):
    at = open_page("dashboards/pages/answer.py", timeout=120)
    message = f"{MARKDOWN_INJECTION} {HTML_INJECTION} 我的包裹在哪里 where is my parcel"
    at.text_area[0].set_value(message)
    next(b for b in at.button if b.label == "Answer").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not _unescaped_markup(at)
    assert any(m.label == "Intent" for m in at.metric)


def test_knowledge_graph_search_for_a_hostile_name_is_text(use_faulted):
    at = open_page("dashboards/pages/knowledge_graph.py", timeout=120)
    at.text_input(key="kg_search").set_value("tracker.invalid").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="kg_pick").options[0].startswith(HOSTILE_CITY)  # the hostile node is the centre...
    assert at.get("plotly_chart")  # ...drawn as a graph
    assert "tracker\\.invalid" in "".join(c.value for c in at.caption)  # ...and named, escaped
    assert not _unescaped_markup(at)


def test_dbt_docs_hold_no_injected_string(faulted_build, tmp_path):
    """The catalogue shows names, types and descriptions: a column named like markup (the ignored
    extra survey column) or a payload in a file or folder name must not become one of them."""
    env = {**materialize_env(faulted_build.data_dir), "DBT_TARGET_PATH": str(tmp_path / "target")}
    done = subprocess.run([sys.executable, "-m", "service_insight.cli", "docs"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    catalog = (tmp_path / "target" / "catalog.json").read_text()
    manifest = (tmp_path / "target" / "manifest.json").read_text()
    assert json.loads(catalog)["nodes"]  # the docs were really generated from the warehouse
    for payload in PAYLOADS + ("tracker.invalid", "alert('si')", "onerror"):
        assert payload not in catalog and payload not in manifest, payload


def test_loading_the_same_files_again_changes_nothing(faulted_build):
    def counts():
        with wh(faulted_build) as c:
            tables = c.execute("select table_schema, table_name from information_schema.tables "
                               "where table_schema = 'raw'").fetchall()
            return Counter({f"{s}.{t}": c.execute(f'select count(*) from {s}."{t}"').fetchone()[0]
                            for s, t in tables})

    before = counts()
    # A re-delivered copy under another name is recognised by content, too.
    landing = faulted_build.data_dir / "landing"
    original = sorted((landing / "turns").glob("turns_*_hostile.csv"))[0]
    copy = original.with_name("turns_redelivered_copy.csv")
    shutil.copy(original, copy)
    try:
        code, _, output = run_materialize(faulted_build.data_dir, None, args=("--only", "ingestion"))
    finally:
        copy.unlink()
    assert code == 0, output[-3000:]
    assert counts() == before
    assert re.search(r"turns: 0 new file\(s\), \d+ unchanged; 0 rows in = 0 loaded \+ 0 quarantined", output)
    assert os.path.exists(faulted_build.warehouse)
