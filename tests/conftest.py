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
# The sample build trains its translation model for this long (the product default is 120 s).
os.environ.setdefault("SI_TRANSLATION_MAX_SECONDS", "30")

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
    for name in ("SI_LANDING_DIR", "SI_WAREHOUSE_PATH", "SI_SNAPSHOT_DIR", "SI_GROUND_TRUTH_DIR", "SI_MODEL_DIR"):
        os.environ.pop(name, None)
    os.environ["DAGSTER_HOME"] = str(data_dir / "dagster_home")
    (data_dir / "dagster_home").mkdir(parents=True, exist_ok=True)


def generate_sample(data_dir: Path, scale: int = SMALL_SCALE, days: int = SMALL_DAYS, seed: int = 7) -> dict:
    from service_insight.settings import get_settings
    from sample_data.core import GeneratorConfig
    from sample_data.writer import generate

    point_settings_at(data_dir)
    s = get_settings()
    return generate(GeneratorConfig(conversations=scale, days=days, seed=seed), s.landing_dir, s.ground_truth_dir,
                    progress=False)


def materialize_all():
    from dagster import DagsterInstance, materialize

    from orchestration.definitions import ALL_ASSETS, build_resources
    from orchestration.partitions import landing_range_tags
    from service_insight.settings import get_settings

    return materialize(ALL_ASSETS, resources=build_resources(), instance=DagsterInstance.ephemeral(),
                       tags=landing_range_tags(get_settings().landing_dir))


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


# The hostile, twice-killed build shared by test_faults.py and test_hostile_input.py (built on first use).
from tests.fault_build import faulted_build  # noqa: E402,F401
