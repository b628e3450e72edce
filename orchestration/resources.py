"""Dagster resources: the warehouse, read from the one settings object."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import duckdb
from dagster import ConfigurableResource

from service_insight.settings import Settings, get_settings
from warehouse.db import writer


class WarehouseResource(ConfigurableResource):
    """The warehouse as assets see it: a writer connection and the settings.

    Why no configuration fields of its own: every knob lives in ``service_insight.settings``
    (environment variables with working defaults). A copy of them here drifted from the original
    and made one new setting four edits. The settings are read when an asset asks, so ``SI_*``
    variables set before a run (a test's data folder, a deployment's model path) apply to it.
    """

    @property
    def settings(self) -> Settings:
        return get_settings()

    def base_for(self, task: str) -> str:
        """The checkpoint a user pointed a task at ("" = the task's own default)."""
        return getattr(self.settings, f"{task}_base", "") or ""

    @classmethod
    def from_settings(cls) -> "WarehouseResource":
        return cls()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writer connection held only for the duration of one asset."""
        with writer(self.settings.warehouse_path) as conn:
            yield conn
