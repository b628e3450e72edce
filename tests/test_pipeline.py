"""End to end: generated landing files -> Dagster ingestion -> dbt build -> published snapshot.

The marts are checked against what the generator wrote (its summary and ground truth), and a
second materialization must change nothing.
"""

from __future__ import annotations

import json
from collections import Counter

import duckdb
import pandas as pd
import pytest

from tests.conftest import materialize_all

pytestmark = pytest.mark.slow


def wh(built):
    return duckdb.connect(str(built.settings.warehouse_path), read_only=True)


def test_every_asset_materialized(use_built):
    keys = {e.asset_key.to_user_string() for e in use_built.result.get_asset_materialization_events()}
    assert {"raw/conversations", "raw/turns", "raw/calls", "raw/voice_features", "raw/surveys", "raw/orders",
            "raw/customers", "raw/agents", "warehouse_snapshot"} <= keys
    assert {"marts/fct_kpi_daily", "marts/fct_conversations", "marts/fct_turns", "marts/fct_calls",
            "marts/dim_customers", "marts/dim_agents"} <= keys


def test_kpi_volume_equals_what_was_generated(use_built):
    with wh(use_built) as c:
        kpi = c.execute("select kpi_date::varchar, channel, sum(contacts) from marts.fct_kpi_daily group by all").fetchall()
    generated = {(r["day"], r["channel"]): r["conversations"] for r in use_built.summary["conversations_by_day_channel"]}
    assert {(d, ch): n for d, ch, n in kpi} == generated
    assert sum(n for *_, n in kpi) == use_built.summary["conversations"]


def test_abandoned_transferred_and_surveys_match_the_generator(use_built):
    s = use_built.summary
    with wh(use_built) as c:
        abandoned, transferred, answers = c.execute("""
            select sum(abandoned_contacts), sum(transferred_contacts), sum(csat_responses)
            from marts.fct_kpi_daily""").fetchone()
        calls = c.execute("select count(*) from marts.fct_calls").fetchone()[0]
        turns = c.execute("select count(*) from marts.fct_turns").fetchone()[0]
    assert abandoned == s["abandoned_calls"]
    assert transferred == s["transferred"]
    assert answers == s["surveys"]
    assert calls == s["calls"]
    assert turns == s["turns"]


