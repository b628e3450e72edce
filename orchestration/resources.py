"""Dagster resources, configured once from the settings object."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
from dagster import ConfigurableResource

from service_insight.settings import get_settings
from warehouse.db import writer


class WarehouseResource(ConfigurableResource):
    """Where the DuckDB warehouse, the landing files and the snapshots live."""

    database: str
    landing_dir: str
    snapshot_dir: str
    max_field_chars: int = 100_000
    load_batch_files: int = 400
    snapshots_to_keep: int = 3
    timezone: str = "Asia/Shanghai"
    model_dir: str = "data/models"
    device: str = "auto"

    @classmethod
    def from_settings(cls) -> "WarehouseResource":
        s = get_settings()
        return cls(
            database=str(s.warehouse_path), landing_dir=str(s.landing_dir), snapshot_dir=str(s.snapshot_dir),
            max_field_chars=s.max_field_chars, load_batch_files=s.load_batch_files,
            snapshots_to_keep=s.snapshots_to_keep, timezone=s.timezone, model_dir=str(s.model_dir), device=s.device,
        )

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writer connection held only for the duration of one asset."""
        with writer(Path(self.database)) as conn:
            yield conn
