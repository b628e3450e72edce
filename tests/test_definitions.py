"""The Dagster definitions load, with lineage from landing to marts, and the automation works."""

from __future__ import annotations

import json
import os

import pytest
from dagster import AssetKey, SensorResult, SkipReason, build_sensor_context


def test_definitions_load_with_lineage_from_raw_to_marts():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw/turns", "staging/stg_raw__turns", "marts/fct_kpi_daily", "warehouse_snapshot"} <= keys
    assert AssetKey(["raw", "turns"]) in graph.get(AssetKey(["staging", "stg_raw__turns"])).parent_keys
    assert AssetKey(["marts", "fct_kpi_daily"]) in graph.get(AssetKey("warehouse_snapshot")).parent_keys
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"ingestion", "staging", "intermediate", "marts", "enrichment", "publishing"} <= groups
    # dbt -> model -> dbt: the intent mart reads what the enrichment assets wrote.
    assert AssetKey(["ml", "intent_predictions"]) in graph.get(AssetKey(["marts", "fct_conversation_intents"])).parent_keys
    # Each text task reads its labels and its inputs from dbt views (ml/tasks.py), which read staging.
    training = AssetKey(["intermediate", "int_ml__intent_training"])
    assert training in graph.get(AssetKey(["ml", "intent_model"])).parent_keys
    assert AssetKey(["intermediate", "int_annotations__agreed_intents"]) in graph.get(training).parent_keys
    assert AssetKey(["intermediate", "int_ml__first_customer_messages"]) in graph.get(training).parent_keys
    assert AssetKey(["staging", "stg_raw__turns"]) in graph.get(
        AssetKey(["intermediate", "int_ml__first_customer_messages"])).parent_keys
    from ml.tasks import TEXT_TASKS

    for task in TEXT_TASKS:  # both assets of every row of the task table
        assert AssetKey(["ml", f"{task.name}_model"]) in graph.get(AssetKey(["ml", task.scoring_key])).parent_keys
        assert AssetKey(["intermediate", task.inputs]) in graph.get(AssetKey(["ml", task.scoring_key])).parent_keys
    assert defs.resolve_job_def("full_build")
    assert defs.resolve_schedule_def("daily_build")


def test_sensor_requests_a_run_over_the_days_of_new_files_only(tmp_path):
    from orchestration.automation import landing_files_sensor
    from orchestration.partitions import RANGE_END_TAG, RANGE_START_TAG
    from tests.conftest import point_settings_at

    point_settings_at(tmp_path)
    landing = tmp_path / "landing" / "turns"
    landing.mkdir(parents=True)
    (landing / "turns_2026-03-02.csv").write_text("conversation_id,turn_index,speaker,ts,text\n")
    (landing / "turns_2026-03-05.csv").write_text("conversation_id,turn_index,speaker,ts,text\n")
    context = build_sensor_context(cursor=None)
    first = landing_files_sensor(context)
    assert (first.tags[RANGE_START_TAG], first.tags[RANGE_END_TAG]) == ("2026-03-02", "2026-03-05")
    again = landing_files_sensor(build_sensor_context(cursor=context.cursor))
    assert isinstance(again, SkipReason)
    late = landing / "turns_2026-04-01.csv"
    late.write_text("conversation_id,turn_index,speaker,ts,text\n")
    os.utime(late, ns=(10**19, 10**19))
    third = landing_files_sensor(build_sensor_context(cursor=context.cursor))
    assert (third.tags[RANGE_START_TAG], third.tags[RANGE_END_TAG]) == ("2026-04-01", "2026-04-01")


def test_label_files_and_undated_exports_do_not_stretch_a_builds_days(tmp_path):
    """A review file written today labels contacts of any day: it loads with every build but does not make the
    build mark every day since the partitions begin (one Dagster event per day and source). An export with no
    date in its name loads with any range, so on its own it asks for the latest day only."""
    from orchestration.partitions import RANGE_END_TAG, RANGE_START_TAG, day_filter, full_range, landing_range_tags
    from dagster import PartitionKeyRange
    from tests.conftest import point_settings_at

    point_settings_at(tmp_path)
    landing = tmp_path / "landing"
    for folder, name in (("turns", "turns_2026-03-02.csv"), ("annotations", "2026-12-07-review-ann.jsonl"),
                         ("turn_labels", "2026-12-07-review-ann.jsonl"), ("customers", "crm_2026-12-07.csv")):
        (landing / folder).mkdir(parents=True, exist_ok=True)
        (landing / folder / name).write_text("x\n")
    tags = landing_range_tags(landing)
    assert (tags[RANGE_START_TAG], tags[RANGE_END_TAG]) == ("2026-03-02", "2026-03-02")
    (landing / "turns" / "turns_2026-03-02.csv").unlink()
    (landing / "turns" / "zendesk_9258df18f1.csv").write_text("x\n")
    tags = landing_range_tags(landing)
    latest = full_range().end
    assert (tags[RANGE_START_TAG], tags[RANGE_END_TAG]) == (latest, latest)
    assert day_filter(PartitionKeyRange(latest, latest))(None)  # the undated export still loads


