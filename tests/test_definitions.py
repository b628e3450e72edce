"""The Dagster definitions load, with lineage from landing to marts, and the automation works."""

from __future__ import annotations

import json
import os

from dagster import AssetKey, SensorResult, SkipReason, build_sensor_context


def test_definitions_load_with_lineage_from_raw_to_marts():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw/turns", "staging/stg_raw__turns", "marts/fct_kpi_daily", "warehouse_snapshot"} <= keys
    assert AssetKey(["raw", "turns"]) in graph.get(AssetKey(["staging", "stg_raw__turns"])).parent_keys
    assert AssetKey(["marts", "fct_kpi_daily"]) in graph.get(AssetKey("warehouse_snapshot")).parent_keys
    assert defs.resolve_job_def("full_build")
    assert defs.resolve_schedule_def("daily_build")


def test_sensor_requests_a_run_only_when_landing_files_change(tmp_path):
    from orchestration.automation import landing_files_sensor
    from tests.conftest import point_settings_at

    point_settings_at(tmp_path)
    landing = tmp_path / "landing" / "turns"
    landing.mkdir(parents=True)
    (landing / "a.csv").write_text("conversation_id,turn_index,speaker,ts,text\n")
    first = landing_files_sensor(build_sensor_context(cursor=None))
    assert not isinstance(first, SkipReason)
    cursor = json.dumps(json.loads(json.dumps(_cursor_of(tmp_path))))
    again = landing_files_sensor(build_sensor_context(cursor=cursor))
    assert isinstance(again, SkipReason)
    (landing / "b.csv").write_text("conversation_id,turn_index,speaker,ts,text\n")
    os.utime(landing / "b.csv", ns=(10**19, 10**19))
    third = landing_files_sensor(build_sensor_context(cursor=cursor))
    assert not isinstance(third, SkipReason)


def _cursor_of(data_dir):
    from orchestration.automation import landing_fingerprint

    return list(landing_fingerprint(data_dir / "landing"))


def test_abcd_export_comes_in_through_the_same_validation(tmp_path):
    import duckdb
    import pytest

    from service_insight.settings import PROJECT_ROOT
    from warehouse.importers.abcd import import_abcd
    from warehouse.ingest import load_source
    from warehouse.sources import SOURCE_BY_NAME

    sample = PROJECT_ROOT.parent / "shared" / "data" / "abcd_sample" / "abcd_sample.json"
    if not sample.exists():
        pytest.skip(f"{sample} is absent (a user's clone has no shared/ data)")
    from datetime import datetime

    counts = import_abcd(sample, tmp_path / "landing", datetime(2026, 11, 1, 9))
    assert counts["conversations"] == 3
    with duckdb.connect(str(tmp_path / "w.duckdb")) as c:
        for name in ("conversations", "turns", "customers", "annotations"):
            report = load_source(c, SOURCE_BY_NAME[name], tmp_path / "landing")
            assert report.rows_quarantined == 0, name
        assert c.execute("select count(*) from raw.turns").fetchone()[0] == counts["turns"]
        assert c.execute("select count(distinct intent) from raw.annotations").fetchone()[0] >= 2
