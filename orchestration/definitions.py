"""The one Definitions object of Service Insight (``dagster dev -m orchestration.definitions``)."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster import Definitions, in_process_executor
from dagster_dbt import DbtCliResource

from orchestration.assets.enrichment import enrichment_assets
from orchestration.assets.translation import translation_assets
from orchestration.assets.ingestion import raw_assets
from orchestration.assets.publishing import warehouse_snapshot
from orchestration.assets.transformations import DBT_ASSETS
from orchestration.automation import daily_build_schedule, full_build_job, landing_files_sensor
from orchestration.dbt_project import dbt_project, parse_for_this_environment
from orchestration.resources import WarehouseResource
from service_insight.settings import get_settings

ALL_ASSETS = [*raw_assets, *DBT_ASSETS, *enrichment_assets, *translation_assets, warehouse_snapshot]


def _dbt_executable() -> str:
    """The dbt installed next to this Python (the venv may not be on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def build_resources() -> dict:
    """Resources from the current settings (tests set SI_DATA_DIR first, then call this)."""
    get_settings().export_env()  # dbt reads SI_WAREHOUSE_PATH from the environment
    parse_for_this_environment()
    return {
        "warehouse": WarehouseResource.from_settings(),
        "dbt": DbtCliResource(project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir),
                              dbt_executable=_dbt_executable()),
    }


defs = Definitions(
    assets=ALL_ASSETS,
    resources=build_resources(),
    jobs=[full_build_job],
    schedules=[daily_build_schedule],
    sensors=[landing_files_sensor],
    # DuckDB has one writer: steps run one after another in the run's process.
    executor=in_process_executor,
)
