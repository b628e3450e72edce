"""Faults: a materialization killed with SIGKILL mid-run, then re-run, leaves the warehouse as one good run would.

A small sample is built by the real console script in a subprocess (as a scheduled run would be).
It is killed twice, at two different points (during enrichment, then during the dbt build of the
marts), and then run to the end by ``service-insight rotate-pii-key`` (a new key, then the same
materialization). Checked afterwards: every count reconciles with what the
generator wrote, no key is duplicated anywhere, each model task has exactly one current version,
and the published snapshot is complete; between the kills a reader only ever sees a complete
snapshot (or none), never a half-built one.
"""

from __future__ import annotations

import json
import signal

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.faults]


def _history(build) -> list:
    if not build.runs:
        pytest.skip("a prebuilt folder (SI_TEST_FAULTED_PREBUILT) has no run history")
    return build.runs


def test_the_kills_happened_and_the_last_run_succeeded(faulted_build):
    runs = _history(faulted_build)
    assert [killed for _, _, killed, _ in runs[:-1]] == [True, True], runs
    assert all(code == -signal.SIGKILL for _, code, _, _ in runs[:-1]), runs
    assert runs[-1][1] == 0, runs


def test_readers_only_ever_saw_a_whole_snapshot(faulted_build):
    runs = _history(faulted_build)
    assert all(whole for *_, whole in runs), runs


def test_counts_reconcile_with_what_was_generated(faulted_build):
    summary, corpus = faulted_build.summary, faulted_build.corpus
    with duckdb.connect(str(faulted_build.warehouse), read_only=True) as c:
        contacts = c.execute("select sum(contacts) from marts.fct_kpi_daily").fetchone()[0]
        turns = c.execute("select count(*) from marts.fct_turns").fetchone()[0]
        calls = c.execute("select count(*) from marts.fct_calls").fetchone()[0]
        quarantined = dict(c.execute("select source_name, count(*) from marts.fct_ingest_quarantine group by 1")
                           .fetchall())
        rows_in, loaded, bad, ok = c.execute("""select sum(rows_in), sum(rows_loaded), sum(rows_quarantined),
                                                       bool_and(counts_reconcile) from marts.fct_ingest_files""").fetchone()
    # The generator's data plus the hostile corpus's good records; its bad ones are all quarantined.
    assert contacts == summary["conversations"] + len(corpus.conversations)
    assert turns == summary["turns"] + len(corpus.turn_keys) and calls == summary["calls"]
    expected_bad = dict(summary["injected_bad_rows"])
    for source, n in {**corpus.quarantined_by_source(), "_unrouted": len(corpus.unrouted)}.items():
        expected_bad[source] = expected_bad.get(source, 0) + n
    assert quarantined == expected_bad
    assert rows_in == loaded + bad and ok


def test_no_key_is_duplicated_and_each_task_has_one_current_model(faulted_build):
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
    with duckdb.connect(str(faulted_build.warehouse), read_only=True) as c:
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


def test_the_configured_candidates_are_the_only_ones_compared(faulted_build):
    """SI_TEXT_CANDIDATES=char_tfidf (set for these builds) reaches every text model the build trains."""
    with duckdb.connect(str(faulted_build.warehouse), read_only=True) as c:
        runs = c.execute("""select task, chosen_candidate, candidates from ml.ml_model_runs
                            where chosen_candidate is not null""").fetchall()
    assert runs
    for task, chosen, candidates in runs:
        assert chosen == "char_tfidf" and set(json.loads(candidates)) == {"char_tfidf"}, (task, chosen, candidates)


def test_rotating_the_pii_key_rekeys_every_caller_key(faulted_build):
    """``service-insight rotate-pii-key`` (the build's last run, after the kills): a new key, every caller key
    rebuilt with it, the old key gone. The key lives in the data folder's secret file, as after `make run`."""
    import hashlib
    import re

    from warehouse.snapshot import current

    runs = _history(faulted_build)
    assert runs[-1][1] == 0 and "PII key rotated" in faulted_build.last_output, faulted_build.last_output[-3000:]
    secret = faulted_build.data_dir / "secrets" / "pii.key"
    key = secret.read_text().strip()
    assert faulted_build.key_before_rotation and key != faulted_build.key_before_rotation
    assert len(key) == 64 and not secret.with_name("pii.key.previous").exists()

    def expected(number: str) -> str:
        return hashlib.sha256((key + re.sub(r"[^0-9+]", "", number)).encode()).hexdigest()

    with duckdb.connect(str(faulted_build.warehouse), read_only=True) as c:
        numbers = dict(c.execute("""select call_id, list(distinct caller_number) from raw.calls
                                    where nullif(trim(caller_number), '') is not null group by call_id""").fetchall())
    assert numbers
    with duckdb.connect(str(current(faulted_build.data_dir / "snapshots").path), read_only=True) as c:
        published = dict(c.execute("select call_id, caller_key from marts.fct_calls "
                                   "where caller_key is not null").fetchall())
    assert published and all(published[call] in {expected(n) for n in numbers[call]} for call in published)
