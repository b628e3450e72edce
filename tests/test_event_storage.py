"""The faster event log writes what Dagster's own SQLite storage reads, and the data folder selects it."""

from __future__ import annotations

from dagster import AssetCheckResult, DagsterInstance, asset, asset_check, materialize
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from orchestration.event_storage import KEPT_ENGINES, ReusingSqliteEventLogStorage


@asset
def contacts() -> int:
    return 3


@asset
def contacts_per_agent(contacts: int) -> float:
    return contacts / 2


@asset_check(asset=contacts)
def contacts_are_positive(contacts: int) -> AssetCheckResult:
    return AssetCheckResult(passed=contacts > 0)


def _home(tmp_path, monkeypatch):
    from service_insight import cli

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return cli._dagster_home()


def test_the_data_folders_instance_uses_it_and_dagsters_own_storage_reads_every_event(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch)
    assert "ReusingSqliteEventLogStorage" in (home / "dagster.yaml").read_text()
    instance = DagsterInstance.from_config(str(home))
    assert isinstance(instance.event_log_storage, ReusingSqliteEventLogStorage)
    for _ in range(KEPT_ENGINES + 2):
        assert materialize([contacts, contacts_per_agent, contacts_are_positive], instance=instance).success
    assert len(instance.event_log_storage._engines) <= KEPT_ENGINES + 1  # the runs' files and the index
    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    runs = instance.get_runs()
    assert len(runs) == KEPT_ENGINES + 2
    for run in runs:
        written = instance.all_logs(run.run_id)
        assert len(stock.get_logs_for_run(run.run_id)) == len(written) > 10
    # The cross-run index (asset history, check results) is the same one the UI reads.
    from dagster import AssetKey

    assert stock.get_latest_materialization_events([AssetKey("contacts_per_agent")])[AssetKey("contacts_per_agent")]
    checks = stock.get_asset_check_execution_history(contacts_are_positive.check_key, limit=100)
    assert len(checks) == KEPT_ENGINES + 2
    instance.dispose()


def test_a_dagster_yaml_the_user_wrote_is_left_alone(tmp_path, monkeypatch):
    own = tmp_path / "dagster_home"
    own.mkdir()
    text = "telemetry:\n  enabled: false\n"
    (own / "dagster.yaml").write_text(text)
    assert (_home(tmp_path, monkeypatch) / "dagster.yaml").read_text() == text


def test_a_data_folder_from_before_gets_it_once(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    earlier = ("# One run at a time: DuckDB has one writer.\nconcurrency:\n  runs:\n    max_concurrent_runs: 1\n"
               "telemetry:\n  enabled: false\n")
    (home / "dagster.yaml").write_text(earlier)
    _home(tmp_path, monkeypatch)
    _home(tmp_path, monkeypatch)
    text = (home / "dagster.yaml").read_text()
    assert text.startswith(earlier) and text.count("event_log_storage:") == 1
    assert isinstance(DagsterInstance.from_config(str(home)).event_log_storage, ReusingSqliteEventLogStorage)
