"""Shared fixtures: a small generated contact centre, built once per test session for real.

The build is the same one ``make materialize`` runs: generator -> Dagster ingestion assets ->
dbt build (via dagster-dbt) -> snapshot publish, on a temporary data folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("STREAMLIT_RUNNER_MAGIC_ENABLED", "false")  # as .streamlit/config.toml: no ast.parse per run
# The sample build trains its translation model for this long (the product default is 120 s). Neither 10 s nor
# 30 s brings a direction of the sample to a usable chrF, so the tests read the same "not usable" path either way.
os.environ.setdefault("SI_TRANSLATION_MAX_SECONDS", "10")
# Under pytest-xdist (make test) each worker gets its share of the cores: torch's OpenMP pool sized to every
# core in each worker spins against the other worker's.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

SMALL_SCALE = 2000
SMALL_DAYS = 45


@dataclass
class BuiltWarehouse:
    data_dir: Path
    settings: object
    summary: dict
    result: object


def point_settings_at(data_dir: Path) -> None:
    """Every component reads SI_* variables; a test only moves the data folder."""
    os.environ["SI_DATA_DIR"] = str(data_dir)
    for name in ("SI_LANDING_DIR", "SI_WAREHOUSE_PATH", "SI_SNAPSHOT_DIR", "SI_GROUND_TRUTH_DIR", "SI_MODEL_DIR",
                 "SI_HOLIDAY_COUNTRY", "SI_TIMEZONE"):
        os.environ.pop(name, None)
    os.environ["DAGSTER_HOME"] = str(data_dir / "dagster_home")
    (data_dir / "dagster_home").mkdir(parents=True, exist_ok=True)


def generate_sample(data_dir: Path, scale: int = SMALL_SCALE, days: int = SMALL_DAYS, seed: int = 7) -> dict:
    from service_insight.settings import get_settings
    from sample_data.core import GeneratorConfig
    from sample_data.writer import generate, write_sample_settings

    point_settings_at(data_dir)
    write_sample_settings(data_dir)
    s = get_settings()
    return generate(GeneratorConfig(conversations=scale, days=days, seed=seed), s.landing_dir, s.ground_truth_dir,
                    progress=False)


def materialize_all():
    from dagster import DagsterInstance, materialize

    from orchestration.definitions import ALL_ASSETS, build_resources
    from orchestration.partitions import landing_range_tags
    from service_insight.settings import get_settings

    return materialize(ALL_ASSETS, resources=build_resources(), instance=DagsterInstance.ephemeral(),
                       tags=landing_range_tags(get_settings().landing_dir, get_settings().warehouse_path))


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> BuiltWarehouse:
    prebuilt = os.environ.get("SI_TEST_PREBUILT")  # a folder an earlier build left: iterate on tests without rebuilding
    if prebuilt:
        from service_insight.settings import get_settings

        point_settings_at(Path(prebuilt))
        summary = json.loads((get_settings().ground_truth_dir / "summary.json").read_text())
        return BuiltWarehouse(Path(prebuilt), get_settings(), summary, None)
    data_dir = tmp_path_factory.mktemp("warehouse_build")
    summary = generate_sample(data_dir)
    result = materialize_all()
    assert result.success
    from service_insight.settings import get_settings

    summary = json.loads((get_settings().ground_truth_dir / "summary.json").read_text())
    return BuiltWarehouse(data_dir, get_settings(), summary, result)


@pytest.fixture
def use_built(built) -> BuiltWarehouse:
    """Re-point the settings at the session build (other tests may have moved them)."""
    point_settings_at(built.data_dir)
    return built


@pytest.fixture(scope="session")
def imported_build(tmp_path_factory):
    """Every importer's fixture built into one label-less data folder (test_importers.py, the Review page in
    Chromium): (data_dir, import reports, exit code, output)."""
    from tests.test_importers import build_imported

    prebuilt = os.environ.get("SI_TEST_IMPORTED_PREBUILT")  # dev loop: a folder an earlier run of this fixture left
    if prebuilt:
        return Path(prebuilt), {}, 0, ""
    return build_imported(tmp_path_factory.mktemp("imported"))


# The hostile, twice-killed build shared by test_faults.py and test_hostile_input.py (built on first use).
from tests.fault_build import faulted_build  # noqa: E402,F401


@dataclass
class Rebuild:
    """A second `service-insight materialize` of the session build, with nothing new landed, read while it ran."""
    returncode: int
    output: str
    reads: int
    errors: list
    versions_before: str
    version_after: str
    counts_before: dict
    counts_after: dict
    metadata: dict  # asset key -> materialization metadata of the rebuild's run


def table_counts(warehouse_path: Path) -> dict:
    import duckdb

    with duckdb.connect(str(warehouse_path), read_only=True) as c:
        tables = c.execute("select table_schema, table_name from information_schema.tables "
                           "where table_schema in ('raw', 'staging', 'marts')").fetchall()
        return {f"{s}.{t}": c.execute(f'select count(*) from {s}."{t}"').fetchone()[0] for s, t in tables}


@pytest.fixture(scope="session")
def rebuilt(built) -> Rebuild:
    """One no-op rebuild serves two questions: do readers of the snapshot ever block or see partial tables
    while a build writes (test_concurrency), and does rebuilding change nothing (test_pipeline)?

    The rebuild is the console script a schedule starts, in its own process; meanwhile this process reads
    the published snapshot in a loop, as the dashboards do.
    """
    import subprocess
    import sys
    import time

    from dagster import DagsterEventType, DagsterInstance

    from warehouse.snapshot import current, open_readonly

    point_settings_at(built.data_dir)
    settings = built.settings
    expected_total = built.summary["conversations"]
    first = current(settings.snapshot_dir)
    before = table_counts(settings.warehouse_path)
    log = built.data_dir / "concurrent_build.log"
    env = {**os.environ, "SI_DATA_DIR": str(built.data_dir)}
    build = subprocess.Popen([sys.executable, "-m", "service_insight.cli", "materialize", "--no-docs"], env=env,
                             stdout=log.open("w"), stderr=subprocess.STDOUT)
    reads, errors = 0, []
    try:
        while build.poll() is None:
            ref = current(settings.snapshot_dir)
            try:
                with open_readonly(ref) as conn:
                    total = conn.execute("select sum(contacts) from marts.fct_kpi_daily").fetchone()[0]
                    conversations = conn.execute("select count(*) from marts.fct_conversations").fetchone()[0]
                if total != expected_total or conversations != expected_total:
                    errors.append(f"partial data: {total} / {conversations}")
                reads += 1
            except Exception as exc:  # any lock or missing table is a failure of the design
                errors.append(repr(exc))
            time.sleep(0.05)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    instance = DagsterInstance.from_config(str(built.data_dir / "dagster_home"))
    run = instance.get_runs(limit=1)[0]
    metadata = {e.dagster_event.asset_key.to_user_string(): e.dagster_event.event_specific_data.materialization.metadata
                for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)}
    return Rebuild(build.returncode, log.read_text(), reads, errors, first.version,
                   current(settings.snapshot_dir).version, before, table_counts(settings.warehouse_path), metadata)



def _shared_fixture_keys(item) -> set:
    """The costly fixtures an item's closure holds: the project's own session- and module-scoped ones."""
    keys = set()
    for name, defs in item._fixtureinfo.name2fixturedefs.items():
        fixture = defs[-1]
        if fixture.scope not in ("session", "package", "module", "class"):
            continue
        if not getattr(fixture.func, "__module__", "").startswith("tests"):
            continue  # pytest's own (tmp_path_factory, ...) cost nothing to repeat
        keys.add((name, "" if fixture.scope == "session" else item.module.__name__))
    return keys


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into the test ids
def pytest_collection_modifyitems(config, items):
    """With ``-n 2 --dist loadgroup`` (make test), tests that share a costly fixture run on one worker.

    Why: a session build made in two workers would cost twice; so every test whose fixtures share a session- or
    module-scoped fixture with another test lands in one group (the connected tests, joined through the fixtures
    they share), and the rest are spread one by one. Without xdist the marks change nothing.
    """
    parent: dict = {}

    def find(key):
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    item_keys = [_shared_fixture_keys(item) for item in items]
    for keys in item_keys:
        first, *rest = sorted(keys) or [None]
        for key in rest:
            parent[find(key)] = find(first)
    members: dict = {}
    for key in {key for keys in item_keys for key in keys}:
        members.setdefault(find(key), []).append(key)
    # A group is named after its session fixtures (``built``, ``faulted_build``), else its module's first fixture.
    label = {root: min(keys, key=lambda k: (k[1] != "", k[1], k[0])) for root, keys in members.items()}
    for item, keys in zip(items, item_keys):
        if keys:
            name, module = label[find(next(iter(keys)))]
            # no "@" in the name: xdist appends "@group" to the test id and splits on the last "@"
            item.add_marker(pytest.mark.xdist_group(f"{module}.{name}" if module else name))
    if os.environ.get("SI_TEST_SHOW_GROUPS"):
        groups: dict = {}
        for item in items:
            mark = item.get_closest_marker("xdist_group")
            groups.setdefault(mark.args[0] if mark else "-", []).append(item.nodeid)
        for name, ids in sorted(groups.items(), key=lambda g: -len(g[1])):
            print(f"\n{name}: {len(ids)} tests: " + " ".join(sorted({i.split('::')[0] for i in ids})))