def test_a_rebuild_covers_the_days_of_files_not_loaded_yet(tmp_path):
    """Three years of loaded history must not be re-marked day by day at every build: the range comes from the
    files the loader has not read (new, or changed since: another size or modification time)."""
    import os

    import duckdb

    from orchestration.partitions import RANGE_END_TAG, RANGE_START_TAG, landing_range_tags
    from tests.conftest import point_settings_at
    from warehouse.ingest import load_source
    from warehouse.sources import SOURCE_BY_NAME

    point_settings_at(tmp_path)
    turns, warehouse = tmp_path / "landing" / "turns", tmp_path / "w.duckdb"
    turns.mkdir(parents=True)
    for day in ("2024-03-01", "2025-06-01"):
        (turns / f"turns_{day}.csv").write_text(f"conversation_id,turn_index,speaker,ts,text\nC{day},0,agent,{day} 10:00:00,hi\n")
    span = lambda: (lambda t: (t[RANGE_START_TAG], t[RANGE_END_TAG]))(landing_range_tags(tmp_path / "landing", warehouse))
    assert span() == ("2024-03-01", "2025-06-01")  # no warehouse yet: every file
    with duckdb.connect(str(warehouse)) as c:
        load_source(c, SOURCE_BY_NAME["turns"], tmp_path / "landing")
    (turns / "turns_2025-07-01.csv").write_text("conversation_id,turn_index,speaker,ts,text\n")
    assert span() == ("2025-07-01", "2025-07-01")  # only the new day
    old = turns / "turns_2024-03-01.csv"
    os.utime(old, ns=(old.stat().st_atime_ns, old.stat().st_mtime_ns + 10**9))  # touched since it was loaded
    assert span() == ("2024-03-01", "2025-07-01")