def test_first_contact_resolution_matches_an_independent_count(use_built):
    """Recount FCR straight from the landing files with pandas and compare with the mart."""
    landing = use_built.settings.landing_dir
    records = []
    for path in sorted((landing / "conversations").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # the deliberately broken lines
    conv = pd.DataFrame(records).dropna(subset=["conversation_id"]).drop_duplicates("conversation_id")
    conv = conv[conv["conversation_id"].str.startswith("CV0")]
    conv["started_at"] = pd.to_datetime(conv["started_at"])
    conv = conv.sort_values(["customer_id", "started_at", "conversation_id"])
    conv["next_at"] = conv.groupby("customer_id")["started_at"].shift(-1)
    repeat = conv["next_at"].notna() & (conv["next_at"] <= conv["started_at"] + pd.Timedelta(days=7))
    eligible = conv["started_at"] + pd.Timedelta(days=7) <= conv["started_at"].max()
    expected = int(((conv["disposition"] == "resolved") & ~repeat & eligible).sum())
    with wh(use_built) as c:
        fcr = c.execute("select sum(fcr_contacts) from marts.fct_kpi_daily").fetchone()[0]
    assert fcr == expected


def test_duplicated_exports_are_removed_in_staging(use_built):
    with wh(use_built) as c:
        raw_rows = c.execute("select count(*) from raw.conversations").fetchone()[0]
        staged = c.execute("select count(*) from staging.stg_raw__conversations").fetchone()[0]
    assert use_built.summary["duplicate_conversation_rows"] > 0
    assert raw_rows - staged == use_built.summary["duplicate_conversation_rows"]
    assert staged == use_built.summary["conversations"]


def test_quarantine_holds_exactly_the_injected_bad_rows_and_counts_reconcile(use_built):
    with wh(use_built) as c:
        quarantined = dict(c.execute("select source_name, count(*) from marts.fct_ingest_quarantine group by 1").fetchall())
        reconcile = c.execute("select sum(rows_in), sum(rows_loaded), sum(rows_quarantined), bool_and(counts_reconcile) "
                              "from marts.fct_ingest_files").fetchone()
    assert quarantined == use_built.summary["injected_bad_rows"]
    rows_in, loaded, bad, ok = reconcile
    assert rows_in == loaded + bad and ok


def distinct_cell_texts(path, schemas=("marts", "intermediate")) -> dict[str, set[str]]:
    """Every distinct value of every column of the tables in ``schemas``, as lower-cased text, per table.

    Float vectors (embeddings) are left out: a list of numbers cannot carry a name or a phone number, and
    printed they are most of the warehouse's bytes.
    """
    out: dict[str, set[str]] = {}
    with duckdb.connect(str(path), read_only=True) as c:
        columns = c.execute("select table_schema, table_name, column_name, data_type from information_schema.columns "
                            f"where table_schema in {tuple(schemas)!r} order by all").fetchall()
        for schema, table, column, data_type in columns:
            found = out.setdefault(f"{schema}.{table}", set())
            if data_type.startswith(("FLOAT[", "DOUBLE[")):
                continue
            found.update(r[0] for r in c.execute(f'select distinct lower(cast("{column}" as varchar)) '
                                                 f'from {schema}."{table}" where "{column}" is not null').fetchall())
    return out


def test_no_planted_pii_reaches_any_mart_or_the_snapshot(use_built):
    from warehouse.snapshot import current

    pii = pd.read_parquet(use_built.settings.ground_truth_dir / "truth_pii.parquet")
    values = set(pii["value"])
    customers = duckdb.sql(f"select full_name, phone, email, id_card, bank_card from read_csv("
                           f"'{use_built.settings.landing_dir}/customers/*.csv', all_varchar=true)").fetchall()
    values |= {v for row in customers for v in row if v}
    values = {v.lower() for v in values}  # "john smith" in lower-cased chat too
    ref = current(use_built.settings.snapshot_dir)
    for path in (use_built.settings.warehouse_path, ref.path):
        tables = distinct_cell_texts(path)
        assert tables
        # One pass over all distinct texts; the tables are named only when something leaks.
        blob = "\n".join(set().union(*tables.values()))
        leaked = [v for v in values if v in blob]
        where = {t: [v for v in leaked if any(v in text for text in texts)][:3] for t, texts in tables.items()}
        assert not leaked, {t: v for t, v in where.items() if v}


def test_snapshot_holds_only_marts(use_built):
    from warehouse.snapshot import current

    ref = current(use_built.settings.snapshot_dir)
    assert ref.path.stat().st_mode & 0o222 == 0  # no write bit on a published snapshot
    with duckdb.connect(str(ref.path), read_only=True) as c:
        schemas = {r[0] for r in c.execute("select distinct table_schema from information_schema.tables").fetchall()}
        assert schemas == {"marts", "main"}
        assert c.execute("select count(*) from marts.fct_kpi_daily").fetchone()[0] > 0


def test_rematerializing_changes_nothing(rebuilt):
    """The no-op rebuild (run once for this and for test_concurrency): no table grows, no model retrains."""
    assert rebuilt.returncode == 0, rebuilt.output[-3000:]
    before, after = Counter(rebuilt.counts_before), Counter(rebuilt.counts_after)
    raw_meta = {key: m for key, m in rebuilt.metadata.items() if key.startswith("raw/")}
    assert raw_meta.pop("raw/unrouted_files")["new_unrouted_files"].value == 0
    # The audit log is the one input that moves between builds by itself: earlier tests signed in on the
    # dashboards. Its three tables must grow by exactly the lines the rerun copied, everything else not at all.
    added = raw_meta.pop("raw/audit_events")["lines_added"].value
    for table in ("raw.audit_events", "staging.stg_raw__audit_events", "marts.fct_audit_events"):
        assert after.pop(table) - before.pop(table) == added, table
    assert after == before
    ml_meta = {key: m for key, m in rebuilt.metadata.items() if key.startswith("ml/")}
    assert ml_meta["ml/intent_model"]["status"].value == "reused"  # same labels: no retraining
    assert ml_meta["ml/intent_predictions"]["scored"].value == 0  # nothing new to score
    for model in ("ml/emotion_model", "ml/quality_act_model", "ml/translation_model"):
        assert ml_meta[model]["status"].value.startswith("reused"), (model, ml_meta[model]["status"].value)
    for readings, count in (("ml/turn_emotions", "scored"), ("ml/turn_acts", "scored"), ("ml/kb_passages", "embedded"),
                            ("ml/contact_embeddings", "embedded"), ("ml/solution_checks", "checked"),
                            ("ml/turn_translations", "turns")):
        assert ml_meta[readings][count].value == 0, (readings, ml_meta[readings])
    assert raw_meta and all(m["rows_in"].value == 0 for m in raw_meta.values())


def test_new_landing_files_load_incrementally(use_built, tmp_path):
    """A new day arrives: only its file loads, and the marts grow by exactly its contacts.

    Run on a copy of the session build, so the build other tests read needs no second run to undo it.
    """
    import json as _json
    import shutil

    from service_insight.settings import get_settings
    from tests.conftest import point_settings_at

    copy = tmp_path / "build"
    shutil.copytree(use_built.data_dir, copy, symlinks=True)
    point_settings_at(copy)
    settings = get_settings()
    header = {"conversation_id": "CVNEWDAY01", "channel": "email", "started_at": "2026-11-01 09:00:00",
              "ended_at": "2026-11-01 12:00:00", "customer_id": "C0000001", "agent_id": "A00001",
              "queue_id": "Q_general", "final_queue_id": "Q_general", "disposition": "resolved",
              "transfer_count": 0, "handle_seconds": 300}
    path = settings.landing_dir / "conversations" / "conversations_2026-11-01_extra.jsonl"
    path.write_text(_json.dumps(header) + "\n")
    try:
        result = materialize_all()
        meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
        assert meta["raw/conversations"]["rows_loaded"].value == 1
        assert meta["raw/turns"]["rows_in"].value == 0
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as c:
            total = c.execute("select sum(contacts) from marts.fct_kpi_daily").fetchone()[0]
        assert total == use_built.summary["conversations"] + 1
    finally:
        point_settings_at(use_built.data_dir)


def test_dbt_docs_generate_builds_the_catalogue(use_built):
    from service_insight.cli import main

    assert main(["docs"]) == 0
    catalog = use_built.settings.dbt_work_dir / "docs" / "catalog.json"  # the data folder's, not the checkout's
    assert catalog.exists()
    import json as _json

    nodes = _json.loads(catalog.read_text())["nodes"]
    assert "model.service_insight.fct_kpi_daily" in nodes


def test_intent_predictions_reach_the_marts_and_escalation_is_calibrated(use_built):
    truth = pd.read_parquet(use_built.settings.ground_truth_dir / "truth_conversations.parquet")
    with wh(use_built) as c:
        intents = c.execute("select * from marts.fct_conversation_intents").df()
        runs = c.execute("select accuracy, train_examples, is_current, (config ->> 'escalate_below')::double "
                         "as threshold from ml.ml_model_runs where task = 'intent'").df()
    handled = truth[~truth["abandoned"]]
    assert set(intents["conversation_id"]) == set(handled["conversation_id"])  # every conversation with text
    assert runs["is_current"].sum() == 1 and runs["train_examples"].iloc[0] > 200
    merged = intents.merge(truth, on="conversation_id")
    right = merged["predicted_intent"] == merged["intent"]
    assert right.mean() >= 0.35  # 30 intents: chance is 0.03
    # Escalation follows the calibrated threshold; where some contacts pass it, they are the better ones.
    assert (merged["needs_escalation"] == (merged["confidence"] < runs["threshold"].iloc[0])).all()
    confident = ~merged["needs_escalation"]
    if confident.any():
        assert right[confident].mean() > right[~confident].mean()


def test_ml_tables_and_their_dbt_sources_match_column_by_column(use_built):
    """Every ml.* table the build wrote is declared in _ml__sources.yml with the same columns, and vice versa."""
    from tests.test_definitions import _dbt_source_tables

    declared = {name: [c["name"] for c in t.get("columns", [])] for name, t in _dbt_source_tables("_ml__sources.yml").items()}
    with wh(use_built) as c:
        rows = c.execute("select table_name, column_name from information_schema.columns where table_schema = 'ml' "
                         "and table_name in (select table_name from information_schema.tables where table_schema = 'ml' "
                         "and table_type = 'BASE TABLE') order by table_name, ordinal_position").fetchall()
    built: dict[str, list[str]] = {}
    for table, column in rows:
        built.setdefault(table, []).append(column)
    assert set(declared) == set(built), f"declared only: {sorted(set(declared) - set(built))}, " \
                                        f"written only: {sorted(set(built) - set(declared))}"
    for table, columns in declared.items():
        assert set(columns) == set(built[table]), (table, sorted(set(columns) ^ set(built[table])))


def test_a_full_build_publishes_a_snapshot_with_nothing_pending(use_built):
    from warehouse.snapshot import current

    ref = current(use_built.settings.snapshot_dir)
    assert ref is not None and ref.pending == ()  # only a core stage marks readings as still to come