def test_a_day_partition_loads_only_that_days_files(tmp_path):
    import csv

    import duckdb
    from dagster import DagsterInstance, materialize

    from orchestration.assets.ingestion import raw_assets
    from orchestration.resources import WarehouseResource
    from tests.conftest import point_settings_at

    point_settings_at(tmp_path)
    landing = tmp_path / "landing" / "turns"
    landing.mkdir(parents=True)
    for day, older in (("2026-03-02", "2023-06-01"), ("2026-03-03", None)):
        for name in filter(None, (day, older)):
            with (landing / f"turns_{name}.csv").open("w", newline="") as fh:
                csv.writer(fh).writerows([["conversation_id", "turn_index", "speaker", "ts", "text"],
                                          [f"CV{name}", 0, "agent", f"{day} 10:00:00", "hello"]])
    turns_asset = next(a for a in raw_assets if a.key == AssetKey(["raw", "turns"]))
    resources = {"warehouse": WarehouseResource.from_settings()}
    result = materialize([turns_asset], resources=resources, instance=DagsterInstance.ephemeral(),
                         partition_key="2026-03-03")
    assert result.success
    with duckdb.connect(str(tmp_path / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        assert c.execute("select list(conversation_id order by 1) from raw.turns").fetchone()[0] == ["CV2026-03-03"]
    # The first partition also takes files dated before the partitions begin, so nothing is left out.
    result = materialize([turns_asset], resources=resources, instance=DagsterInstance.ephemeral(),
                         partition_key="2024-01-01")
    with duckdb.connect(str(tmp_path / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        assert c.execute("select count(*) from raw.turns").fetchone()[0] == 2


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


def test_every_setting_lives_in_one_place_and_is_documented():
    """Settings are read in service_insight.settings only: the Dagster resource copies none, and the README lists each."""
    import dataclasses
    import inspect
    import re

    from orchestration.resources import WarehouseResource
    from service_insight import settings
    from service_insight.settings import PROJECT_ROOT, Settings, get_settings

    assert not WarehouseResource.model_fields, "configure the resource through service_insight.settings"
    built_from_env = inspect.getsource(get_settings)
    for field in dataclasses.fields(Settings):
        assert re.search(rf"\b{field.name}=", built_from_env), f"Settings.{field.name} is not read from the environment"
    readme = set(re.findall(r"SI_[A-Z_0-9]+", (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")))
    read = set(re.findall(r"\"(SI_[A-Z_0-9]+)\"", inspect.getsource(settings)))
    assert read and not read - readme, f"settings missing from the README's table: {sorted(read - readme)}"
    resource = WarehouseResource()
    assert resource.settings == get_settings() and resource.base_for("intent") == get_settings().intent_base


def _dbt_source_tables(file_name: str) -> dict[str, dict]:
    import yaml

    from service_insight.settings import DBT_PROJECT_DIR

    doc = yaml.safe_load((DBT_PROJECT_DIR / "models" / "staging" / "raw" / file_name).read_text(encoding="utf-8"))
    return {t["name"]: t for source in doc["sources"] for t in source["tables"]}


def _tests_of(column: dict) -> set[str]:
    return {t if isinstance(t, str) else next(iter(t)) for t in column.get("data_tests", [])}


def test_the_dbt_sources_declare_the_landing_contract_column_by_column():
    """warehouse/sources.py is the contract; the dbt source YAML must say the same, required columns not_null."""
    from warehouse.ingest import _META_COLUMNS
    from warehouse.sources import SOURCES

    tables = _dbt_source_tables("_raw__sources.yml")
    for spec in SOURCES:
        assert spec.name in tables, f"raw.{spec.name} is in warehouse/sources.py but not in _raw__sources.yml"
        columns = {c["name"]: c for c in tables[spec.name].get("columns", [])}
        assert set(columns) - set(_META_COLUMNS) == set(spec.column_names), spec.name
        for column in spec.columns:
            if column.required:
                assert "not_null" in _tests_of(columns[column.name]), f"raw.{spec.name}.{column.name} is required"
    loader_tables = {"quarantine", "_load_manifest", "duplicate_keys", "audit_events"}  # written by the loaders
    assert set(tables) == {s.name for s in SOURCES} | loader_tables


def test_the_locale_comes_from_the_data_folder_or_the_environment_and_nothing_is_assumed(tmp_path, monkeypatch):
    """No configuration: UTC and no holidays, said in words; the data folder's settings.toml sets them;
    the environment wins over the file; the file cannot carry the data folder or the PII key."""
    from sample_data.writer import write_sample_settings
    from service_insight.settings import get_settings

    for name in ("SI_TIMEZONE", "SI_HOLIDAY_COUNTRY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SI_DATA_DIR", str(tmp_path))
    bare = get_settings()
    assert bare.timezone == "UTC" and bare.holiday_country == "" and bare.from_file == ()
    zone, holidays = bare.locale_lines()
    assert "UTC (nothing configured)" in zone and "Set `SI_TIMEZONE`" in zone
    assert holidays.startswith("**Holidays:** none (nothing configured)")

    (tmp_path / "settings.toml").write_text('SI_TIMEZONE = "Europe/Berlin"\nSI_HOLIDAY_COUNTRY = "de"\n')
    configured = get_settings()
    assert configured.timezone == "Europe/Berlin" and configured.holiday_country == "DE"
    assert configured.from_file == ("SI_HOLIDAY_COUNTRY", "SI_TIMEZONE")
    assert f"Europe/Berlin (from {tmp_path / 'settings.toml'})" in configured.locale_lines()[0]
    assert "for DE" in configured.locale_lines()[1]
    from unittest import mock

    with mock.patch.dict(os.environ):
        configured.export_env()  # as a build does for dbt: the exported copy still reads as the file's
        assert get_settings().origin("SI_HOLIDAY_COUNTRY") == f"from {tmp_path / 'settings.toml'}"

    monkeypatch.setenv("SI_TIMEZONE", "America/New_York")
    overridden = get_settings()
    assert overridden.timezone == "America/New_York" and overridden.origin("SI_TIMEZONE") == "from the environment"
    assert write_sample_settings(tmp_path) is None  # the user's file is never replaced
    assert "Europe/Berlin" in (tmp_path / "settings.toml").read_text()

    for bad in ('SI_PII_KEY = "x"\n', 'SI_DATA_DIR = "/elsewhere"\n', "TIMEZONE = 'UTC'\n", "SI_TIMEZONE = \n"):
        (tmp_path / "settings.toml").write_text(bad)
        with pytest.raises(ValueError, match="settings.toml"):
            get_settings()
    (tmp_path / "settings.toml").unlink()
    monkeypatch.delenv("SI_TIMEZONE")
    assert write_sample_settings(tmp_path) == tmp_path / "settings.toml"
    sample = get_settings()
    assert (sample.timezone, sample.holiday_country) == ("Asia/Shanghai", "CN")
